"""The loop with real Rasa models (trained once per session, see conftest.py): training through
the registry, the stored evaluation, the comparison and the gate on a candidate without one intent's
examples, invalid training data."""

from __future__ import annotations

import json
import shutil

import pytest

from antrean.cli import main
from antrean.console.audit import AuditLog
from antrean.model_registry import InvalidTrainingData, PromotionRefused, training_status
from antrean.model_registry.evaluation import messages_by_text, parse_messages
from antrean.model_registry.inputs import CONFIG_FILE, DOMAIN_FILE, file_sha256
from antrean.model_registry.testset import load_test_set
from tests.model_registry.conftest import EXAMPLES_PER_INTENT, REMOVED_INTENT, copy_of, reduced_inputs

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_a_trained_model_is_kept_with_its_manifest(trained):
    base = trained.base
    assert base.present and base.path.parent == trained.registry.models_dir
    assert base.path.name == f"{base.id}.tar.gz" and base.id.endswith(base.data_fingerprint[:8])
    beside = json.loads(base.path.with_name(f"{base.id}.json").read_text())
    assert beside["sha256"] == base.sha256 == file_sha256(base.path)
    assert beside["size_bytes"] == base.path.stat().st_size
    inputs = beside["inputs"]
    per_intent = inputs["examples_per_intent"]
    assert max(v["total"] for k, v in per_intent.items() if k not in ("ask_hours", "ask_fee")) <= EXAMPLES_PER_INTENT
    assert inputs["examples_from_inbox"] == 2 and per_intent["ask_hours"]["from_inbox"] == 1
    assert inputs["config_sha256"] == file_sha256(CONFIG_FILE)
    assert inputs["domain_sha256"] == file_sha256(DOMAIN_FILE)
    assert inputs["rasa_version"] == base.rasa_version == "3.6.21"
    assert base.trained_by == "test:base" and base.training_seconds > 0
    assert beside["evaluation"] == base.evaluation
    assert REMOVED_INTENT not in trained.worse.manifest["inputs"]["examples_per_intent"]
    # Rasa's validation warned about the missing intent; the training went on, the warning is kept.
    assert any(f"'{REMOVED_INTENT}'" in w for w in trained.worse.manifest["validation_warnings"])
    assert not training_status(trained.registry.models_dir).running
    log = (trained.registry.models_dir / ".training.log").read_text()
    assert "validating the training data" in log and "done" in log


def test_the_evaluation_of_a_real_model(trained):
    evaluation = trained.base.evaluation
    examples = load_test_set()
    messages = evaluation["messages"]
    assert [m["text"] for m in messages] == [e.text for e in examples]
    right = sum(1 for m in messages if m["predicted"] == m["intent"])
    assert evaluation["intent"]["accuracy"] == pytest.approx(right / len(messages))
    assert set(evaluation["intent"]["per_intent"]) == {e.intent for e in examples}
    assert 0.5 < evaluation["intent"]["macro_f1"] <= 1
    assert set(evaluation["entity"]["per_type"]) >= {"person_name", "birth_date", "address", "nik", "visit_date",
                                                     "office", "application_type"}
    fallback = sum(1 for m in messages if m["predicted"] == "nlu_fallback")
    assert evaluation["fallback_rate"] == pytest.approx(fallback / len(messages))
    # The LAW reader is deterministic: every `#` message is read right even by a small model.
    assert evaluation["law"]["examples"] == sum(1 for e in examples if e.is_law) >= 6
    assert evaluation["law"]["rate"] == 1.0
    stories = evaluation["stories"]["results"]
    assert len(stories) >= 21 and {s["file"] for s in stories} >= {"tests/test_stories.yml"}
    assert "cancel a booking" in {s["name"] for s in stories}
    assert all(s["failure"] for s in stories if not s["passed"])
    assert 0 < evaluation["latency_ms"]["p50"] <= evaluation["latency_ms"]["p95"]
    assert evaluation["model"]["size_bytes"] == trained.base.size_bytes and evaluation["model"]["load_seconds"] > 0


