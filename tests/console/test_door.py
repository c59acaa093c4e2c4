"""The door: check-in by code, with clear Indonesian refusals."""

from __future__ import annotations

from datetime import date

import pytest

from tests.console.conftest import on_wednesday

# A real server and real database files: not part of `make unit`.
pytestmark = pytest.mark.integration


def door(console):
    client = console.as_role("security")
    client.get("/pintu?kantor=batam")
    return client


def check_in(client, code: str, office: str = "batam") -> str:
    response = client.post("/pintu", {"kode": code, "kantor": office})
    assert response.status_code == 302
    assert response.headers["location"] == f"/pintu?kantor={office}"
    return client.get(response.headers["location"]).text


@pytest.mark.parametrize(("hour", "minute", "verdict"), [
    (7, 10, "Datang lebih awal"), (7, 45, "Tepat waktu"), (8, 20, "Terlambat"),
])
def test_check_in_shows_name_masked_nik_session_and_punctuality(console, book, hour, minute, verdict):
    booking = book(1)
    on_wednesday(console, hour, minute)
    page = check_in(door(console), booking.code.lower())
    assert f"Check-in berhasil — {verdict}." in page
    assert "Budi Santoso" in page
    assert "2171**********01" in page
    assert booking.applicant.nik not in page
    assert "08.00–09.00" in page
    assert "A-001" in page
    assert console.service.get_by_code(booking.code).status.value == "checked_in"


def test_check_in_is_recorded_in_the_audit_log_and_the_booking_history(console, book):
    booking = book(1)
    on_wednesday(console, 7, 45)
    check_in(door(console), booking.code)
    [entry] = console.audit.recent(action="booking.checked_in")
    assert (entry.actor, entry.target, entry.detail) == ("security", booking.code, {"punctuality": "on_time"})
    assert [e["kind"] for e in console.service.events(booking.id)] == ["booked", "checked_in"]


def test_the_message_is_shown_once(console, book):
    booking = book(1)
    on_wednesday(console, 7, 45)
    client = door(console)
    assert "Check-in berhasil" in check_in(client, booking.code)
    assert "Check-in berhasil" not in client.get("/pintu?kantor=batam").text


def test_a_code_for_another_day_is_refused_with_that_day(console, book):
    booking = book(1, day=date(2026, 12, 3))
    on_wednesday(console, 7, 45)
    page = check_in(door(console), booking.code)
    assert "Booking ini untuk Kamis, 3 Desember 2026, bukan hari ini." in page
    assert console.service.get_by_code(booking.code).status.value == "booked"


def test_a_cancelled_booking_is_refused(console, book):
    booking = book(1)
    console.service.cancel(booking.code)
    on_wednesday(console, 7, 45)
    page = check_in(door(console), booking.code)
    assert "Booking ini sudah dibatalkan." in page


def test_a_forged_code_is_refused_as_not_issued_by_antrean(console, book, codes):
    booking = book(1)
    forged = booking.code[:-1] + ("A" if booking.code[-1] != "A" else "B")
    on_wednesday(console, 7, 45)
    page = check_in(door(console), forged)
    assert "Kode ini tidak sah: bukan kode yang diterbitkan Antrean" in page


def test_a_genuine_looking_code_that_was_never_booked_is_refused(console, codes):
    on_wednesday(console, 7, 45)
    page = check_in(door(console), codes.new())
    assert "Kode ini tidak terdaftar." in page


def test_text_that_is_not_a_code_is_refused(console):
    on_wednesday(console, 7, 45)
    page = check_in(door(console), "halo pak")
    assert "Format kode tidak dikenali." in page


def test_a_booking_for_another_office_is_refused(console, book):
    booking = book(1)
    on_wednesday(console, 7, 45)
    client = console.as_role("security")
    page = check_in(client, booking.code, office="bogor")
    assert "Booking ini untuk Kantor Imigrasi Kelas I Khusus TPI Batam, bukan kantor ini." in page


def test_checking_in_twice_says_when_they_came_in(console, book):
    booking = book(1)
    on_wednesday(console, 7, 41)
    client = door(console)
    check_in(client, booking.code)
    page = check_in(client, booking.code)
    assert "Pemohon ini sudah masuk pukul 07.41." in page
    assert len(console.audit.recent(action="booking.checked_in")) == 1


def test_admins_may_check_in_too(console, book):
    booking = book(1)
    on_wednesday(console, 7, 45)
    client = console.as_role("admin")
    client.get("/pintu")
    assert "Check-in berhasil" in check_in(client, booking.code)


def test_the_door_page_offers_the_camera_scanner_as_an_enhancement_only(console):
    page = console.as_role("security").get("/pintu").text
    assert '<script src="/static/scan.js" defer></script>' in page
    # The scan button shows only where the script finds a camera and BarcodeDetector; otherwise the
    # script says why (tests/console/test_office_network.py). Typing the code works without it.
    assert 'id="scan-start" hidden' in page and 'id="scan-unavailable" hidden' in page
    script = console.client().get("/static/scan.js")
    assert script.status_code == 200
    assert "BarcodeDetector" in script.text
