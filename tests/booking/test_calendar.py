from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from antrean.booking.calendar import OfficeCalendar
from tests.conftest import wib


@pytest.fixture
def batam(offices):
    return OfficeCalendar(offices["batam"])


def test_the_bookable_days_are_the_next_three_working_days(batam):
    assert batam.bookable_days(wib(2026, 12, 1, 8)) == [date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4)]


def test_weekends_are_skipped(batam):
    # Thursday → Friday, then Monday and Tuesday
    assert batam.bookable_days(wib(2026, 12, 3, 8)) == [date(2026, 12, 4), date(2026, 12, 7), date(2026, 12, 8)]


def test_public_holidays_and_collective_leave_are_skipped(batam):
    # 24 Dec is cuti bersama, 25 Dec Christmas, then a weekend
    assert batam.bookable_days(wib(2026, 12, 23, 8)) == [date(2026, 12, 28), date(2026, 12, 29), date(2026, 12, 30)]
    assert batam.closure_reason(date(2026, 12, 24)) == "cuti bersama"
    assert batam.closure_reason(date(2026, 12, 25)).startswith("hari libur nasional")
    assert batam.closure_reason(date(2026, 12, 26)) == "akhir pekan"


def test_an_office_closure_is_skipped(offices):
    office = offices["bogor"].copy(update={"closed_dates": [date(2026, 12, 3)]})
    calendar = OfficeCalendar(office)
    assert calendar.closure_reason(date(2026, 12, 3)) == "kantor tutup"
    assert calendar.bookable_days(wib(2026, 12, 1, 8)) == [date(2026, 12, 2), date(2026, 12, 4), date(2026, 12, 7)]


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (wib(2026, 12, 1, 7, 29), False),
        (wib(2026, 12, 1, 7, 30), True),
        (wib(2026, 12, 1, 9, 59), True),
        (wib(2026, 12, 1, 10, 0), False),
        (wib(2026, 12, 5, 8, 0), False),  # Saturday
        (wib(2026, 12, 24, 8, 0), False),  # cuti bersama
    ],
)
def test_registration_is_open_only_inside_the_window_on_working_days(batam, moment, open_):
    assert batam.registration_open(moment) is open_


def test_the_next_opening_is_the_next_working_morning(batam):
    assert batam.next_registration_opening(wib(2026, 12, 4, 10, 5)) == wib(2026, 12, 7, 7, 30)
    assert batam.next_registration_opening(wib(2026, 12, 1, 6, 0)) == wib(2026, 12, 1, 7, 30)
    assert batam.next_registration_opening(wib(2026, 12, 1, 8, 0)) is None


def test_each_office_uses_its_own_time_zone(offices):
    denpasar = OfficeCalendar(offices["denpasar"])
    jakarta = OfficeCalendar(offices["jakarta_pusat"])
    moment = datetime(2026, 12, 1, 2, 15, tzinfo=timezone.utc)  # 09:15 WIB = 10:15 WITA
    assert jakarta.registration_open(moment)
    assert not denpasar.registration_open(moment)
    assert denpasar.next_registration_opening(moment) == datetime(2026, 12, 2, 7, 30, tzinfo=ZoneInfo("Asia/Makassar"))


def test_today_is_taken_in_the_office_time_zone(batam):
    # 23:30 UTC on 1 Dec is already 2 Dec in Batam: the horizon starts from 2 Dec.
    moment = datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc)
    assert batam.today(moment) == date(2026, 12, 2)
    assert batam.bookable_days(moment)[0] == date(2026, 12, 3)
