"""The counter (call next, served, no-show) and the handoff queue."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from antrean.console.queue import CounterQueue
from antrean.handoff import service as handoff
from tests.builders import make_request
from tests.console.conftest import WEDNESDAY, on_wednesday

# A real server and real database files: not part of `make unit`.
pytestmark = pytest.mark.integration


def checked_in(console, book, *serials):
    bookings = [book(serial) for serial in serials]
    on_wednesday(console, 7, 45)
    for booking in bookings:
        console.service.check_in(booking.code, actor="test")
    return bookings


def counter(console, number: int = 2):
    client = console.as_role("counter")
    client.get(f"/loket?kantor=batam&loket={number}")
    return client


def call_next(client, number: int = 2) -> str:
    response = client.post("/loket/panggil", {"kantor": "batam", "loket": str(number)})
    assert response.status_code == 302
    return client.get(response.headers["location"]).text


def test_call_next_calls_the_lowest_queue_number_of_those_checked_in(console, book):
    first, second = book(1), book(2)
    on_wednesday(console, 7, 45)
    console.service.check_in(second.code, actor="test")
    console.service.check_in(first.code, actor="test")
    client = counter(console)
    page = call_next(client)
    assert "Memanggil A-001 — Budi Santoso ke loket 2." in page
    assert "1</strong> pemohon sudah hadir" in page
    page = call_next(client)
    assert "Memanggil A-002" in page
    [call] = [e for e in console.service.events(first.id) if e["kind"] == "called"]
    assert call["actor"] == "counter"


def test_calling_with_nobody_waiting_says_so(console, book):
    page = call_next(counter(console))
    assert "Belum ada pemohon yang menunggu." in page


def test_served_and_no_show_close_the_booking_and_are_audited(console, book):
    first, second = checked_in(console, book, 1, 2)
    client = counter(console)
    call_next(client)
    call_next(client)
    response = client.post(f"/loket/{first.code}/selesai", {"kantor": "batam", "loket": "2"})
    assert "A-001 selesai dilayani." in client.get(response.headers["location"]).text
    response = client.post(f"/loket/{second.code}/tidak-hadir", {"kantor": "batam", "loket": "2"})
    assert "A-002 ditandai tidak hadir." in client.get(response.headers["location"]).text
    assert console.service.get_by_code(first.code).status.value == "served"
    assert console.service.get_by_code(second.code).status.value == "no_show"
    assert [e.action for e in console.audit.recent(actor="counter") if e.action.startswith("booking.")] == [
        "booking.no_show", "booking.served", "booking.called", "booking.called"]


def test_no_show_only_for_a_booking_of_today_that_was_called(console, book):
    today, later = book(1), book(2, day=WEDNESDAY + timedelta(days=1))
    on_wednesday(console, 7, 45)
    console.service.check_in(today.code, actor="test")
    client = counter(console)
    for booking, label in ((later, "A-001"), (today, "A-001")):  # a later day's queue starts at 1 again
        response = client.post(f"/loket/{booking.code}/tidak-hadir", {"kantor": "batam", "loket": "2"})
        assert f"{label} belum dipanggil ke loket" in client.get(response.headers["location"]).text
    assert console.service.get_by_code(later.code).status.value == "booked"
    assert console.service.get_by_code(today.code).status.value == "checked_in"
    assert console.audit.recent(action="booking.no_show") == []

    call_next(client)
    response = client.post(f"/loket/{today.code}/tidak-hadir", {"kantor": "batam", "loket": "2"})
    assert "A-001 ditandai tidak hadir." in client.get(response.headers["location"]).text
    assert console.service.get_by_code(today.code).status.value == "no_show"


def test_serving_twice_is_refused_clearly(console, book):
    [booking] = checked_in(console, book, 1)
    client = counter(console)
    call_next(client)
    client.post(f"/loket/{booking.code}/selesai", {"kantor": "batam", "loket": "2"})
    response = client.post(f"/loket/{booking.code}/tidak-hadir", {"kantor": "batam", "loket": "2"})
    assert "A-001 tidak bisa diubah: statusnya sudah berubah." in client.get(response.headers["location"]).text


def test_two_counters_calling_at_once_never_call_the_same_applicant(console_on_both):
    console = console_on_both
    bookings = [console.service.book(make_request(serial)) for serial in range(1, 9)]
    on_wednesday(console, 7, 45)
    for booking in bookings:
        console.service.check_in(booking.code, actor="test")
    queue = CounterQueue(console.service.engine, console.service.clock)
    called, barrier = [], threading.Barrier(4)

    def work(label):
        barrier.wait()
        for _ in range(3):
            if (booking := queue.call_next("batam", WEDNESDAY, label, f"staf{label}")) is not None:
                called.append(booking.queue_number)

    threads = [threading.Thread(target=work, args=(str(n),)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(called) == list(range(1, 9))
    assert queue.waiting("batam", WEDNESDAY) == 0


def test_handoff_queue_lists_open_requests_masked_and_marks_them_answered(console):
    now = datetime.fromisoformat("2026-12-01T08:05:00+07:00")
    request_id = handoff.request_handoff(console.service.engine, "6281234567890", "batam", "mau tanya kak", now)
    client = console.as_role("reviewer")
    page = client.get("/bantuan").text
    assert "mau tanya kak" in page
    assert "6281*****7890" in page
    assert "6281234567890" not in page
    response = client.post(f"/bantuan/{request_id}/dijawab")
    assert "Ditandai sudah dijawab." in client.get(response.headers["location"]).text
    assert handoff.open_requests(console.service.engine) == []
    [entry] = console.audit.recent(action="handoff.answered")
    assert (entry.actor, entry.target) == ("reviewer", str(request_id))


def test_an_answered_request_cannot_be_answered_twice(console):
    now = datetime.fromisoformat("2026-12-01T08:05:00+07:00")
    request_id = handoff.request_handoff(console.service.engine, "6281234567890", "batam", "halo", now)
    client = console.as_role("counter")
    client.get("/bantuan")
    client.post(f"/bantuan/{request_id}/dijawab")
    response = client.post(f"/bantuan/{request_id}/dijawab")
    assert "sudah dijawab sebelumnya" in client.get(response.headers["location"]).text


def test_handoff_queue_shows_a_whatsapp_user_by_username(console):
    from antrean.whatsapp.inbox import Inbox
    from antrean.whatsapp.payloads import parse_webhook
    from tests.whatsapp import meta

    bsuid = "ID.1502576394655843"
    message = meta.by_user(meta.text("6281200000001", "mau bicara petugas"), bsuid, phone=False)
    Inbox(console.service.engine).store(parse_webhook(meta.encode(meta.notification(
        meta.messages_value(message, usernames={bsuid: "putri.ayu"})))))
    now = datetime.fromisoformat("2026-12-01T08:05:00+07:00")
    request_id = handoff.request_handoff(console.service.engine, bsuid, "batam", "mau bicara petugas", now)
    client = console.as_role("reviewer")
    for page in (client.get("/bantuan").text, client.get(f"/bantuan/{request_id}").text):
        assert "@putri.ayu" in page and bsuid not in page
