"""The booking rules, on SQLite and on PostgreSQL."""

from dataclasses import replace
from datetime import date, time

import pytest

from antrean.booking.model import ApplicationType, BookingRefused, BookingStatus, RefusalReason
from tests.builders import make_nik, make_request
from tests.conftest import wib

pytestmark = pytest.mark.integration

WED, THU, FRI = date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4)


def refusal(call, *args, **kwargs) -> BookingRefused:
    with pytest.raises(BookingRefused) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_booking_gets_the_first_queue_number_and_the_earliest_session(service):
    booking = service.book(make_request())
    assert booking.queue_label("A") == "A-001"
    assert booking.session_start == time(8, 0)
    assert booking.status is BookingStatus.BOOKED
    assert booking.applicant.full_name == "Budi Santoso"
    assert booking.applicant.application_type is ApplicationType.NEW
    assert not booking.applicant.is_minor
    assert service.codes.is_authentic(booking.code)
    stored = service.get_by_code(booking.code)
    assert stored == booking


def test_queue_numbers_count_up_per_office_and_day(service):
    first = service.book(make_request(serial=1))
    second = service.book(make_request(serial=2))
    other_day = service.book(make_request(serial=3, day=THU))
    other_office = service.book(make_request(serial=4, office_id="bogor"))
    assert [first.queue_number, second.queue_number] == [1, 2]
    assert other_day.queue_number == 1
    assert other_office.queue_number == 1


def test_a_minor_is_flagged_from_the_birth_date(service):
    child = service.book(make_request(birth=date(2015, 3, 9)))
    assert child.applicant.is_minor


def test_registration_outside_the_window_is_refused_with_the_next_opening(service, clock):
    clock.moment = wib(2026, 12, 1, 10, 0)
    refused = refusal(service.book, make_request())
    assert refused.reason is RefusalReason.OUTSIDE_WINDOW
    assert refused.facts["next_opening"] == wib(2026, 12, 2, 7, 30)


def test_only_the_next_working_days_can_be_booked(service):
    for day in (date(2026, 12, 1), date(2026, 12, 5), date(2026, 12, 7)):
        refused = refusal(service.book, make_request(day=day))
        assert refused.reason is RefusalReason.DAY_NOT_BOOKABLE
        assert refused.facts["bookable_days"] == [WED, THU, FRI]


def test_an_unknown_office_or_session_is_refused(service):
    assert refusal(service.book, make_request(office_id="medan")).reason is RefusalReason.UNKNOWN_OFFICE
    unknown = refusal(service.book, make_request(session_start=time(12, 0)))
    assert unknown.reason is RefusalReason.SESSION_UNKNOWN


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"nik": "123"}, "nik_length"),
        ({"nik": make_nik(date(1991, 8, 17))}, "nik_birth_date_mismatch"),
        ({"full_name": "B4di"}, "name_characters"),
        ({"address": "Batam"}, "address_too_short"),
        ({"birth_date": "31-02-1990"}, "date_impossible"),
        ({"application_type": "lost"}, "application_type"),
        ({"whatsapp_number": "12"}, "phone_invalid"),
    ],
)
def test_invalid_data_is_refused_with_the_field_code_and_nothing_is_written(service, overrides, code):
    refused = refusal(service.book, make_request(**overrides))
    assert refused.reason is RefusalReason.INVALID_DATA
    assert refused.facts["code"] == code
    assert service.day_list("batam", WED) == []
    assert all(day.left == day.capacity for day in service.availability("batam"))


def test_one_active_booking_per_nik_across_offices(service):
    service.book(make_request(serial=7, whatsapp_number="6281111111111"))
    elsewhere = refusal(service.book, make_request(serial=7, office_id="tangerang", whatsapp_number="6282222222222"))
    assert elsewhere.reason is RefusalReason.NIK_ALREADY_BOOKED
    assert elsewhere.facts["office_id"] == "batam"
    assert elsewhere.facts["day"] == WED
    other_day = refusal(service.book, make_request(serial=7, day=THU, whatsapp_number="6281111111111"))
    assert other_day.reason is RefusalReason.NIK_ALREADY_BOOKED
    assert other_day.facts["same_sender"] is True


def test_the_same_request_repeated_returns_the_same_booking(service):
    first = service.book(make_request(serial=3))
    again = service.book(make_request(serial=3))
    assert again.code == first.code and again.queue_number == first.queue_number
    keyed = service.book(make_request(serial=4, request_key="wamid.ABC"))
    assert service.book(make_request(serial=4, request_key="wamid.ABC")).code == keyed.code
    assert len(service.day_list("batam", WED)) == 2


