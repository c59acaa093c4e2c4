"""Models as records: files, manifests, the live model, promotions, rollback, pruning, errors and
the command line. Model files here are real gzip'd tars and the evaluations are built by the
registry's own `summarise` over a small test set written to disk; no Rasa model is loaded (the
trained-model tests in test_trained_models.py do that)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
import textwrap
from datetime import datetime, timedelta, timezone

import pytest

from antrean.cli import main
from antrean.console.audit import AuditLog
from antrean.model_registry import (
    ConcurrentChange,
    ModelFileProblem,
    ModelRegistry,
    ModelRegistryError,
    NothingToRollBack,
    PromotionRefused,
    TrainingRunning,
    UnknownModel,
    training_status,
)
from antrean.model_registry.evaluation import Prediction, StoryResult, summarise
from antrean.model_registry.inputs import TrainingInputs
from antrean.model_registry.testset import load_test_set
from antrean.model_registry.training import LOCK_NAME, training_lock
from antrean.runtime.db import REPO_ROOT, make_engine
from tests.conftest import MutableClock
from tests.model_registry.test_figures_gate_compare import STORY_FILE

REAL_TEST_SET = load_test_set()
STORIES_OK = [StoryResult("cancel a booking", STORY_FILE, True), StoryResult("greet", STORY_FILE, True)]
STORIES_WORSE = [StoryResult("cancel a booking", STORY_FILE, False, "message 'mau batal': expected intent "
                             "cancel_booking, predicted greet (0.90)"), StoryResult("greet", STORY_FILE, True)]


def evaluation(wrong: dict[str, str] | None = None, stories=STORIES_OK) -> dict:
    """An evaluation on the real test set: every message right, except the intents in `wrong`
    (expected → predicted)."""
    wrong = wrong or {}
    predictions = [Prediction(wrong.get(e.intent, e.intent), 0.9, tuple(x.key() for x in e.entities), 0.02)
                   for e in REAL_TEST_SET]
    return summarise(REAL_TEST_SET, predictions, stories, size_bytes=1_500_000, load_seconds=1.5)


WORSE = {"cancel_booking": "greet"}  # never recognised


def model_file(folder, content: str):
    """A gzip'd tar like Rasa's model archives (their content does not matter to the registry)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{abs(hash(content))}.tar.gz"
    data = content.encode()
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("metadata.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path


def inputs(fingerprint: str) -> dict:
    return {**REAL_INPUTS, "data_fingerprint": fingerprint * 8}


REAL_INPUTS = TrainingInputs().describe()


@pytest.fixture
def clock():
    return MutableClock(datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc))


def never_evaluate(path, examples, stories):
    raise AssertionError("the stored evaluations are current; nothing is evaluated again")


@pytest.fixture
def make_registry(tmp_path, clock):
    engines = []

    def build(url: str) -> ModelRegistry:
        engine = make_engine(url)
        engines.append(engine)
        return ModelRegistry(engine, tmp_path / "models", clock, story_files=[], evaluator=never_evaluate)

    yield build
    for engine in engines:
        engine.dispose()


@pytest.fixture
def registry(make_registry, sqlite_url):
    return make_registry(sqlite_url)


def keep(registry, tmp_path, clock, name: str, wrong=None, stories=STORIES_OK):
    clock.moment += timedelta(minutes=1)
    return registry.register(model_file(tmp_path / "files", name), by=f"test:{name}", inputs=inputs(name[:1]),
                             evaluation=evaluation(wrong, stories), training_seconds=12.5)


def test_a_kept_model_has_its_file_manifest_and_row(registry, tmp_path, clock):
    record = keep(registry, tmp_path, clock, "a")
    assert re.fullmatch(r"20261203T090100Z-aaaaaaaa", record.id)
    assert record.path == tmp_path / "models" / f"{record.id}.tar.gz" and record.present
    beside = json.loads((tmp_path / "models" / f"{record.id}.json").read_text())
    assert beside["sha256"] == record.sha256 and beside["evaluation"] == record.evaluation
    assert beside["trained_by"] == "test:a" and beside["training_seconds"] == 12.5
    described = beside["inputs"]
    assert described["rasa_version"] == "3.6.21" and len(described["config_sha256"]) == 64
    assert described["examples_per_intent"]["greet"]["total"] > 0
    assert "from_inbox" in described["examples_per_intent"]["greet"]
    assert described["git_revision"] is None or re.match(r"[0-9a-f]{40}", described["git_revision"])
    assert registry.get(record.id) == record and registry.all() == [record]
    assert registry.verify(record.id) == record


def test_a_model_trained_outside_is_kept_once(registry, tmp_path):
    source = model_file(tmp_path / "files", "make train")
    first, created = registry.register_file(source, by="make", evaluate=False)
    again, created_again = registry.register_file(source, by="make", evaluate=False)
    assert created and not created_again and again.id == first.id
    assert len(registry.all()) == 1 and source.exists()  # the original stays for make's own use
    assert first.manifest["inputs"]["data_fingerprint"] == REAL_INPUTS["data_fingerprint"]


