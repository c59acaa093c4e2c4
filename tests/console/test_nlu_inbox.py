"""The NLU inbox over HTTP (SQLite and PostgreSQL where the query matters) and `nlu export`: what is
listed, in which order, confirming/correcting/discarding, refusals, roles, the audit log, and a
training file Rasa reads, without personal data."""

from __future__ import annotations

import json
import os
import re

import pytest
from sqlalchemy import select

from antrean.cli import main
from antrean.training import nlu_inbox as inbox
from antrean.training.data import load_domain, normalise, training_examples
from antrean.training.export import export
from antrean.training.schema import nlu_reviews
from tests.console.reviewdata import add_conversation

pytestmark = pytest.mark.integration

NIK = "2171031708900001"


def seed(console):
    return add_conversation(console.service.engine, messages=[
        ("halo", "greet", 0.99),  # in data/nlu/greetings.yml: never listed
        ("HALO!!", "greet", 0.40),  # the same after normalisation
        ("/affirm", "affirm", 1.0),  # a button payload, not language
        ("kak mau bikin paspor buat umroh bisa?", "register", 0.41),
        (f"nik saya {NIK} tolong cek", "check_booking", 0.22),
        ("zzzq xxv", "out_of_scope", 0.15),
        ("kak mau bikin paspor buat umroh bisa?", "register", 0.45),  # asked twice
        ("jam brp buka kantornya besok pagi", "ask_hours", 0.63),
    ])


def test_the_inbox_lists_new_texts_least_certain_first_grouped_by_intent_with_niks_masked(console_on_both):
    console = console_on_both
    seed(console)
    page = console.as_role("reviewer").get("/nlu")
    assert page.status_code == 200
    text = page.text
    order = [text.index(s) for s in ("zzzq xxv", "2171**********01", "bikin paspor buat umroh", "jam brp buka")]
    assert order == sorted(order)
    assert NIK not in text
    assert '<p class="nlu-text" data-text="halo">' not in text and "HALO!!" not in text and "/affirm" not in text
    assert text.count("bikin paspor buat umroh bisa?</p>") == 1 and "dikirim 2×" in text
    assert re.search(r"<h2>out_of_scope", text) and re.search(r"<h2>register", text)


def test_confirming_with_another_intent_and_an_entity_is_recorded_audited_and_leaves_the_inbox(console_on_both):
    console = console_on_both
    ids = seed(console)
    client = console.as_role("reviewer")
    client.get("/nlu")
    hours = ids[7]
    besok = "jam brp buka kantornya besok pagi".index("besok")
    response = client.post(f"/nlu/{hours}", {"keputusan": "terima", "intent": "ask_hours",
                                             "entitas": json.dumps([{"start": besok, "end": besok + 6,
                                                                     "entity": "visit_date"}])})
    assert "Disimpan sebagai ask_hours dengan 1 entitas." in client.follow(response).text
    umroh = ids[3]
    response = client.post(f"/nlu/{umroh}", {"keputusan": "terima", "intent": "ask_requirements", "entitas": "[]"})
    page = client.follow(response).text
    assert "(intent dikoreksi)" in page and "jam brp buka" not in page and "umroh" not in page
    with console.service.engine.connect() as connection:
        rows = {r.message_id: r for r in connection.execute(select(nlu_reviews))}
    assert json.loads(rows[hours].entities) == [{"start": besok, "end": besok + 5, "entity": "visit_date",
                                                 "value": "besok"}]  # the trailing space trimmed
    assert (rows[umroh].intent, rows[umroh].predicted_intent) == ("ask_requirements", "register")
    entries = console.audit.recent(action="nlu.reviewed")
    assert {e.target for e in entries} == {str(hours), str(umroh)}
    assert any(e.detail.get("changed") for e in entries)


def test_discarding_personal_data_keeps_no_text(console):
    ids = seed(console)
    client = console.as_role("admin")
    client.get("/nlu")
    response = client.post(f"/nlu/{ids[4]}", {"keputusan": "buang_pribadi"})
    assert "Pesan dibuang" in client.follow(response).text
    with console.service.engine.connect() as connection:
        [row] = connection.execute(select(nlu_reviews)).all()
    assert (row.status, row.discard_reason, row.text, row.intent) == ("discarded", "personal", "", None)
    assert NIK not in row.normalised
    assert "2171**********01" not in client.get("/nlu").text


@pytest.mark.parametrize(("form", "message"), [
    ({"keputusan": "terima", "intent": "beli_tiket_pesawat"}, "tidak ada di domain.yml"),
    ({"keputusan": "terima", "intent": "greet", "entitas": '[{"start": 0, "end": 3, "entity": "hewan"}]'},
     "Entitas &#39;hewan&#39; tidak ada di domain.yml"),
    ({"keputusan": "terima", "intent": "greet", "entitas": '[{"start": 0, "end": 99, "entity": "office"}]'},
     "di luar teks"),
    ({"keputusan": "terima", "intent": "greet",
      "entitas": '[{"start": 0, "end": 4, "entity": "office"}, {"start": 2, "end": 5, "entity": "nik"}]'},
     "bertumpuk"),
    ({"keputusan": "terima", "intent": "greet", "entitas": "{oops"}, "Entitas tidak terbaca"),
    ({"keputusan": "lainnya"}, "Pilih terima atau buang"),
])
def test_decisions_outside_the_domain_or_the_text_are_refused(console, form, message):
    ids = seed(console)
    client = console.as_role("reviewer")
    client.get("/nlu")
    page = client.follow(client.post(f"/nlu/{ids[5]}", form)).text
    assert message in page
    assert inbox.counts(console.service.engine) == {}


