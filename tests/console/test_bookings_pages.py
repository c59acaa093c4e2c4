"""The bookings area: quota fill, the day list, search, revealing personal data, photo, export."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from PIL import Image

from antrean.identity import mask_msisdn, mask_nik
from tests.conftest import wib
from tests.console.conftest import on_wednesday

# A real server and real database files: not part of `make unit`.
pytestmark = pytest.mark.integration


def test_day_list_shows_each_booking_with_nik_and_number_masked(console, book):
    first, second = book(1), book(2, full_name="siti rahayu")
    page = console.as_role("counter").get("/pemesanan?kantor=batam&tanggal=2026-12-02").text
    for booking in (first, second):
        assert booking.code in page
        assert booking.applicant.full_name in page
        assert mask_nik(booking.applicant.nik) in page
        assert booking.applicant.nik not in page
        assert mask_msisdn(booking.whatsapp_number) in page
        assert booking.whatsapp_number not in page
    assert "A-001" in page and "A-002" in page
    assert "Terdaftar: 2" in page


def test_quota_fill_is_shown_per_session(console, book):
    book(1)
    book(2)
    page = console.as_role("admin").get("/pemesanan?kantor=batam&tanggal=2026-12-02").text
    assert "2 / 36 terisi" in page  # 08:00–09:00 holds both
    assert "0 / 35 terisi" in page  # the afternoon sessions
    assert "Total 2 dari 250 kursi terisi." in page


def test_a_closed_day_says_why(console):
    page = console.as_role("admin").get("/pemesanan?kantor=batam&tanggal=2026-12-25").text
    assert "Kantor tutup" in page


@pytest.mark.parametrize("how", ["code", "code_lowercase", "name", "number_local", "nik"])
def test_search_finds_a_booking_by_code_name_number_or_nik(console, book, how):
    book(1)
    wanted = book(2, full_name="siti rahayu", whatsapp_number="6281377778888")
    query = {
        "code": wanted.code,
        "code_lowercase": wanted.code.lower().replace("-", " "),
        "name": "rahay",
        "number_local": "0813-7777-8888",
        "nik": wanted.applicant.nik,
    }[how]
    response = console.as_role("counter").post("/pemesanan/cari?kantor=batam", {"q": query})
    assert response.status_code == 200
    page = response.text
    assert wanted.code in page
    assert "Budi Santoso" not in page
    assert wanted.applicant.nik not in page  # searching by NIK does not print it in full


def test_search_with_no_match_says_so(console, book):
    book(1)
    page = console.as_role("counter").post("/pemesanan/cari?kantor=batam", {"q": "tidak ada"}).text
    assert "Tidak ada booking yang cocok." in page


def test_search_needs_the_csrf_token_like_every_form(console, book):
    book(1)
    assert console.as_role("counter").post("/pemesanan/cari", {"q": "budi"}, csrf="x").status_code == 403


def test_booking_detail_is_masked_and_shows_the_history(console, book):
    booking = book(1)
    page = console.as_role("counter").get(f"/pemesanan/{booking.code}").text
    assert mask_nik(booking.applicant.nik) in page
    assert booking.applicant.nik not in page
    assert booking.applicant.address not in page
    assert "Didaftarkan" in page


def test_revealing_full_data_shows_it_and_writes_an_audit_entry(console, book):
    booking = book(1)
    client = console.as_role("counter")
    client.get(f"/pemesanan/{booking.code}")
    page = client.post(f"/pemesanan/{booking.code}/buka").text
    assert booking.applicant.nik in page
    assert booking.whatsapp_number in page
    assert booking.applicant.address in page
    [entry] = console.audit.recent(action="personal_data.viewed")
    assert (entry.actor, entry.target, entry.office_id) == ("counter", booking.code, "batam")
    assert "Melihat data pribadi lengkap" in console.as_role("admin").get("/audit").text


def test_reveal_without_a_valid_token_shows_nothing_and_logs_nothing(console, book):
    booking = book(1)
    client = console.as_role("admin")
    response = client.post(f"/pemesanan/{booking.code}/buka", csrf="stolen")
    assert response.status_code == 403
    assert booking.applicant.nik not in response.text
    assert console.audit.recent(action="personal_data.viewed") == []


def test_the_id_photo_is_served_only_with_an_audit_entry(console, tmp_path):
    store = console.app.ctx.media()
    image = io.BytesIO()
    Image.new("RGB", (640, 400), (200, 180, 150)).save(image, "JPEG")
    ref = store.save_id_photo(image.getvalue(), owner="6281200000001")
    from tests.builders import make_request

    booking = console.service.book(make_request(1, photo_ref=ref))
    assert console.as_role("security").get(f"/pemesanan/{booking.code}/foto").status_code == 403
    response = console.as_role("counter").get(f"/pemesanan/{booking.code}/foto")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content[:2] == b"\xff\xd8"
    [entry] = console.audit.recent(action="photo.viewed")
    assert entry.target == booking.code


def test_csv_export_is_masked_and_audited(console, book):
    booking = book(1)
    response = console.as_role("counter").get("/pemesanan/ekspor.csv?kantor=batam&tanggal=2026-12-02")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="antrean-batam-2026-12-02.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows == [{
        "antrean": "A-001", "sesi": "08:00", "kode": booking.code, "nama": "Budi Santoso",
        "nik": mask_nik(booking.applicant.nik), "jenis": "new", "anak": "tidak",
        "whatsapp": mask_msisdn(booking.whatsapp_number), "status": "Terdaftar", "hadir_pukul": "",
    }]
    [entry] = console.audit.recent(action="export.day_list")
    assert (entry.actor, entry.target, entry.detail) == ("counter", "2026-12-02", {"rows": 1})


def test_day_list_shows_check_in_time_in_the_office_time_zone(console, book):
    booking = book(1)
    on_wednesday(console, 7, 40)
    console.service.check_in(booking.code, actor="test")
    page = console.as_role("admin").get("/pemesanan?kantor=batam").text
    assert "Sudah hadir" in page
    assert "07.40" in page
    assert date(2026, 12, 2).isoformat() in page


def test_the_history_names_who_did_it_as_people_read_it(console, book):
    booking, other = book(1), book(2)
    console.service.cancel(other.code, actor=f"wa:{other.whatsapp_number}")  # cancelled over WhatsApp
    on_wednesday(console, 7, 45)
    console.service.check_in(booking.code, actor="security")
    counter = console.as_role("counter")
    counter.get("/loket?kantor=batam&loket=2")
    counter.post("/loket/panggil", {"kantor": "batam", "loket": "2"})
    history = console.as_role("admin").get(f"/pemesanan/{booking.code}").text.split("Riwayat", 1)[1]
    assert "Didaftarkan oleh pemohon" in history
    assert "Check-in di pintu oleh Staf Security" in history  # the officer's name, not "security"
    assert "Dipanggil ke loket oleh Staf Counter" in history
    cancelled = console.as_role("admin").get(f"/pemesanan/{other.code}").text.split("Riwayat", 1)[1]
    assert "Dibatalkan oleh pemohon" in cancelled
    assert "wa:" not in cancelled and other.whatsapp_number not in cancelled
    at_counter = counter.get("/loket?kantor=batam&loket=2").text
    assert re.search(r"dipanggil \d\d[.:]\d\d oleh Staf Counter<", at_counter)


def test_the_day_summary_has_no_stray_separator(console, book):
    client = console.as_role("counter")
    empty = client.get("/pemesanan?kantor=batam&tanggal=2026-12-03").text
    assert re.search(r'id="ringkasan">0 booking</p>', empty)
    book(1)
    book(2)
    two = client.get("/pemesanan?kantor=batam&tanggal=2026-12-02").text
    assert 'id="ringkasan">2 booking · Terdaftar: 2</p>' in two


def test_the_audit_log_is_in_each_offices_time_with_its_zone_not_utc(console):
    console.clock.moment = wib(2026, 12, 1, 8, 0) + timedelta(seconds=5)
    console.audit.record("counter", "export.day_list", target="2026-12-02", office_id="batam")
    console.audit.record("counter", "export.day_list", target="2026-12-02", office_id="denpasar")
    console.audit.record("counter", "nlu.exported")  # no office: the staff member's, else the first
    page = console.as_role("admin").get("/audit").text
    times = re.findall(r'<td data-label="Waktu" class="mono">([^<]*)</td>', page)
    assert "01-12-2026 08.00.05 WIB" in times  # Batam and the entry without an office
    assert "01-12-2026 09.00.05 WITA" in times  # Denpasar is an hour ahead
    assert "UTC" not in page and "01-12-2026 01.00" not in page


def test_whatsapp_users_are_shown_by_username_or_masked_number_and_found_by_bsuid(console, book):
    """A user who adopted a username (no number shared) books under their BSUID; one known by
    number also has a BSUID. Lists show the username or the masked number, never a raw id."""
    from antrean.whatsapp.inbox import Inbox
    from antrean.whatsapp.payloads import parse_webhook
    from tests.whatsapp import meta

    inbox = Inbox(console.service.engine)
    hidden, known = "ID.1502576394655843", "ID.7712093344556677"
    for message, usernames in ((meta.by_user(meta.text("6281200000001", "halo"), hidden, phone=False),
                                {hidden: "putri.ayu"}),
                               (meta.text("6281377778888", "halo"), None),  # known by number before BSUIDs
                               (meta.by_user(meta.text("6281377778888", "lagi"), known), None)):
        inbox.store(parse_webhook(meta.encode(meta.notification(meta.messages_value(message, usernames=usernames)))))
    by_username = book(1, whatsapp_number=hidden)
    by_number = book(2, full_name="siti rahayu", whatsapp_number="6281377778888")
    client = console.as_role("counter")
    page = client.get("/pemesanan?kantor=batam&tanggal=2026-12-02").text
    assert "@putri.ayu" in page and mask_msisdn("6281377778888") in page
    for raw in (hidden, known, "6281377778888"):
        assert raw not in page
    detail = client.get(f"/pemesanan/{by_username.code}").text
    assert "@putri.ayu" in detail and hidden not in detail
    for query, wanted in ((hidden, by_username), ("@putri.ayu", by_username), (known, by_number)):
        found = client.post("/pemesanan/cari?kantor=batam", {"q": query}).text
        assert wanted.code in found and hidden not in found and known not in found  # the query echoed masked