def test_the_comparison_shows_the_missing_intent(trained, tmp_path):
    comparison = trained.registry.compare(trained.base.id, trained.worse.id)
    assert comparison.same_test_set
    assert comparison.intents[0]["intent"] == REMOVED_INTENT and comparison.intents[0]["b_f1"] < 0.5
    broken = [m for m in comparison.broken if m["intent"] == REMOVED_INTENT]
    assert len(broken) >= 3 and all(m["a"] == REMOVED_INTENT and m["b"] != REMOVED_INTENT for m in broken)
    assert all(0 <= m["a_confidence"] <= 1 and 0 <= m["b_confidence"] <= 1 for m in broken)
    report = comparison.write(tmp_path)
    text = report.read_text()
    assert report.name == f"{trained.base.id}-vs-{trained.worse.id}.md"
    assert f"| {REMOVED_INTENT} |" in text and "| broken |" in text
    assert (tmp_path / f"{trained.base.id}-vs-{trained.worse.id}-confusion.png").stat().st_size > 1000


def test_a_reviewed_correction_the_reference_lacks_is_compared_with_both_models_parses(trained, registry, sqlite_url,
                                                                                        tmp_path, monkeypatch, capsys):
    # The manifest lists the inbox examples a model was trained on (data/nlu/reviewed.yml).
    inputs = trained.base.manifest["inputs"]
    assert {(e["text"], e["intent"]) for e in inputs["inbox_examples"]} == {
        ("kanim buka jam brp ya min hari ini", "ask_hours"), ("bayar paspornya brp kak skrg", "ask_fee")}
    # A correction the reference (without cancel_booking examples) cannot read and the candidate
    # can: a cancellation of the test set, as the two stored evaluations found them. The candidate
    # is a copy of the base model whose manifest also lists it, as if a reviewer had corrected it.
    base, worse = messages_by_text(trained.base.evaluation), messages_by_text(trained.worse.evaluation)
    text = next(t for t, m in base.items() if m["intent"] == REMOVED_INTENT == m["predicted"]
                and not m["entities"] and not m["predicted_entities"] and worse[t]["predicted"] != REMOVED_INTENT)
    reference = copy_of(registry, trained.worse)
    candidate = registry.register(trained.base.path, by="test", evaluation=trained.base.evaluation, inputs={
        **inputs, "inbox_examples": [*inputs["inbox_examples"], {"text": text, "intent": REMOVED_INTENT,
                                                                 "entities": []}]})
    loads = []

    def parse(path, texts):  # the registry's own parser, counted
        loads.append(len(texts))
        return parse_messages(path, texts)

    registry.parser = parse
    comparison = registry.compare(reference.id, candidate.id)
    assert comparison.corrections_basis == "new" and loads == [1, 1]  # only the new example, by each model
    [fixed] = comparison.corrections
    assert fixed["status"] == "fixed" and (fixed["text"], fixed["intent"]) == (text, REMOVED_INTENT)
    assert (fixed["a"], fixed["b"]) == (worse[text]["predicted"], REMOVED_INTENT)
    assert fixed["a_confidence"] == pytest.approx(worse[text]["confidence"], abs=0.01)
    assert fixed["b_confidence"] == pytest.approx(base[text]["confidence"], abs=0.01)
    # Kept with the evaluations: comparing again, here or from the command line, loads no model.
    assert registry.compare(reference.id, candidate.id).corrections == comparison.corrections and loads == [1, 1]
    monkeypatch.setenv("ANTREAN_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ANTREAN_MODELS_DIR", str(registry.models_dir))
    monkeypatch.setenv("ANTREAN_SECRET_KEY", "k" * 40)
    assert main(["model", "compare", reference.id, candidate.id, "--out", str(tmp_path / "results")]) == 0
    row = (f"| fixed | {text} | {REMOVED_INTENT} | {fixed['a']} ({fixed['a_confidence']:.2f}) | "
           f"{REMOVED_INTENT} ({fixed['b_confidence']:.2f}) |")
    assert row in capsys.readouterr().out
    report = (tmp_path / "results" / f"{reference.id}-vs-{candidate.id}.md").read_text()
    assert "## Reviewed corrections: 1 fixed, 0 still wrong, 0 broken, 0 right in both" in report and row in report