def test_unknown_missing_and_corrupt_models_are_refused_clearly(registry, tmp_path, clock):
    with pytest.raises(UnknownModel, match="no model 'nope'"):
        registry.get("nope")
    record = keep(registry, tmp_path, clock, "a")
    data = bytearray(record.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    record.path.write_bytes(bytes(data))
    with pytest.raises(ModelFileProblem, match="is corrupt"):
        registry.promote(record.id, by="admin")
    record.path.unlink()
    with pytest.raises(ModelFileProblem, match="is missing"):
        registry.verify(record.id)
    not_a_tar = tmp_path / "files" / "plain.tar.gz"
    not_a_tar.write_bytes(b"not a model at all")
    odd = registry.register(not_a_tar, by="test", inputs=inputs("b"), evaluation=evaluation())
    with pytest.raises(ModelFileProblem, match="not a readable model archive"):
        registry.verify(odd.id)
    assert registry.live_model() is None


@pytest.mark.integration
def test_promotion_history_and_rollback(make_registry, database_url, tmp_path, clock):
    registry = make_registry(database_url)
    assert registry.live_model() is None
    with pytest.raises(NothingToRollBack, match="no model is live"):
        registry.rollback(by="admin")
    a, b, c = (keep(registry, tmp_path, clock, name) for name in ("a", "b", "c"))
    first = registry.promote(a.id, by="admin")
    assert (first.action, first.from_model, first.to_model) == ("promote", None, a.id)
    registry.promote(b.id, by="budi")
    registry.promote(c.id, by="budi")
    assert registry.live_model().id == c.id and registry.rollback_target() == b.id
    with pytest.raises(ModelRegistryError, match="already live"):
        registry.promote(c.id, by="budi")
    back = registry.rollback(by="admin")
    assert (back.action, back.from_model, back.to_model) == ("rollback", c.id, b.id)
    assert registry.live_model().id == b.id
    registry.rollback(by="admin")  # a second rollback goes one promotion further back, not to c
    assert registry.live_model().id == a.id
    with pytest.raises(NothingToRollBack, match="no model was live before"):
        registry.rollback(by="admin")
    history = registry.history()
    assert [(p.seq, p.action, p.to_model) for p in history] == [
        (1, "promote", a.id), (2, "promote", b.id), (3, "promote", c.id), (4, "rollback", b.id),
        (5, "rollback", a.id)]
    assert history[1].actor == "budi" and history[1].figures["passed"] is True
    audit = AuditLog(registry.engine, clock).recent()
    assert [e.action for e in audit].count("model.promoted") == 3
    rolled = [e for e in audit if e.action == "model.rolled_back"]
    assert len(rolled) == 2 and rolled[-1].detail["from_model"] == c.id and rolled[-1].target == b.id


@pytest.mark.integration
def test_a_worse_candidate_is_refused_with_every_reason_and_an_override_is_audited(make_registry, database_url,
                                                                                   tmp_path, clock):
    registry = make_registry(database_url)
    live = keep(registry, tmp_path, clock, "a")
    registry.promote(live.id, by="admin")
    worse = keep(registry, tmp_path, clock, "b", WORSE, STORIES_WORSE)
    with pytest.raises(PromotionRefused) as refused:
        registry.promote(worse.id, by="budi")
    codes = {reason.code for reason in refused.value.verdict.reasons}
    assert {"story_broken", "intent_macro_f1", "intent_f1"} <= codes
    assert "cancel_booking" in str(refused.value) and "cancel a booking" in str(refused.value)
    assert registry.live_model().id == live.id
    with pytest.raises(PromotionRefused):
        registry.promote(worse.id, by="admin", override_reason="   ")  # a reason must say something
    promotion = registry.promote(worse.id, by="admin", override_reason="pesan batal ditangani manusia minggu ini")
    assert promotion.action == "override" and promotion.override_reason.startswith("pesan batal")
    assert registry.live_model().id == worse.id
    assert promotion.figures["passed"] is False and promotion.figures["live"] == live.id
    [entry] = AuditLog(registry.engine, clock).recent(action="model.promotion_overridden")
    assert entry.actor == "admin" and entry.target == worse.id
    assert entry.detail["reason"] == "pesan batal ditangani manusia minggu ini"
    assert entry.detail["from_model"] == live.id and any("cancel_booking" in r for r in entry.detail["refused_for"])
    assert entry.detail["figures"]["intent_macro_f1"] < entry.detail["live_figures"]["intent_macro_f1"]


@pytest.mark.integration
def test_two_changes_made_from_the_same_live_model_cannot_both_win(make_registry, database_url, tmp_path, clock):
    registry = make_registry(database_url)
    a, b = keep(registry, tmp_path, clock, "a"), keep(registry, tmp_path, clock, "b")
    seen_by_both = registry.history()
    registry._append(seen_by_both, "one", "promote", None, a.id, None, {})
    with pytest.raises(ConcurrentChange, match="changed meanwhile"):
        registry._append(seen_by_both, "two", "promote", None, b.id, None, {})
    assert registry.live_model().id == a.id


def test_pruning_keeps_the_newest_the_live_model_and_the_rollback_target(registry, tmp_path, clock):
    a, b, c, d = (keep(registry, tmp_path, clock, name) for name in ("a", "b", "c", "d"))
    registry.promote(a.id, by="admin")
    registry.promote(b.id, by="admin")  # live b, rollback target a; c and d are newer
    pruned = registry.prune(keep=1, by="admin")
    assert pruned == [c.id]
    assert not c.path.exists() and not c.path.with_name(f"{c.id}.json").exists()
    assert all(r.path.exists() for r in (a, b, d))
    assert [r.id for r in registry.all()] == [d.id, b.id, a.id]
    assert registry.get(c.id).pruned_at is not None and len(registry.all(include_pruned=True)) == 4
    with pytest.raises(ModelFileProblem, match="was pruned"):
        registry.promote(c.id, by="admin")
    [entry] = AuditLog(registry.engine, clock).recent(action="model.pruned")
    assert entry.detail["models"] == [c.id]
    assert registry.prune(keep=5, by="admin") == []


def test_a_second_training_is_refused_while_one_runs_in_another_process(registry, tmp_path):
    models = registry.models_dir
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from antrean.model_registry.training import training_lock
            with training_lock(Path({str(models)!r}), "cli:siti"):
                print("locked", flush=True)
                sys.stdin.readline()
            """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        assert holder.stdout.readline().strip() == "locked"
        status = training_status(models)
        assert status.running and status.by == "cli:siti" and status.pid == holder.pid
        with pytest.raises(TrainingRunning, match=r"training already running since 20\d\d-.* \(by cli:siti"):
            registry.train(by="cli:budi", inputs=TrainingInputs())
    finally:
        holder.communicate("done\n", timeout=60)
    assert not training_status(models).running
    assert (models / LOCK_NAME).read_text() == ""
    with training_lock(models, "cli:budi"):  # free again once the holder is gone
        assert training_status(models).by == "cli:budi"


def test_a_training_lock_left_by_a_dead_process_does_not_block(registry):
    models = registry.models_dir
    models.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os
        from pathlib import Path
        from antrean.model_registry.training import training_lock
        with training_lock(Path({str(models)!r}), "cli:crash"):
            os._exit(9)  # dies holding it
        """)], cwd=REPO_ROOT, check=False)
    assert not training_status(models).running
    with training_lock(models, "cli:budi"):
        pass