def test_a_message_cannot_be_decided_twice(console):
    ids = seed(console)
    client = console.as_role("reviewer")
    client.get("/nlu")
    client.post(f"/nlu/{ids[5]}", {"keputusan": "buang_sampah"})
    page = client.follow(client.post(f"/nlu/{ids[5]}", {"keputusan": "terima", "intent": "greet"})).text
    assert "sudah ditinjau" in page


@pytest.mark.parametrize("role", ["counter", "security"])
def test_the_inbox_is_for_reviewers_and_admins_only(console, role):
    ids = seed(console)
    client = console.as_role(role)
    assert client.get("/nlu").status_code == 403
    assert client.post(f"/nlu/{ids[5]}", {"keputusan": "buang_sampah"}).status_code == 403
    assert inbox.counts(console.service.engine) == {}


def accept_examples(console):
    ids = add_conversation(console.service.engine, messages=[
        (f"nik saya {NIK} hp 0812-3456-7890 mau cek", "check_booking", 0.3),
        ("alamat saya Jl. Raya Sekupang No. 12 RT 01/RW 02 Tiban", "inform", 0.35),
        ("kak [tolong] bantu (daftar) paspor", "register", 0.4),
        ("halo", "greet", 0.99),
    ])
    domain = load_domain()
    now = console.clock()
    nik_at = ids and f"nik saya {NIK}".index(NIK)
    inbox.accept(console.service.engine, domain, ids[0], "check_booking",
                 [{"start": nik_at, "end": nik_at + 16, "entity": "nik"}], "reviewer", now)
    address = "alamat saya Jl. Raya Sekupang No. 12 RT 01/RW 02 Tiban"
    start = address.index("Jl.")
    inbox.accept(console.service.engine, domain, ids[1], "inform",
                 [{"start": start, "end": len(address), "entity": "address"}], "reviewer", now)
    inbox.accept(console.service.engine, domain, ids[2], "register", [], "reviewer", now)
    inbox.accept(console.service.engine, domain, ids[3], "greet", [], "reviewer", now)  # already known


def test_export_writes_rasa_training_data_without_personal_data(console, tmp_path):
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    accept_examples(console)
    folder = tmp_path / "nlu"
    folder.mkdir()
    (folder / "greetings.yml").write_text('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - halo\n')
    result = export(console.service.engine, folder / "reviewed.yml", data_dir=folder)
    assert (result.examples, result.intents, result.skipped) == (3, 3, 1)
    written = (folder / "reviewed.yml").read_text()
    assert NIK not in written and "3456-7890" not in written and "Sekupang" not in written
    assert "[tolong]" not in written and "(tolong)" in written
    data = RasaYAMLReader().reads(written)
    examples = {m.get("text"): m for m in data.intent_examples}
    assert len(examples) == 3
    [check] = [m for t, m in examples.items() if t.startswith("nik saya")]
    [entity] = check.get("entities")
    assert entity["entity"] == "nik" and re.fullmatch(r"\d{16}", entity["value"]) and entity["value"] != NIK
    assert re.search(r"hp 08\d\d-0000-\d{4} mau cek", check.get("text"))
    [address] = [m for t, m in examples.items() if t.startswith("alamat")]
    assert address.get("entities")[0]["entity"] == "address"
    assert address.get("entities")[0]["value"].startswith(("Jl.", "Gg.", "Perum"))
    assert normalise("halo") not in {normalise(t) for t in examples}
    # Exported examples are training data now: the inbox no longer lists them.
    assert set(training_examples(folder)) >= {normalise(t) for t in examples}


def test_an_empty_export_is_still_a_valid_training_file(console, tmp_path):
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    result = export(console.service.engine, tmp_path / "reviewed.yml")
    assert result.examples == 0
    assert RasaYAMLReader().reads((tmp_path / "reviewed.yml").read_text()).intent_examples == []