def test_a_whatsapp_number_may_hold_five_active_bookings(service):
    family = "6281234500000"
    for serial in range(1, 6):
        service.book(make_request(serial=serial, whatsapp_number=family))
    sixth = refusal(service.book, make_request(serial=6, whatsapp_number=family))
    assert sixth.reason is RefusalReason.NUMBER_LIMIT
    assert sixth.facts["limit"] == 5
    service.cancel(service.get_by_whatsapp_number(family)[0].code, whatsapp_number=family)
    assert service.book(make_request(serial=6, whatsapp_number=family)).status is BookingStatus.BOOKED


def test_a_whatsapp_user_without_a_shared_number_books_under_their_bsuid_with_the_same_limit(service):
    bsuid = "ID.1502576394655843"  # a user who adopted a username: WhatsApp gives no number
    for serial in range(1, 6):
        assert service.book(make_request(serial=serial, whatsapp_number=bsuid)).whatsapp_number == bsuid
    assert refusal(service.book, make_request(serial=6, whatsapp_number=bsuid)).reason is RefusalReason.NUMBER_LIMIT
    assert len(service.get_by_whatsapp_number(bsuid)) == 5
    assert refusal(service.book, make_request(serial=7, whatsapp_number="1502576394655843")).reason is (
        RefusalReason.INVALID_DATA)  # neither a number nor Meta's BSUID format


def test_a_full_session_is_refused_and_a_full_day_too(make_service, database_url, offices):
    tiny = {"batam": offices["batam"].copy(update={"daily_quota": 2, "session_minutes": 240})}
    service = make_service(database_url, offices_override=tiny)
    a = service.book(make_request(serial=1, session_start=time(8, 0)))
    b = service.book(make_request(serial=2))
    assert (a.session_start, b.session_start) == (time(8, 0), time(13, 0))
    refused = refusal(service.book, make_request(serial=3))
    assert refused.reason is RefusalReason.QUOTA_FULL
    assert refused.facts["day"] == WED
    assert service.book(make_request(serial=3, day=THU)).queue_number == 1


def test_availability_counts_seats_left_per_session(service):
    service.book(make_request(serial=1))
    service.book(make_request(serial=2, session_start=time(13, 0)))
    wednesday = service.availability("batam")[0]
    assert wednesday.day == WED
    assert wednesday.capacity == 250
    assert wednesday.left == 248
    by_start = {s.session.start: s for s in wednesday.sessions}
    assert by_start[time(8, 0)].booked == 1 and by_start[time(13, 0)].booked == 1


def test_cancelling_frees_the_seat_but_never_the_queue_number(service):
    first = service.book(make_request(serial=1))
    cancelled = service.cancel(first.code)
    assert cancelled.status is BookingStatus.CANCELLED
    assert service.availability("batam")[0].left == 250
    again = service.book(make_request(serial=1))
    assert again.queue_number == 2
    assert refusal(service.cancel, first.code).reason is RefusalReason.WRONG_STATUS


def test_only_the_owner_number_can_cancel_by_number(service):
    booking = service.book(make_request(serial=1, whatsapp_number="6281300000001"))
    refused = refusal(service.cancel, booking.code, whatsapp_number="6281300000002")
    assert refused.reason is RefusalReason.NOT_FOUND
    assert service.get_by_code(booking.code).status is BookingStatus.BOOKED


def test_a_forged_or_unknown_code_is_not_found(service):
    booking = service.book(make_request())
    forged = booking.code[:-1] + ("A" if booking.code[-1] != "A" else "B")
    assert service.get_by_code(forged) is None
    assert service.get_by_code("hello") is None
    assert refusal(service.cancel, forged).reason is RefusalReason.NOT_FOUND
    assert service.get_by_code(booking.code.lower().replace("-", " ")) == booking


def test_a_booking_can_be_rescheduled_once(service):
    booking = service.book(make_request(serial=1))
    moved = service.reschedule(booking.code, FRI, time(9, 0))
    assert (moved.day, moved.session_start, moved.queue_number, moved.code) == (FRI, time(9, 0), 1, booking.code)
    assert service.availability("batam")[0].left == 250
    assert service.get_by_code(booking.code).day == FRI
    again = refusal(service.reschedule, booking.code, THU)
    assert again.reason is RefusalReason.ALREADY_RESCHEDULED
    kinds = [event["kind"] for event in service.events(booking.id)]
    assert kinds == ["booked", "rescheduled"]


def test_rescheduling_to_a_day_outside_the_horizon_is_refused(service):
    booking = service.book(make_request(serial=1))
    assert refusal(service.reschedule, booking.code, date(2026, 12, 7)).reason is RefusalReason.DAY_NOT_BOOKABLE
    assert service.get_by_code(booking.code).reschedule_count == 0


def test_lookup_by_number_and_by_nik(service):
    booking = service.book(make_request(serial=5, whatsapp_number="6285600000005"))
    assert service.get_by_whatsapp_number("6285600000005") == [booking]
    assert service.get_active_by_nik(booking.applicant.nik) == booking
    service.cancel(booking.code)
    assert service.get_by_whatsapp_number("6285600000005") == []
    assert len(service.get_by_whatsapp_number("6285600000005", active_only=False)) == 1
    assert service.get_active_by_nik(booking.applicant.nik) is None