def test_register_live_makes_a_new_file_live_over_the_gate_with_the_reason_audited(trained, registry, sqlite_url,
                                                                                    tmp_path, monkeypatch, capsys):
    """`make run`'s `model register models/antrean.tar.gz --live`: the working copy's freshly
    trained model becomes live even where the gate refuses it, and the override is recorded; the
    same file at the next `make run` leaves alone whatever was made live since."""
    monkeypatch.setenv("ANTREAN_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ANTREAN_MODELS_DIR", str(registry.models_dir))
    monkeypatch.setenv("ANTREAN_SECRET_KEY", "k" * 40)
    live = copy_of(registry, trained.base)
    registry.promote(live.id, by="test:admin")
    made = tmp_path / "antrean.tar.gz"  # what `make train` leaves: a model the registry has not seen
    shutil.copyfile(trained.worse.path, made)

    assert main(["model", "register", str(made), "--live", "--by", "make run"]) == 0
    out = capsys.readouterr().out
    new = registry.live_model()
    assert new.id != live.id and new.sha256 == trained.worse.sha256 and new.evaluation  # evaluated on registering
    assert f"registered {made} as {new.id}" in out and "is live despite the gate (override recorded)" in out
    assert REMOVED_INTENT in out  # the gate's reasons are shown
    last = registry.history()[-1]
    assert (last.action, last.from_model, last.to_model, last.actor) == ("override", live.id, new.id, "cli:make run")
    assert last.override_reason == "make run: the working copy's model"
    [audited] = AuditLog(registry.engine, registry.clock).recent(action="model.promotion_overridden")
    assert audited.actor == "cli:make run" and audited.detail["reason"] == last.override_reason
    assert any(REMOVED_INTENT in reason for reason in audited.detail["refused_for"])

    # A maintainer goes back to the base model (the console); the next `make run` keeps it live.
    registry.rollback(by="test:admin")
    assert main(["model", "register", str(made), "--live", "--by", "make run"]) == 0
    assert f"{made} is already {new.id}" in capsys.readouterr().out
    assert registry.live_model().id == live.id and len(registry.history()) == 3


def test_the_gate_refuses_the_candidate_without_one_intent_and_an_admin_override_is_audited(trained, registry):
    base, worse = copy_of(registry, trained.base), copy_of(registry, trained.worse)
    registry.promote(base.id, by="admin")  # the first model: only the LAW rule applies, and it holds
    with pytest.raises(PromotionRefused) as refused:
        registry.promote(worse.id, by="budi")
    reasons = refused.value.verdict.reasons
    assert {"intent_macro_f1", "intent_f1"} <= {r.code for r in reasons}
    assert REMOVED_INTENT in {r.facts.get("intent") for r in reasons if r.code == "intent_f1"}
    # The stories with a cancel_booking message that the base model passed now fail, and only those.
    with_cancel = {"stop the form", "cancel a booking", "keep a booking after all"}
    passed_before = {s["name"] for s in base.evaluation["stories"]["results"] if s["passed"]} & with_cancel
    broken = {r.facts["story"] for r in reasons if r.code == "story_broken"}
    assert passed_before and broken and broken <= passed_before
    assert registry.live_model().id == base.id
    registry.promote(worse.id, by="admin", override_reason="uji: hanya untuk percobaan")
    assert registry.live_model().id == worse.id
    [entry] = AuditLog(registry.engine, registry.clock).recent(action="model.promotion_overridden")
    assert entry.detail["reason"] == "uji: hanya untuk percobaan" and len(entry.detail["refused_for"]) == len(reasons)
    registry.rollback(by="admin")
    assert registry.live_model().id == base.id


@pytest.mark.parametrize("rule, message", [
    # Rasa's validation: an action the domain does not know.
    ("  - intent: bot_challenge\n  - action: action_tidak_ada_di_domain\n", "action_tidak_ada_di_domain"),
    # Found only while training: a rule contradicting another one.
    ("  - intent: greet\n  - action: utter_goodbye\n", "Contradicting rules or stories"),
])
def test_invalid_training_data_is_refused_with_rasas_message(registry, tmp_path, rule, message):
    inputs = reduced_inputs(tmp_path / "broken", per_intent=3)
    (inputs.data / "rules" / "broken.yml").write_text(
        f'version: "3.1"\nrules:\n- rule: not like this\n  steps:\n{rule}')
    with pytest.raises(InvalidTrainingData, match="the training data is invalid") as refused:
        registry.train(by="test", inputs=inputs)
    assert message in str(refused.value)
    assert registry.all() == [] and not list(registry.models_dir.glob("*.tar.gz"))
    assert not training_status(registry.models_dir).running
    shutil.rmtree(tmp_path / "broken")
