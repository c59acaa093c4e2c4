"""Practice offices (issue 15.5, issue 16 §3), on SQLite and PostgreSQL: simulator bookings never take
a real seat, a real quota or a real applicant's NIK; practice works at any hour and any day, stays
out of every real list and count, and is deleted after a while."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from antrean.booking.model import BookingRefused, BookingStatus, RefusalReason
from antrean.booking.offices import office_from_metadata, practice_id
from antrean.booking.schema import bookings, queue_days, sender_quotas, session_seats
from antrean.console.dashboard import registrations_vs_quota
from antrean.console.search import search_bookings
from tests.builders import make_nik, make_request
from tests.conftest import wib

pytestmark = pytest.mark.integration

WED = date(2026, 12, 2)
TODAY = date(2026, 12, 1)  # the clock fixture: Tuesday 08:00 WIB
PRACTICE = practice_id("batam")


def simulator(n: int) -> str:
    return f"6280000001{n % 1000:03d}"


def practice_request(serial: int = 1, number: int = 1, day: date = TODAY, **overrides):
    return make_request(serial=serial, office_id=PRACTICE, day=day, whatsapp_number=simulator(number), **overrides)


def with_quota(offices, quota: int) -> dict:
    return {"batam": offices["batam"].copy(update={"daily_quota": quota})}


def real_seats(service) -> int:
    with service.engine.connect() as connection:
        return connection.execute(select(func.coalesce(func.sum(session_seats.c.booked), 0)).where(
            session_seats.c.office_id == "batam")).scalar_one()


def test_a_simulator_booking_leaves_the_last_seat_to_a_real_applicant(make_service, database_url, offices):
    service = make_service(database_url, offices_override=with_quota(offices, 3))
    service.book(make_request(serial=1, day=WED))
    service.book(make_request(serial=2, day=WED))
    assert service.availability("batam", [WED])[0].left == 1
    # The simulator books with the very NIK the last real applicant will use: nothing of it is real.
    practised = service.book(practice_request(serial=3))
    assert (practised.office_id, practised.day, practised.queue_number) == (PRACTICE, TODAY, 1)
    assert service.availability("batam", [WED])[0].left == 1
    last = service.book(make_request(serial=3, day=WED))
    assert last.office_id == "batam" and service.availability("batam", [WED])[0].left == 0
    with pytest.raises(BookingRefused) as refused:
        service.book(make_request(serial=4, day=WED))
    assert refused.value.reason is RefusalReason.QUOTA_FULL


def test_thousands_of_simulator_bookings_do_not_touch_real_capacity_or_quota(make_service, database_url):
    service = make_service(database_url)
    nik = make_nik(date(1990, 8, 17), serial=1)
    before = [(d.day, d.left) for d in service.availability("batam")]
    booked = refused = 0
    for n in range(1000):  # 200 simulator numbers × 5 each: the per-number limit of every one of them
        try:
            service.book(practice_request(serial=1, number=n // 5, request_key=f"sim-{n}"))
            booked += 1
        except BookingRefused as error:
            assert error.reason is RefusalReason.QUOTA_FULL
            refused += 1
    practice_capacity = service.availability(PRACTICE)[0].capacity
    assert booked == practice_capacity and refused == 1000 - practice_capacity  # practice is full, only practice
    assert [(d.day, d.left) for d in service.availability("batam")] == before
    assert real_seats(service) == 0
    # The NIK the simulator used a thousand times still books for real, and every real seat is there.
    real = service.book(make_request(serial=1, day=WED, whatsapp_number="6281200000001"))
    assert real.applicant.nik == nik and service.get_active_by_nik(nik) == real
    with service.engine.connect() as connection:
        real_quota = connection.execute(select(sender_quotas.c.active).where(
            sender_quotas.c.whatsapp_number == "6281200000001")).scalar_one()
    assert real_quota == 1


def test_practice_registers_and_checks_in_at_any_hour_of_any_day(service, clock):
    clock.moment = wib(2026, 12, 6, 21, 30)  # a Sunday evening: the real office is closed
    with pytest.raises(BookingRefused) as closed:
        service.book(make_request(day=date(2026, 12, 7)))
    assert closed.value.reason is RefusalReason.OUTSIDE_WINDOW
    assert service.registration_open(PRACTICE) and not service.registration_open("batam")
    assert not service.registration_open(None)  # "any office open?" asks about real offices only
    practised = service.book(practice_request(day=date(2026, 12, 6)))
    assert practised.day == date(2026, 12, 6)
    clock.moment = wib(2026, 12, 7, 0, 30)  # after midnight: another day, still let in
    checked_in, _ = service.check_in(practised.code, "satpam")
    assert checked_in.status is BookingStatus.CHECKED_IN


def test_practice_stays_out_of_real_lists_and_counts(service, offices):
    real = service.book(make_request(serial=1, day=WED))
    practised = service.book(practice_request(serial=2))
    assert [b.code for b in service.day_list("batam", WED)] == [real.code]
    assert service.day_list("batam", TODAY) == []
    assert search_bookings(service.engine, service.codes, "batam", "budi") == [real]
    fills = registrations_vs_quota(service.engine, offices["batam"], service.calendar("batam"), TODAY, WED)
    assert [(f.day, f.booked) for f in fills] == [(TODAY, 0), (WED, 1)]
    assert [b.code for b in service.day_list(PRACTICE, TODAY)] == [practised.code]
    assert set(service.offices) == set(offices) and PRACTICE not in service.offices


def test_practice_bookings_are_deleted_after_their_hours_with_their_seats_and_quota(service, clock):
    old = service.book(practice_request(serial=1, number=1, photo_ref="photo:" + "a" * 32))
    service.check_in(old.code, "satpam")
    real = service.book(make_request(serial=3, day=WED))
    clock.moment += timedelta(hours=5)
    fresh = service.book(practice_request(serial=2, number=2))
    assert service.purge_practice(clock.moment - timedelta(hours=4)) == ["photo:" + "a" * 32]
    assert service.get_by_code(old.code) is None and service.get_by_code(fresh.code) is not None
    assert service.get_by_code(real.code) is not None
    assert service.availability(PRACTICE)[0].sessions[0].booked == 1  # only the fresh one's seat
    with service.engine.connect() as connection:
        quotas = dict(connection.execute(select(sender_quotas.c.whatsapp_number, sender_quotas.c.active)).all())
    assert quotas[simulator(1)] == 0 and quotas[simulator(2)] == 1
    assert service.purge_practice(clock.moment + timedelta(minutes=1)) == [None]
    with service.engine.connect() as connection:
        left = {table.name: connection.execute(select(func.count()).select_from(table).where(
            table.c.office_id == PRACTICE)).scalar_one() for table in (bookings, session_seats, queue_days)}
    assert left == {"bookings": 0, "session_seats": 0, "queue_days": 0}
    assert service.purge_practice(clock.moment + timedelta(hours=1)) == []
    assert service.book(practice_request(serial=4, number=3)).queue_number == 1


def test_a_simulator_conversation_names_the_practice_twin(offices):
    batam = offices["batam"].whatsapp_phone_number_ids[0]
    assert office_from_metadata({"phone_number_id": batam}, offices) == "batam"
    assert office_from_metadata({"phone_number_id": batam, "practice": True}, offices) == PRACTICE
    assert office_from_metadata({"office_id": "bogor", "practice": True}, offices) == "latihan-bogor"
    assert office_from_metadata({"office_id": "latihan-bogor"}, offices) == "latihan-bogor"
    assert office_from_metadata({"office_id": "latihan-nowhere"}, offices) is None