def test_check_in_only_on_the_booking_day_and_then_served(service, clock):
    booking = service.book(make_request(serial=1, session_start=time(10, 0)))
    early_refusal = refusal(service.check_in, booking.code, actor="satpam")
    assert early_refusal.reason is RefusalReason.WRONG_DAY
    clock.moment = wib(2026, 12, 2, 9, 40)
    checked_in, punctuality = service.check_in(booking.code, actor="satpam")
    assert checked_in.status is BookingStatus.CHECKED_IN
    assert punctuality == "on_time"
    assert refusal(service.check_in, booking.code, actor="satpam").reason is RefusalReason.WRONG_STATUS
    served = service.mark_served(booking.code, actor="loket-1")
    assert served.status is BookingStatus.SERVED
    assert [e["actor"] for e in service.events(booking.id)] == ["applicant", "satpam", "loket-1"]


@pytest.mark.parametrize(("hour", "minute", "expected"), [(9, 0, "early"), (9, 30, "on_time"), (10, 5, "late")])
def test_check_in_tells_early_on_time_or_late(service, clock, hour, minute, expected):
    booking = service.book(make_request(serial=1, session_start=time(10, 0)))
    clock.moment = wib(2026, 12, 2, hour, minute)
    assert service.check_in(booking.code, actor="satpam")[1] == expected


def test_a_cancelled_booking_cannot_check_in(service, clock):
    booking = service.book(make_request(serial=1))
    service.cancel(booking.code)
    clock.moment = wib(2026, 12, 2, 7, 45)
    assert refusal(service.check_in, booking.code, actor="satpam").reason is RefusalReason.WRONG_STATUS


def test_no_show_ends_the_booking_and_frees_the_number_quota(service, clock):
    number = "6281777700000"
    bookings = [service.book(make_request(serial=s, whatsapp_number=number)) for s in range(1, 6)]
    clock.moment = wib(2026, 12, 3, 8, 0)
    service.mark_no_show(bookings[0].code, actor="loket-1")
    assert service.get_by_code(bookings[0].code).status is BookingStatus.NO_SHOW
    assert service.book(make_request(serial=9, day=FRI, whatsapp_number=number)).status is BookingStatus.BOOKED


def test_a_booking_of_a_later_day_cannot_become_a_no_show(service, clock):
    booking = service.book(make_request(serial=1))  # Wednesday's, while it is Tuesday
    refused = refusal(service.mark_no_show, booking.code, actor="loket-1")
    assert refused.reason is RefusalReason.WRONG_DAY
    assert (refused.facts["day"], refused.facts["today"]) == (WED, date(2026, 12, 1))
    assert service.get_by_code(booking.code).status is BookingStatus.BOOKED
    clock.moment = wib(2026, 12, 2, 16, 0)
    assert service.mark_no_show(booking.code, actor="loket-1").status is BookingStatus.NO_SHOW


def test_served_requires_check_in(service):
    booking = service.book(make_request())
    assert refusal(service.mark_served, booking.code, actor="loket-1").reason is RefusalReason.WRONG_STATUS


def test_the_returned_booking_is_what_was_stored(service):
    booking = service.book(make_request(photo_ref="photos/abc.jpg", application_type="renewal"))
    stored = service.get_by_code(booking.code)
    assert stored.photo_ref == "photos/abc.jpg"
    assert stored.applicant.application_type is ApplicationType.RENEWAL
    assert replace(stored) == booking


def test_a_repeat_is_answered_with_the_booking_even_at_the_number_limit(service):
    family = "6281234500009"
    made = [service.book(make_request(serial=s, whatsapp_number=family)) for s in range(1, 6)]
    assert service.book(make_request(serial=5, whatsapp_number=family)).code == made[-1].code


def test_a_repeat_is_answered_with_the_booking_even_when_the_day_is_full(make_service, database_url, offices):
    one_seat = {"batam": offices["batam"].copy(update={"daily_quota": 1})}
    service = make_service(database_url, offices_override=one_seat)
    booking = service.book(make_request(serial=1))
    assert service.book(make_request(serial=1)).code == booking.code
    assert refusal(service.book, make_request(serial=2)).reason is RefusalReason.QUOTA_FULL


def test_a_closed_day_has_no_seats_whatever_its_weekday_hours(service):
    christmas, open_friday = date(2026, 12, 25), FRI  # both Fridays, the same weekly hours
    closed, open_ = service.availability("batam", [christmas, open_friday])
    assert (closed.sessions, closed.capacity, closed.left) == ((), 0, 0)
    assert closed.closure == "hari libur nasional (Hari Raya Natal)"
    assert open_.closure is None and open_.left == open_.capacity == 250