@pytest.fixture
def cli_env(monkeypatch, sqlite_url, tmp_path):
    monkeypatch.setenv("ANTREAN_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ANTREAN_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("ANTREAN_SECRET_KEY", "k" * 40)
    return tmp_path


def test_the_command_line(cli_env, registry, tmp_path, clock, capsys):
    a = keep(registry, tmp_path, clock, "a")
    b = keep(registry, tmp_path, clock, "b", WORSE, STORIES_WORSE)
    assert main(["model", "list"]) == 0
    assert a.id in capsys.readouterr().out
    registry.promote(a.id, by="admin")

    assert main(["model", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(m["id"], m["live"]) for m in listed] == [(b.id, False), (a.id, True)]
    assert listed[1]["sha256"] == a.sha256 and listed[1]["figures"]["law_parse_rate"] == 1.0
    assert main(["model", "list"]) == 0
    assert f"* {a.id}" in capsys.readouterr().out

    assert main(["model", "evaluate", "nope"]) == 2
    assert "error: no model 'nope'" in capsys.readouterr().err
    # The stored evaluations are on the current test set: the comparison and the gate use them
    # as they are (no Rasa model is loaded here).
    results = tmp_path / "results"
    assert main(["model", "compare", "live", b.id, "--out", str(results)]) == 0
    out = capsys.readouterr().out
    assert f"# Model {b.id} compared with {a.id}" in out and (results / f"{a.id}-vs-{b.id}.md").exists()

    assert main(["model", "promote", b.id, "--by", "budi"]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "cancel_booking" in err and "--override" in err
    assert main(["model", "promote", b.id, "--by", "admin", "--override", "uji coba"]) == 0
    assert "despite the gate" in capsys.readouterr().out
    assert main(["model", "history", "--format", "json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [(p["action"], p["actor"]) for p in history] == [("promote", "admin"), ("override", "cli:admin")]
    assert main(["model", "rollback", "--by", "admin"]) == 0
    assert f"{a.id} is live again" in capsys.readouterr().out

    b.path.write_bytes(b"broken")
    assert main(["model", "promote", b.id, "--override", "x"]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert main(["model", "prune", "--keep", "0"]) == 0
    assert f"pruned 1 models: {b.id}" in capsys.readouterr().out
