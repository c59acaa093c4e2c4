"""Capacity and queue numbers under real concurrency: separate processes, each with its own
connection pool, racing for the same day. The database is the only referee."""

import multiprocessing
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import select

from antrean.booking.capacity import sessions_for
from antrean.booking.model import BookingRefused, RefusalReason
from antrean.booking.schema import bookings, session_seats
from antrean.booking.service import BookingService
from antrean.runtime.clock import fixed_clock
from antrean.runtime.db import make_engine
from tests.builders import make_request
from tests.conftest import wib

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROCESSES = 40
ATTEMPTS_PER_PROCESS = 5  # 200 attempts in all
SEATS = 50
DAY = date(2026, 12, 2)


def _attempts(worker: int) -> list[int]:
    # 200 attempts over 160 NIKs: 40 NIKs are tried twice, from another number, to race the NIK rule.
    return [(worker * ATTEMPTS_PER_PROCESS + i) % 160 + 1 for i in range(ATTEMPTS_PER_PROCESS)]


def _worker(url, offices, codes, worker, start, results):
    service = BookingService(make_engine(url), offices, fixed_clock(wib(2026, 12, 1, 7, 30)), codes)
    start.wait()
    outcome = []
    for serial in _attempts(worker):
        request = make_request(serial=serial, day=DAY, whatsapp_number=f"628{worker:03d}{serial:07d}")
        try:
            booking = service.book(request)
            outcome.append(("booked", booking.queue_number))
        except BookingRefused as refused:
            outcome.append((refused.reason.value, None))
        except Exception as error:  # any other failure must fail the test, with its text
            outcome.append(("error", repr(error)))
    service.engine.dispose()
    results.put(outcome)


def test_two_hundred_processes_never_overbook_fifty_seats(database_url, offices, codes):
    fifty = {"batam": offices["batam"].copy(update={"daily_quota": SEATS})}
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    workers = [
        context.Process(target=_worker, args=(database_url, fifty, codes, w, start, results))
        for w in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    start.set()
    outcomes = [item for _ in workers for item in results.get(timeout=300)]
    for process in workers:
        process.join(timeout=60)

    kinds = Counter(kind for kind, _ in outcomes)
    assert kinds["error"] == 0, [detail for kind, detail in outcomes if kind == "error"][:3]
    assert kinds["booked"] == SEATS
    assert set(kinds) <= {"booked", RefusalReason.QUOTA_FULL.value, RefusalReason.NIK_ALREADY_BOOKED.value}

    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(select(bookings.c.queue_number, bookings.c.nik).where(bookings.c.day == DAY)).all()
        seats = dict(connection.execute(
            select(session_seats.c.session_start, session_seats.c.booked).where(session_seats.c.day == DAY)
        ).all())
    engine.dispose()
    assert len(rows) == SEATS
    assert sorted(r.queue_number for r in rows) == list(range(1, SEATS + 1))
    assert len({r.nik for r in rows}) == SEATS
    assert sum(seats.values()) == SEATS
    capacity = {s.start: s.capacity for s in sessions_for(fifty["batam"], DAY)}
    assert all(seats[start] <= capacity[start] for start in seats)
    assert sorted(n for kind, n in outcomes if kind == "booked") == list(range(1, SEATS + 1))
