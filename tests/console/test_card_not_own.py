"""Someone else's e-KTP, as staff see it: the flagged conversation and the dashboard's count, the
release of a NIK a stranger booked with (reason required, audited), and the birth date at the door."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from antrean.booking.offices import load_offices
from antrean.console import dashboard
from antrean.review.derive import summarise
from tests.builders import make_request
from tests.conftest import wib
from tests.console.conftest import WEDNESDAY, on_wednesday
from tests.review.test_derive import events_of, rasa
from tests.review.tracker_writer import TrackerWriter, action, bot, listen, loop, session_start, slot, user

pytestmark = pytest.mark.integration


def test_a_refused_card_becomes_a_facet_of_the_conversation():
    events = rasa()
    conversation = summarise(events_of(
        events.UserUttered("Budi#17-08-1990#Jl. Raya 12", {"name": "inform", "confidence": 0.99}),
        events.SlotSet("card_mismatch", "birth_date"), events.SlotSet("registration_blocked", True),
        events.SlotSet("card_mismatch", None)), load_offices())
    assert ("slot", "card_mismatch", "birth_date") in conversation.facets
    assert conversation.outcome == "refused"


def test_staff_see_the_flag_in_the_list_the_transcript_and_the_dashboard(console):
    writer = TrackerWriter(console.tracker_url, wib(2026, 12, 1, 7, 40))
    try:
        writer.save("6283333333333", session_start(),
                    user("Siti Aminah#02-03-1985#Jl. Merdeka 5", "inform", 0.99, metadata={"office_id": "batam"}),
                    action("registration_form"), loop("registration_form"), slot("card_mismatch", "name"),
                    slot("registration_blocked", True),
                    bot("Maaf, nama yang Anda tulis berbeda dengan nama pada foto e-KTP."), loop(None),
                    action("action_submit_registration"), slot("card_mismatch", None), listen())
        writer.tick(60)
        writer.save("6284444444444", session_start(),
                    user("jam buka?", "ask_hours", 0.9, metadata={"office_id": "batam"}), listen())
    finally:
        writer.close()
    client = console.as_role("reviewer")
    listed = client.get("/percakapan").text
    assert listed.count('class="tag card-mismatch"') == 1
    filtered = client.get("/percakapan?slot=card_mismatch").text
    [conversation] = [int(n) for n in re.findall(r'<a href="/percakapan/(\d+)">', filtered)]
    page = client.get(f"/percakapan/{conversation}").text
    assert 'id="card-mismatch"' in page and "nama yang ditulis jelas berbeda dengan e-KTP" in page
    office = console.service.office("batam")
    day = date(2026, 12, 1)
    assert dashboard.card_mismatches(console.service.engine, office, day, day) == 1
    board = client.get("/dasbor?kantor=batam&dari=2026-12-01&sampai=2026-12-02").text
    assert 'Ditolak karena e-KTP bukan milik pemohon: <strong class="mono">1</strong>' in board
    assert "slot=card_mismatch" in board


def test_staff_release_a_nik_booked_by_a_stranger_with_a_reason_that_is_audited(console, book):
    taken = book(1)
    client = console.as_role("counter")
    client.get(f"/pemesanan/{taken.code}")
    short = client.post(f"/pemesanan/{taken.code}/lepas", {"alasan": "salah"})
    assert short.status_code == 302
    assert "Tulis alasan" in client.get(short.headers["location"]).text
    assert console.service.get_by_code(taken.code).status.value == "booked"

    reason = "Pemilik NIK datang dengan e-KTP asli; nama di booking berbeda"
    released = client.post(f"/pemesanan/{taken.code}/lepas", {"alasan": reason})
    assert released.status_code == 302
    assert "NIK-nya dilepas" in client.get(released.headers["location"]).text
    assert console.service.get_by_code(taken.code).status.value == "cancelled"
    assert [e["kind"] for e in console.service.events(taken.id)] == ["booked", "released"]
    [entry] = console.audit.recent(action="booking.released")
    assert entry.actor == "counter" and entry.target == taken.code and entry.detail["reason"] == reason
    assert taken.applicant.nik not in str(entry.detail)
    # The owner can book with their NIK now.
    console.clock.moment = datetime.fromisoformat("2026-12-01T08:30:00+07:00")
    mine = console.service.book(make_request(serial=1, day=WEDNESDAY, whatsapp_number="6285555555555"))
    assert mine.applicant.nik == taken.applicant.nik and mine.is_active


def test_only_staff_who_may_see_personal_data_release_and_only_a_booking_not_yet_checked_in(console, book):
    taken = book(1)
    reason = "Pemilik NIK datang dengan e-KTP asli; nama di booking berbeda"
    assert console.as_role("security").post(f"/pemesanan/{taken.code}/lepas", {"alasan": reason}).status_code == 403
    assert console.as_role("reviewer").post(f"/pemesanan/{taken.code}/lepas", {"alasan": reason}).status_code == 403
    on_wednesday(console, 7, 45)
    console.service.check_in(taken.code, actor="satpam")
    client = console.as_role("admin")
    answer = client.post(f"/pemesanan/{taken.code}/lepas", {"alasan": reason})
    assert "belum check-in" in client.get(answer.headers["location"]).text
    assert console.service.get_by_code(taken.code).status.value == "checked_in"


def test_the_door_shows_the_bookings_birth_date_beside_the_name(console, book):
    booking = book(1)
    on_wednesday(console, 7, 45)
    client = console.as_role("security")
    client.get("/pintu?kantor=batam")
    answer = client.post("/pintu", {"kode": booking.code, "kantor": "batam"})
    page = client.get(answer.headers["location"]).text
    assert "Budi Santoso" in page and "Tanggal lahir" in page and "17 Agustus 1990" in page
