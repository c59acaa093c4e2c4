from datetime import date

import pytest

from antrean.booking.day_choice import parse_day_choice

TODAY = date(2026, 12, 1)  # Tuesday
BOOKABLE = [date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03", date(2026, 12, 3)),
        ("2", date(2026, 12, 3)),
        ("pilih 3", date(2026, 12, 4)),
        ("rabu", date(2026, 12, 2)),
        ("hari Jumat aja", date(2026, 12, 4)),
        ("besok", date(2026, 12, 2)),
        ("lusa ya", date(2026, 12, 3)),
        ("tgl 4 des", date(2026, 12, 4)),
        ("3 Desember", date(2026, 12, 3)),
        ("3/12", date(2026, 12, 3)),
        ("04-12-2026", date(2026, 12, 4)),
    ],
)
def test_an_applicant_can_name_a_bookable_day_many_ways(text, expected):
    assert parse_day_choice(text, BOOKABLE, TODAY) == expected


@pytest.mark.parametrize("text", ["2026-12-07", "4", "senin", "sabtu", "7 desember", "2026-02-30", "kapan aja", ""])
def test_a_day_that_cannot_be_booked_is_not_chosen(text):
    assert parse_day_choice(text, BOOKABLE, TODAY) is None