def test_the_cli_export_is_audited(console, console_sqlite_url, tmp_path, monkeypatch, capsys):
    accept_examples(console)
    monkeypatch.setenv("ANTREAN_DATABASE_URL", console_sqlite_url)
    monkeypatch.setenv("ANTREAN_SECRET_KEY", "k" * 40)
    # The test set's folder is read as the test set: the training file lives elsewhere.
    out, held_out = tmp_path / "reviewed.yml", tmp_path / "test_set" / "test.yml"
    assert main(["nlu", "export", "--out", str(out), "--test-out", str(held_out)]) == 0
    # The NIK message's text hashes into the test share (antrean/model_registry/testset.py).
    assert "wrote 2 examples of 2 intents" in capsys.readouterr().out
    assert "nik saya" in held_out.read_text() and "nik saya" not in out.read_text()
    assert main(["nlu", "export", "--out", str(out), "--test-out", str(held_out)]) == 0
    assert "unchanged (not rewritten, so nothing to retrain): 2 examples" in capsys.readouterr().out
    entry = console.audit.recent(action="nlu.exported")[0]
    assert entry.actor.startswith("cli:") and entry.detail["examples"] == 2 and entry.detail["test_examples"] == 1
    page = console.as_role("admin").get("/audit").text
    assert "Mengekspor contoh NLU" in page


@pytest.mark.slow
def test_rasa_data_validate_accepts_the_exported_file_next_to_the_real_training_data(console, tmp_path):
    """`rasa data validate` on a copy of the assistant's files plus the export: it succeeds and warns
    about nothing in the NLU data (the only warnings are the existing ones about utterances that
    are used by actions rather than stories)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from antrean.runtime.db import REPO_ROOT

    accept_examples(console)
    for name in ("domain.yml", "config.yml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(REPO_ROOT / "data", tmp_path / "data")
    (tmp_path / "data" / "nlu" / "reviewed.yml").unlink(missing_ok=True)
    nlu = tmp_path / "data" / "nlu"
    result = export(console.service.engine, nlu / "reviewed.yml", data_dir=nlu)
    assert result.examples == 3
    rasa = Path(sys.executable).with_name("rasa")
    run = subprocess.run([str(rasa), "data", "validate", "--domain", "domain.yml", "--data", "data", "--config",
                          "config.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false"})
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    warnings = [line for line in output.splitlines()
                if "UserWarning" in line and "is not used in any story" not in line]
    assert warnings == [], warnings


def test_a_fallback_message_preselects_the_best_ranked_domain_intent(console):
    [message_id] = add_conversation(console.service.engine, messages=[("xq zzv pkoq", "nlu_fallback", 0.12)])
    page = console.as_role("reviewer").get("/nlu").text
    form = page[page.index(f'id="pesan-{message_id}"'):]
    form = form[:form.index("</form>")]
    assert "<option selected>out_of_scope</option>" in form  # nlu_fallback is not a domain intent


def test_an_export_that_changes_nothing_leaves_the_files_alone(console, tmp_path):
    """`make train` retrains when a training file's time stamp moves: a second export of the same
    examples must not touch the training file or the test set's."""
    accept_examples(console)
    path, held_out = tmp_path / "reviewed.yml", tmp_path / "test_set" / "reviewed.yml"
    first = export(console.service.engine, path, test_path=held_out)
    assert first.changed and (first.examples, first.test_examples) == (2, 1)
    for written in (path, held_out):
        os.utime(written, ns=(1_000_000_000, 1_000_000_000))  # an old time stamp, so any write would show
    again = export(console.service.engine, path, test_path=held_out)
    assert not again.changed and (again.examples, again.test_examples) == (2, 1)
    assert path.stat().st_mtime_ns == held_out.stat().st_mtime_ns == 1_000_000_000
    path.write_text(path.read_text() + "# edited by hand\n")  # different content: rewritten
    assert export(console.service.engine, path, test_path=held_out).changed
    assert "edited by hand" not in path.read_text()


def test_personal_data_inside_inbox_texts_is_masked_keeping_the_words_around_and_revealed_only_audited(console):
    """Issue 15.13: names, birth dates and addresses in the texts, masked character for character
    (entity offsets still fit); the full texts only with the personal-data right, audited."""
    law = "Rina Kartika#12-04-1992#Jl. Kenanga No. 21 Sekupang"
    later = "kak rina kartika mau tanya lahir 12 april 1992 bisa paspor?"
    add_conversation(console.service.engine, messages=[
        (law, "register", 0.31),
        (later, "ask_requirements", 0.2, [{"entity": "person_name", "value": "rina kartika", "start": 4, "end": 16}]),
    ])
    reviewer = console.as_role("reviewer")
    page = reviewer.get("/nlu").text
    for secret in ("Rina", "rina", "Kartika", "kartika", "1992", "Kenanga", "april"):
        assert secret not in page, secret
    masked_law = "".join(c if c == "#" or not c.isalnum() else "•" for c in law)
    assert f'data-text="{masked_law}"' in page  # same length: the offsets a reviewer marks still fit
    assert "kak ••••" in page and "mau tanya lahir" in page and "bisa paspor?" in page
    assert "Tampilkan data lengkap" not in page
    assert reviewer.post("/nlu/buka").status_code == 403
    admin = console.as_role("admin")
    admin.get("/nlu")
    full = admin.post("/nlu/buka").text
    assert law in full and later in full
    [entry] = console.audit.recent(action="personal_data.viewed")
    assert (entry.actor, entry.target) == ("admin", "nlu")
    assert "Rina" not in admin.get("/nlu").text  # the next plain view is masked again
