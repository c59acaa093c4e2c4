"""The conversation pages over HTTP: who may open them, the list's filters, sorting, paging and
saved filters, the transcript, tags / review / note / flags (CSRF on every POST), the audited full
view and ID photo, and the export as a Rasa test story. Tracker content is written by Rasa's own
SQLTrackerStore (tests/review/tracker_writer.py), and the list syncs it on page load."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from antrean.media.contract import photo_metadata
from antrean.media.photos import PhotoCheck
from tests.conftest import wib
from tests.media.images import card, encode
from tests.review.tracker_writer import (
    NIK,
    TrackerWriter,
    action,
    booked_conversation,
    bot,
    listen,
    loop,
    session_start,
    slot,
    user,
)

pytestmark = pytest.mark.integration

ROW = re.compile(r'<a href="/percakapan/(\d+)">')


@pytest.fixture
def writer(console):
    w = TrackerWriter(console.tracker_url, wib(2026, 12, 1, 7, 40))
    yield w
    w.close()


def ids_on(page_text: str) -> list[int]:
    return [int(n) for n in ROW.findall(page_text)]


def handoff_conversation(w, sender, text="bisa bicara dengan petugas?"):
    w.save(sender, session_start(), user(text, "human_handoff", 0.55, metadata={"office_id": "batam"}),
           action("action_handoff"), bot("Baik, percakapan ini sudah diteruskan ke petugas kami."), listen())


def fallback_conversation(w, sender):
    w.save(sender, session_start(), user("xyz abc paspor hilang di laut", "nlu_fallback", 0.21,
                                         metadata={"office_id": "batam"}),
           action("action_fallback"), bot("Maaf, saya belum mengerti."), listen())


def some_conversations(w):
    booked_conversation(w, "6281234567001", code="ABCD2345EFGH")
    w.tick(600)
    handoff_conversation(w, "6281234567002")
    w.tick(600)
    fallback_conversation(w, "6281234567003")


@pytest.mark.parametrize("role, status", [("admin", 200), ("reviewer", 200), ("counter", 403), ("security", 403)])
def test_only_reviewers_and_admins_open_conversations(console, writer, role, status):
    some_conversations(writer)
    client = console.as_role(role)
    assert client.get("/percakapan").status_code == status
    assert client.get("/percakapan/1").status_code == status
    menu = client.follow(client.get("/")).text
    assert ('href="/percakapan"' in menu) is (status == 200)


def test_anonymous_visitors_are_sent_to_the_login_page(console):
    response = console.client().get("/percakapan?hasil=booked")
    assert response.status_code == 302 and response.headers["location"].startswith("/masuk?lanjut=")


def test_the_list_shows_each_conversation_masked(console, writer):
    some_conversations(writer)
    page = console.as_role("reviewer").get("/percakapan").text
    assert "3 percakapan" in page
    assert "6281*****7001" in page and "6281234567001" not in page
    assert NIK not in page
    for label in ("Terdaftar", "Ke petugas", "Informasi saja"):
        assert label in page
    assert "0,21" in page and "ABCD2345EFGH" in page
    # newest first: the fallback conversation started last
    first = ids_on(page)[0]
    assert "0,21" in page.split(f'href="/percakapan/{first}"')[1].split("</tr>")[0]


@pytest.mark.parametrize("query, expected", [
    ("hasil=booked", ["6281*****7001"]),
    ("giliran_min=2", ["6281*****7001"]),
    ("giliran_maks=1", ["6281*****7002", "6281*****7003"]),
    ("hasil=handoff", ["6281*****7002"]),
    ("fallback=ya", ["6281*****7003"]),
    ("keyakinan_maks=0,5", ["6281*****7001", "6281*****7003"]),
    ("intent=register", ["6281*****7001"]),
    ("aksi=action_handoff", ["6281*****7002"]),
    ("slot=office&nilai=batam", ["6281*****7001"]),
    ("q=laut", ["6281*****7003"]),
    ("q=" + NIK, []),  # the free text is stored masked: no NIK look-ups through it
    ("nomor=7002", ["6281*****7002"]),
    ("nomor=081234567001", ["6281*****7001"]),
    ("kanal=whatsapp&hasil=information", ["6281*****7003"]),
    ("dari=2026-12-01&sampai=2026-12-01", ["6281*****7001", "6281*****7002", "6281*****7003"]),
    ("dari=2026-12-02", []),
])
def test_filters(console, writer, query, expected):
    some_conversations(writer)
    page = console.as_role("reviewer").get("/percakapan?" + query).text
    shown = re.findall(r"6281\*{5}\d{4}", page.split("<tbody>")[1] if "<tbody>" in page else "")
    assert sorted(shown) == sorted(expected)


def test_sorting_and_paging(console, writer):
    for n in range(53):
        writer.save(f"62812000{n:05d}", session_start(), user("jam buka?", "ask_hours", 0.5 + n / 200),
                    action("action_answer_question"), listen())
        writer.tick(60)
    client = console.as_role("reviewer")
    first = client.get("/percakapan").text
    assert "53 percakapan · halaman 1 dari 2" in first and len(ids_on(first)) == 50
    second = client.get("/percakapan?halaman=2").text
    assert len(ids_on(second)) == 3 and not set(ids_on(first)) & set(ids_on(second))
    assert 'rel="prev"' in second and 'rel="next"' not in second
    oldest = client.get("/percakapan?urut=terlama").text
    assert ids_on(oldest)[0] == min(ids_on(first) + ids_on(second))
    lowest = client.get("/percakapan?urut=keyakinan").text
    assert "0,50" in lowest.split("</tr>")[1]
    assert len(ids_on(client.get("/percakapan?halaman=999").text)) == 3  # past the end: the last page


def test_the_transcript_shows_nlu_buttons_actions_and_slots_masked(console, writer):
    some_conversations(writer)
    client = console.as_role("reviewer")
    client.get("/percakapan")  # the list copies new tracker events
    page = client.get("/percakapan/1").text
    assert "mau daftar paspor" in page and "register" in page and "0,91" in page
    assert "berikutnya: register" in page  # the runner-up intent of the low-confidence message
    assert "nik=2171**********01" in page and NIK not in page
    assert "Daftar antrean" in page and "/register" in page  # a button and its payload
    assert "action_submit_registration" in page and "registration_form" in page
    assert "office = <span class=\"mono\">batam</span>" in page
    assert "person_name = <span class=\"mono\">•••</span>" in page
    assert "ABCD2345EFGH" in page and 'href="/pemesanan/ABCD2345EFGH"' not in page  # reviewers see no bookings
    assert 'href="/pemesanan/ABCD2345EFGH"' in console.as_role("admin").get("/percakapan/1").text
    assert "Tampilkan data lengkap" not in page
    assert client.get("/percakapan/999").status_code == 404


def test_the_full_view_is_for_admins_and_audited(console, writer):
    some_conversations(writer)
    reviewer = console.as_role("reviewer")
    reviewer.get("/percakapan")
    reviewer.get("/percakapan/1")
    assert reviewer.post("/percakapan/1/buka").status_code == 403
    admin = console.as_role("admin")
    admin.get("/percakapan/1")
    page = admin.post("/percakapan/1/buka").text
    assert NIK in page and "6281234567001" in page and "Budi Santoso" in page
    [entry] = [e for e in console.audit.recent() if e.action == "personal_data.viewed"]
    assert (entry.actor, entry.target) == ("admin", "percakapan:1")


def test_the_id_photo_thumbnail_is_shown_to_admins_only_and_audited(console, writer):
    store = console.app.ctx.media()
    ref = store.save_id_photo(encode(card()), "6281234567009")
    metadata = {**photo_metadata(ref, PhotoCheck(True, None, None, 1600, 1200)), "office_id": "batam"}
    writer.save("6281234567009", session_start(), user("/send_photo", "send_photo", 1.0, metadata=metadata),
                action("registration_form"), listen())
    reviewer = console.as_role("reviewer")
    reviewer.get("/percakapan")
    assert "/foto/" not in reviewer.get("/percakapan/1").text
    event_id = re.search(r'id="e(\d+)"', reviewer.get("/percakapan/1").text).group(1)
    assert reviewer.get(f"/percakapan/1/foto/{event_id}").status_code == 403
    admin = console.as_role("admin")
    assert f"/percakapan/1/foto/{event_id}" in admin.get("/percakapan/1").text
    photo = admin.get(f"/percakapan/1/foto/{event_id}")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(photo.content)).size) <= 320  # a thumbnail, not the document
    assert [e.actor for e in console.audit.recent() if e.action == "photo.viewed"] == ["admin"]
    assert admin.get(f"/percakapan/1/foto/{int(event_id) + 1}").status_code == 404


def test_tags_review_note_and_flags(console, writer):
    some_conversations(writer)
    client = console.as_role("reviewer")
    client.get("/percakapan")
    page = client.get("/percakapan/1").text
    assert client.post("/percakapan/1/label", {"label": "Salah Intent"}).status_code == 302
    assert client.post("/percakapan/1/label", {"label": "bagus"}).status_code == 302
    assert client.post("/percakapan/1/label", {"label": "tidak boleh!"}).status_code == 302
    assert "Label hanya huruf kecil" in client.get("/percakapan/1").text
    client.post("/percakapan/1/label", {"label": "bagus", "hapus": "1"})
    client.post("/percakapan/1/ditinjau")
    client.post("/percakapan/1/catatan", {"catatan": "NIK dikenali sebagai inform, perlu contoh."})
    low_message = re.findall(r'id="e(\d+)"', page)[2]
    client.post(f"/percakapan/1/pesan/{low_message}/tandai")
    page = client.get("/percakapan/1").text
    assert "salah-intent" in page and ">bagus<" not in page
    assert "sudah, oleh Staf Reviewer" in page and "perlu contoh" in page  # the name, not the username
    assert f'class="msg user flagged" id="e{low_message}"' in page
    assert ids_on(client.get("/percakapan?label=salah-intent").text) == [1]
    assert ids_on(client.get("/percakapan?ditinjau=ya").text) == [1]
    assert 1 not in ids_on(client.get("/percakapan?ditinjau=tidak").text)
    assert client.post("/percakapan/1/pesan/999999/tandai").status_code == 302
    assert "Hanya pesan pemohon" in client.get("/percakapan/1").text


def test_every_post_needs_the_csrf_token(console, writer):
    some_conversations(writer)
    client = console.as_role("reviewer")
    client.get("/percakapan")
    for path, data in (("/percakapan/1/label", {"label": "x"}), ("/percakapan/1/ditinjau", {}),
                       ("/percakapan/1/catatan", {"catatan": "x"}), ("/percakapan/1/ekspor", {}),
                       ("/percakapan/filter", {"nama": "x", "query": "hasil=booked"})):
        assert client.post(path, data, csrf="forged-" + "x" * 40).status_code == 403
    page = client.get("/percakapan/1").text
    assert "Belum ada label." in page and "belum" in page.split("<dt>Ditinjau</dt>")[1][:30]
    assert not (console.app.ctx.config.stories_dir / "percakapan_1.yml").exists()


def test_saved_filters_belong_to_their_owner(console, writer):
    some_conversations(writer)
    console.add_user("rina", "reviewer")
    client = console.as_role("reviewer")
    client.get("/percakapan?hasil=handoff")
    response = client.post("/percakapan/filter", {"nama": "Minta petugas", "query": "hasil=handoff&bogus=1"})
    assert response.headers["location"] == "/percakapan?hasil=handoff"
    page = client.get("/percakapan").text
    assert 'href="/percakapan?hasil=handoff">Minta petugas</a>' in page
    other = console.client()
    other.login("rina", console.passwords["rina"])
    assert "Minta petugas" not in other.get("/percakapan").text
    filter_id = re.search(r'/percakapan/filter/(\d+)/hapus', page).group(1)
    other.get("/percakapan")
    other.post(f"/percakapan/filter/{filter_id}/hapus")  # not hers: nothing happens
    assert "Minta petugas" in client.get("/percakapan").text
    client.post(f"/percakapan/filter/{filter_id}/hapus")
    assert "Minta petugas" not in client.get("/percakapan").text


def test_staff_of_one_office_see_only_its_conversations(console, writer):
    some_conversations(writer)
    writer.save("6281234567010", session_start(), user("halo", "greet", metadata={"office_id": "tanjung_pinang"}),
                action("utter_greet"), listen())
    office_ids = [o for o in console.service.offices if o != "batam"]
    assert office_ids, "config/offices.yml lists several offices"
    console.add_user("pinang", "reviewer", office_id=office_ids[0])
    client = console.client()
    client.login("pinang", console.passwords["pinang"])
    ids = ids_on(client.get("/percakapan").text)
    assert 1 not in ids
    assert client.get("/percakapan/1").status_code == 403


def test_export_a_reviewed_conversation_as_a_test_story(console, writer):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

    some_conversations(writer)
    client = console.as_role("reviewer")
    client.get("/percakapan")
    client.get("/percakapan/1")
    client.post("/percakapan/1/ekspor")
    assert "Tandai percakapan sudah ditinjau" in client.get("/percakapan/1").text
    client.post("/percakapan/1/ditinjau")
    client.post("/percakapan/1/ekspor")
    assert "Cerita uji ditulis ke tests/reviewed_stories/percakapan_1.yml" in client.get("/percakapan/1").text
    path = console.app.ctx.config.stories_dir / "percakapan_1.yml"
    text = path.read_text()
    assert "Budi Santoso" not in text and "6281234567001" not in text
    [story] = YAMLStoryReader(Domain.load("domain.yml")).read_from_file(str(path))
    steps = [e.as_story_string() for e in story.events if hasattr(e, "as_story_string")]
    assert any("register" in s for s in steps) and any("action_submit_registration" in s for s in steps)
    assert [e.action for e in console.audit.recent() if e.action.startswith("export.")] == ["export.test_story"]


def test_export_replaces_personal_data_with_placeholders(console, writer):
    writer.save("6281234567011", session_start(),
                user("nama saya Siti Rahayu, NIK 3171046509850002, hp 081298765432", "inform", 0.8,
                     metadata={"office_id": "batam"}),
                action("registration_form"), loop("registration_form"), slot("person_name", "Siti Rahayu"),
                slot("nik", "3171046509850002"), listen())
    client = console.as_role("reviewer")
    client.get("/percakapan")
    client.get("/percakapan/1")
    client.post("/percakapan/1/ditinjau")
    client.post("/percakapan/1/ekspor")
    text = (console.app.ctx.config.stories_dir / "percakapan_1.yml").read_text()
    assert "Siti Rahayu" not in text and "3171046509850002" not in text and "081298765432" not in text
    assert "Budi Contoh" in text and "081200000000" in text


def test_list_and_transcript_on_both_databases(console_on_both):
    console = console_on_both
    w = TrackerWriter(console.tracker_url, wib(2026, 12, 1, 7, 40))
    try:
        some_conversations(w)
    finally:
        w.close()
    client = console.as_role("reviewer")
    page = client.get("/percakapan?keyakinan_maks=0.5&urut=keyakinan").text
    ids = ids_on(page)
    assert len(ids) == 2 and "0,21" in page.split("</tr>")[1]
    transcript = client.get(f"/percakapan/{ids[0]}").text
    assert "nlu_fallback" in transcript and "action_fallback" in transcript
    client.post(f"/percakapan/{ids[0]}/label", {"label": "fallback-laut"})
    assert ids_on(client.get("/percakapan?label=fallback-laut").text) == [ids[0]]


def test_large_matches_are_counted_up_to_a_limit_and_paged_by_probing(console_on_both, monkeypatch):
    from antrean.review import query

    monkeypatch.setattr(query, "COUNT_LIMIT", 1)
    monkeypatch.setattr(query, "PROBE_ABOVE", 0)  # every page takes the EXISTS path here
    console = console_on_both
    w = TrackerWriter(console.tracker_url, wib(2026, 12, 1, 7, 40))
    try:
        some_conversations(w)
    finally:
        w.close()
    client = console.as_role("reviewer")
    page = client.get("/percakapan?q=petugas").text  # one handoff message, one bot text (not searched)
    assert "1 percakapan" in page and "Lebih dari" not in page
    page = client.get("/percakapan?intent=inform&q=nik&urut=keyakinan").text
    assert len(ids_on(page)) == 1
    page = client.get("/percakapan?q=pa").text  # "paspor" (two conversations) by prefix
    assert "Lebih dari 1 percakapan" in page and len(ids_on(page)) == 2
    assert client.get("/percakapan").text.count('<a href="/percakapan/') == 3  # no limit without subqueries


def test_the_transcript_shows_what_the_applicant_saw_not_markup_or_payloads(console, writer):
    buttons = [{"title": "Paspor baru", "payload": '/inform{"application_type":"new"}'},
               {"title": "Perpanjang paspor", "payload": '/inform{"application_type":"renewal"}'}]
    wa = {"office_id": "batam"}
    writer.save("6281234567009", session_start(wa), user("daftar", "register", metadata=wa),
                bot("Permohonan paspor *apa* yang Anda ajukan? _Pilih salah satu_", buttons=buttons), listen(),
                # Tapped on WhatsApp: the channel sends the title along.
                user('/inform{"application_type":"renewal"}', "inform", 1.0,
                     metadata={**wa, "button_title": "Perpanjang paspor"}),
                bot("Baik.", buttons=buttons), listen(),
                # Answered without that metadata (a numbered menu, the REST channel): found among the buttons.
                user('/inform{"application_type":"new"}', "inform", 1.0, metadata=wa), listen())
    client = console.as_role("reviewer")
    client.get("/percakapan")
    page = client.get("/percakapan/1").text
    assert "Permohonan paspor <strong>apa</strong> yang Anda ajukan? <em>Pilih salah satu</em>" in page
    shown = re.findall(r'<li class="msg user[^"]*" id="e\d+">.*?<p class="text"[^>]*>(.*?)</p>', page, re.DOTALL)
    assert shown == ["daftar", '<span class="badge">Tombol</span> Perpanjang paspor',
                     '<span class="badge">Tombol</span> Paspor baru']
    assert '>/inform{' not in page and "&gt;/inform" not in page  # payloads only in a tooltip


LAW_TEXT = "Siti Rahayu#5 Maret 1985#Perum Griya Asri Blok B2 No. 14 Batu Aji"
SUMMARY = ("*Periksa data pendaftaran:*\nKantor: Batam\nNama: Siti Rahayu\nTanggal lahir: Selasa, 5 Maret 1985\n"
           "Alamat: Perum Griya Asri Blok B2 No. 14 Batu Aji\nNIK: 2171034503850002\n"
           "Hari datang: Rabu, 2 Desember 2026\n\nSudah benar?")


def law_registration(w, sender="6281234567021"):
    fields = [("person_name", "Siti Rahayu", 0, 11), ("birth_date", "5 Maret 1985", 12, 24),
              ("address", "Perum Griya Asri Blok B2 No. 14 Batu Aji", 25, len(LAW_TEXT))]
    w.save(sender, session_start(),
           user(LAW_TEXT, "register", 1.0, metadata={"office_id": "batam"},
                entities=[{"entity": e, "value": v, "start": s, "end": n} for e, v, s, n in fields]),
           action("registration_form"), loop("registration_form"), slot("person_name", "Siti Rahayu"),
           slot("birth_date", "1985-03-05"), slot("address", "Perum Griya Asri Blok B2 No. 14 Batu Aji"),
           slot("nik", "2171034503850002"), action("action_ask_confirmed"), bot(SUMMARY), listen())
    w.save(sender, user("nama saya siti, bener kak", "affirm", 0.7), listen())


def test_free_text_hides_name_birth_date_and_address_from_reviewers_and_the_full_view_is_audited(console, writer):
    """Issue 15.13: the LAW message, a later message and the confirmation summary were shown whole
    while the same page masked the slots."""
    law_registration(writer)
    reviewer = console.as_role("reviewer")
    reviewer.get("/percakapan")
    page = reviewer.get("/percakapan/1").text
    for secret in ("Siti", "Rahayu", "Maret 1985", "Griya Asri", "Batu Aji", "2171034503850002"):
        assert secret not in page, secret
    for kept in ("Kantor: Batam", "Nama: ", "Hari datang: Rabu, 2 Desember 2026", "Sudah benar?", "bener kak",
                 "NIK: 2171**********02", "#"):
        assert kept in page, kept
    assert reviewer.post("/percakapan/1/buka").status_code == 403
    admin = console.as_role("admin")
    admin.get("/percakapan/1")
    full = admin.post("/percakapan/1/buka").text
    assert LAW_TEXT in full and "Nama: Siti Rahayu" in full and "nama saya siti, bener kak" in full
    assert [e.target for e in console.audit.recent(action="personal_data.viewed")] == ["percakapan:1"]


def test_an_exported_story_keeps_no_birth_date_in_words_nor_typed_address(console, writer):
    """Issue 15.9: only exact stored values were replaced; "lahir 5 maret 1985" and an address typed
    differently from the stored one survived into tests/reviewed_stories/."""
    writer.save("6281234567031", session_start(),
                user("mau daftar, saya lahir 5 maret 1985", "register", 0.8, metadata={"office_id": "batam"}),
                action("registration_form"), loop("registration_form"), slot("birth_date", "1985-03-05"), listen())
    writer.save("6281234567031",
                user("alamat: jl kenanga blok c no 21 rt 3 rw 5 sekupang", "inform", 0.7),
                slot("address", "Jl. Kenanga Blok C No. 21, RT 03/RW 05, Sekupang"), listen())
    writer.save("6281234567031", user("kalau di jln. kenanga blok c no. 21 tiban bisa kak?", "inform", 0.6), listen())
    client = console.as_role("reviewer")
    client.get("/percakapan")
    client.get("/percakapan/1")
    client.post("/percakapan/1/ditinjau")
    client.post("/percakapan/1/ekspor")
    text = (console.app.ctx.config.stories_dir / "percakapan_1.yml").read_text()
    for secret in ("maret", "1985", "kenanga", "Kenanga", "sekupang", "Sekupang", "blok c"):
        assert secret not in text, secret
    assert "saya lahir 17-08-1990" in text and "alamat: Jl. Contoh No. 1, Batam" in text
    assert "mau daftar" in text and "bisa kak?" in text
