"""The console's "Model" page: the models with their figures and which is live, comparison,
promotion and rollback with the gate's verdict shown first (override for admins only, with a
reason), and "Latih model baru" (export + training in the background, one at a time).

Models here are real gzip'd tars registered in the console's own registry with evaluations built by
the registry's `summarise` over the real test set (tests/model_registry/test_records.py); the
training tests run the registry's real training job."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from antrean.cli import main
from antrean.console.model_training import RUN_NAME, STOPPED_MESSAGE
from antrean.model_registry import training_status
from antrean.model_registry.schema import model_records
from antrean.model_registry.training import LOG_NAME, training_lock
from tests.model_registry.test_records import STORIES_WORSE, WORSE, evaluation, inputs, model_file

pytestmark = pytest.mark.integration

MISREAD_FEE = {"ask_fee": "ask_hours"}  # an older model that takes questions about the fee for hours


@pytest.fixture
def models(console, tmp_path):
    """Three kept models: `old` (live, misreads fee questions), `better` (reads them) and `worse`
    (never recognises a cancellation, so a conversation test breaks)."""
    registry = console.app.ctx.models
    files = tmp_path / "files"
    old = registry.register(model_file(files, "old"), by="cli:budi", inputs=inputs("a"),
                            evaluation=evaluation(MISREAD_FEE))
    registry.promote(old.id, by="cli:budi")
    better = registry.register(model_file(files, "better"), by="cli:budi", inputs=inputs("b"), evaluation=evaluation())
    worse = registry.register(model_file(files, "worse"), by="cli:budi", inputs=inputs("c"),
                              evaluation=evaluation(WORSE, STORIES_WORSE))
    return registry, old, better, worse


def test_users_add_creates_a_maintainer(monkeypatch, capsys, sqlite_url):
    monkeypatch.setenv("ANTREAN_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ANTREAN_SECRET_KEY", "k" * 40)
    monkeypatch.setattr("sys.stdin", io.StringIO("kopi-susu-gula-aren-2026\n"))
    assert main(["users", "add", "rahmat", "--role", "maintainer", "--name", "Rahmat", "--password-stdin"]) == 0
    assert "added rahmat (maintainer)" in capsys.readouterr().out


def test_the_menu_shows_the_model_page_to_maintainers_and_admins_only(console):
    for role in ("admin", "maintainer"):
        assert 'href="/model"' in console.as_role(role).get("/model").text
    for role in ("reviewer", "counter", "security"):
        client = console.as_role(role)
        assert 'href="/model"' not in client.follow(client.get("/")).text
        assert client.get("/model").status_code == 403


def test_the_list_shows_every_model_with_its_figures_and_the_live_one(console, models):
    _, old, better, worse = models
    page = console.as_role("maintainer").get("/model").text
    for record in (old, better, worse):
        assert record.id in page
    live_row = page.split('<tr class="live">')[1].split("</tr>")[0]
    assert old.id in live_row and '<span class="badge">aktif</span>' in live_row
    assert page.count('<span class="badge">aktif</span>') == 1
    # Figures: the worse model's cancel_booking messages are all wrong, so its macro-F1 is lower.
    assert "100.0%" in page  # LAW # parse rate
    assert f"/model/banding?a={old.id}&amp;b={better.id}" in page
    assert f"/model/{better.id}/aktifkan" in page and f"/model/{old.id}/aktifkan" not in page


def test_promotion_shows_the_gates_verdict_before_the_confirmation(console, models):
    registry, old, better, _ = models
    client = console.as_role("maintainer")
    check = client.get(f"/model/{better.id}/aktifkan")
    assert check.status_code == 200
    assert "Gerbang: lolos" in check.text and "Ya, aktifkan model ini" in check.text
    assert registry.live_model().id == old.id  # looking is not promoting
    done = client.follow(client.post(f"/model/{better.id}/aktifkan"))
    assert f"Model {better.id} sekarang aktif." in done.text
    assert registry.live_model().id == better.id
    assert registry.history()[-1].actor == "maintainer"


def test_a_refused_candidate_shows_every_reason_in_indonesian_and_only_an_admin_overrides(console, models):
    registry, old, _, worse = models
    maintainer = console.as_role("maintainer")
    check = maintainer.get(f"/model/{worse.id}/aktifkan").text
    assert "Gerbang: ditolak" in check
    assert "Tes percakapan “cancel a booking”" in check and "lulus dengan model aktif tetapi gagal" in check
    assert "F1 intent cancel_booking turun dari" in check
    assert 'name="alasan"' not in check and "hanya bisa diaktifkan oleh admin" in check
    refused = maintainer.follow(maintainer.post(f"/model/{worse.id}/aktifkan"))
    assert "Ditolak gerbang:" in refused.text
    sneaky = maintainer.follow(maintainer.post(f"/model/{worse.id}/aktifkan", {"alasan": "saya yakin kok"}))
    assert "Hanya admin" in sneaky.text
    assert registry.live_model().id == old.id

    admin = console.as_role("admin")
    assert 'name="alasan"' in admin.get(f"/model/{worse.id}/aktifkan").text
    done = admin.follow(admin.post(f"/model/{worse.id}/aktifkan", {"alasan": "darurat: model lama salah baca"}))
    assert "aktif walau ditolak gerbang" in done.text
    assert registry.live_model().id == worse.id
    [entry] = console.audit.recent(action="model.promotion_overridden")
    assert entry.actor == "admin" and entry.detail["reason"] == "darurat: model lama salah baca"
    assert "darurat: model lama salah baca" in admin.get("/audit").text


def test_rollback_is_confirmed_then_brings_back_the_previous_model(console, models):
    registry, old, better, _ = models
    registry.promote(better.id, by="cli:budi")
    client = console.as_role("admin")
    check = client.get("/model/kembalikan").text
    assert old.id in check and better.id in check and "Ya, kembalikan" in check
    assert registry.live_model().id == better.id
    done = client.follow(client.post("/model/kembalikan", {"dari": better.id}))
    assert f"Model {old.id} aktif kembali" in done.text
    assert registry.live_model().id == old.id
    # A confirmation for a live model that has changed since is not carried out.
    registry.promote(better.id, by="cli:budi")
    stale = client.follow(client.post("/model/kembalikan", {"dari": old.id}))
    assert "baru saja diubah" in stale.text and registry.live_model().id == better.id


def test_compare_shows_figures_changed_messages_and_the_confusion_picture(console, models):
    _, old, better, worse = models
    client = console.as_role("maintainer")
    page = client.get(f"/model/banding?a={old.id}&b={better.id}").text
    fixed = sum(1 for example in client_test_set() if example.intent == "ask_fee")
    assert f"{fixed} diperbaiki, 0 rusak" in page
    assert "ask_hours (0.90)" in page and "ask_fee (0.90)" in page
    assert 'src="data:image/png;base64,' in page
    assert "Macro-F1 intent" in page and "Tes percakapan lulus" in page
    worse_page = client.get(f"/model/banding?a={old.id}&b={worse.id}").text
    assert "cancel a booking" in worse_page and "Tes percakapan yang hasilnya berubah: 1" in worse_page
    same = client.follow(client.get(f"/model/banding?a={old.id}&b={old.id}"))
    assert "dua model yang berbeda" in same.text
    unknown = client.follow(client.get(f"/model/banding?a={old.id}&b=20990101T000000Z-ffffffff"))
    assert "Model tidak dikenal" in unknown.text


def test_compare_shows_the_reviewed_corrections_from_the_kept_parses(console, models, tmp_path):
    """The corrections' parses kept with each evaluation (what a first comparison stores) are
    shown without loading a model: these model files are not Rasa models and could not be."""
    registry, old, better, _ = models
    correction = {"text": "nik 3171012345678901 mau batal besok", "intent": "cancel_booking",
                  "entities": [["nik", 4, 20]]}
    wrong = {"intent": "ask_hours", "confidence": 0.41, "entities": []}
    right = {"intent": "cancel_booking", "confidence": 0.93, "entities": [["nik", 4, 20]]}
    with registry.engine.begin() as connection:  # as the first comparison would have kept it
        connection.execute(model_records.update().where(model_records.c.id == old.id).values(
            evaluation=json.dumps({**old.evaluation, "parses": {correction["text"]: wrong}})))
    corrected = registry.register(model_file(tmp_path / "files", "corrected"), by="cli:budi",
                                  inputs={**inputs("d"), "inbox_examples": [correction]},
                                  evaluation={**evaluation(), "parses": {correction["text"]: right}})
    page = console.as_role("maintainer").get(f"/model/banding?a={old.id}&b={corrected.id}").text
    section = page.split('<section class="card corrections">')[1].split("</section>")[0]
    assert "Koreksi peninjau: 1 diperbaiki, 0 masih salah, 0 rusak, 0 benar di keduanya" in section
    row = section.split('<tr class="fixed">')[1].split("</tr>")[0]
    assert "ask_hours (0.41); —" in row and "cancel_booking (0.93); nik:" in row
    assert "3171012345678901" not in page and "mau batal besok" in row  # the NIK masked, as in the other tables
    # Two models trained on the same inbox examples: nothing new to show.
    same_inbox = console.as_role("maintainer").get(f"/model/banding?a={old.id}&b={better.id}").text
    assert "Koreksi peninjau: 0 diperbaiki" in same_inbox and "Tidak ada koreksi baru." in same_inbox


def client_test_set():
    from antrean.model_registry.testset import load_test_set

    return load_test_set()


def test_a_training_elsewhere_is_shown_with_its_log_and_a_second_one_is_refused(console):
    registry = console.app.ctx.models
    client = console.as_role("maintainer")
    with training_lock(registry.models_dir, "cli:siti"):  # as `python -m antrean model train` holds it
        (registry.models_dir / LOG_NAME).write_text("training started by cli:siti\nvalidating the training data "
                                                    "(rasa data validate)\ntraining\n")
        page = client.get("/model").text
        assert "Pelatihan sedang berjalan" in page and "cli:siti" in page and "dari baris perintah" in page
        assert 'http-equiv="refresh"' in page and "<pre class=\"log\">" in page
        refused = client.follow(client.post("/model/latih"))
        assert "Pelatihan dari baris perintah sedang berjalan" in refused.text
    assert not (registry.models_dir / RUN_NAME).exists()  # nothing was started
    assert "Pelatihan sedang berjalan" not in client.get("/model").text


def wait_for_training(client, seconds: float = 900) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page = client.get("/model").text
        if "Pelatihan sedang berjalan" not in page:
            return page
        time.sleep(2)
    raise AssertionError("the training did not end")


@pytest.fixture
def training_console(make_service, console_sqlite_url, clock, tmp_path):
    """A console whose "Latih model baru" trains from a reduced copy of data/ and exports the
    inbox into it, with a test set of its own (nothing in the repository is written)."""
    from antrean.console import create_app
    from antrean.console.config import TestingConfig
    from antrean.console.devserver import serving
    from antrean.media.photo_store import MediaStore
    from antrean.model_registry.testset import TEST_SET_DIR
    from tests.console.conftest import ROLES, Console
    from tests.model_registry.conftest import reduced_inputs

    def start(**options):
        shutil.copytree(TEST_SET_DIR, tmp_path / "test_set", dirs_exist_ok=True)
        training_inputs = reduced_inputs(tmp_path / "inputs", **options)
        config = TestingConfig(service=make_service(console_sqlite_url), media_store=MediaStore(tmp_path / "media"),
                               tracker_url=f"sqlite:///{tmp_path / 'conversations.sqlite3'}",
                               stories_dir=tmp_path / "stories", models_dir=tmp_path / "models",
                               training_inputs=training_inputs, test_set_dir=tmp_path / "test_set", story_files=[])
        app = create_app(config)
        context = serving(app)
        base_url = context.__enter__()
        console = Console(base_url, app, config.service, clock)
        for role in ROLES:
            console.add_user(role, role)
        started.append((console, context))
        return console, training_inputs

    started = []
    yield start
    for console, context in started:
        thread = console.app.ctx.model_training.thread
        if thread is not None:
            thread.join(timeout=900)
        for client in console.clients:
            client.close()
        context.__exit__(None, None, None)
        console.app.ctx.review.close()


@pytest.mark.slow
def test_invalid_training_data_ends_with_a_clear_message(training_console):
    console, training_inputs = training_console(per_intent=3)
    (training_inputs.data / "rules" / "broken.yml").write_text(
        'version: "3.1"\nrules:\n- rule: not like this\n  steps:\n  - intent: bot_challenge\n'
        "  - action: action_tidak_ada_di_domain\n")
    client = console.as_role("maintainer")
    started = client.follow(client.post("/model/latih"))
    assert "Pelatihan dimulai" in started.text
    again = client.follow(client.post("/model/latih"))  # one at a time
    assert "Pelatihan lain sedang berjalan" in again.text or "Pelatihan terakhir gagal" in again.text
    page = wait_for_training(client)
    assert "Pelatihan terakhir gagal" in page
    assert "Data latih tidak valid, model tidak dilatih." in page and "action_tidak_ada_di_domain" in page
    assert console.app.ctx.models.all() == []
    # The same outcome from another console process: it is read from files, not from memory.
    other = console.as_role("admin").get("/model").text
    assert "Pelatihan terakhir gagal" in other and "action_tidak_ada_di_domain" in other


@pytest.mark.slow
def test_latih_model_baru_exports_trains_and_lists_the_new_model(training_console):
    console, training_inputs = training_console(per_intent=6)
    client = console.as_role("maintainer")
    assert "Pelatihan dimulai" in client.follow(client.post("/model/latih")).text
    running = client.get("/model").text
    assert "Pelatihan sedang berjalan" in running or "Pelatihan terakhir" in running
    page = wait_for_training(client)
    [record] = console.app.ctx.models.all()
    assert f"Model {record.id} selesai dilatih dan dievaluasi" in page
    assert record.trained_by == "maintainer" and record.evaluation is not None
    assert record.id in page and "belum dievaluasi" not in page
    assert (training_inputs.data / "nlu" / "reviewed.yml").exists()  # the export ran first, into the inputs
    [exported] = console.audit.recent(action="nlu.exported")
    assert exported.actor == "maintainer"


def training_children() -> list[int]:
    """This test process's children running the registry's training job (from /proc: Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"antrean.model_registry.job" in command:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_stopping_the_console_mid_training_ends_the_training_process_and_says_so(training_console):
    console, _ = training_console(per_intent=3)
    training = console.app.ctx.model_training
    client = console.as_role("maintainer")
    assert "Pelatihan dimulai" in client.follow(client.post("/model/latih")).text
    log = console.app.ctx.models.models_dir / LOG_NAME
    deadline = time.monotonic() + 600
    while not (log.exists() and "\ntraining\n" in log.read_text(encoding="utf-8", errors="replace")):
        assert time.monotonic() < deadline and training.thread.is_alive(), "rasa train never began"
        time.sleep(0.5)
    time.sleep(3)  # into `rasa train` itself
    [child] = training_children()

    # What Sanic's shutdown runs when the console gets SIGTERM or SIGINT (app.run, and
    # AsyncioServer.before_stop): the "before_server_stop" listeners, as the signal they are.
    async def shutdown() -> None:
        await console.app._server_event("shutdown", "before", loop=asyncio.get_running_loop())

    started = time.monotonic()
    asyncio.run(shutdown())
    print(f"training process ended {time.monotonic() - started:.1f} s after the stop")
    assert not training.thread.is_alive() and not training_children()
    assert not Path(f"/proc/{child}").exists()  # ended and reaped, not orphaned
    assert not training_status(console.app.ctx.models.models_dir).running and console.app.ctx.models.all() == []
    assert "training stopped by its starter" in log.read_text(encoding="utf-8")
    page = client.get("/model").text
    assert "Pelatihan terakhir gagal" in page and STOPPED_MESSAGE in page
    assert training.stop(console.app, None) is False  # nothing left to stop
