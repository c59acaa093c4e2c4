from __future__ import annotations

import contextlib
from datetime import date, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from antrean.identity import InvalidDate, age_on, find_date_span, is_minor, parse_birth_date
from antrean.identity.dates import MONTHS

TODAY = date(2025, 6, 1)
AUGUST_17_1990 = date(1990, 8, 17)


@pytest.mark.parametrize(
    "text",
    [
        "17-08-1990",
        "17/8/90",
        "17.08.1990",
        "17 08 1990",
        "17081990",
        "17 Agustus 1990",
        "17 agt 90",
        "17 agust 1990",
        "17 ags 1990",
        "17 agu 1990",
        "17 agst. 1990",
        "17-agustus-1990",
        "17 AGUSTUS 1990",
        "17 Agustus, 1990",
        "tgl 17 agustus 1990",
        "tanggal lahir 17-8-1990",
        "lahir 17 Agustus 1990",
        "TGL. LAHIR 17/08/1990",
        "TTL: Batam, 17-08-1990",
        "1990-08-17",
        "17 August 1990",
        "17th August 1990",
        "August 17, 1990",
        "Aug 17 1990",
        "17\u00a0Agustus\u00a01990",  # no-break spaces from a copied message
    ],
)
def test_the_ways_applicants_write_a_birth_date_are_understood(text):
    assert parse_birth_date(text, TODAY) == AUGUST_17_1990


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25011987", date(1987, 1, 25)),
        ("1 Peb 1985", date(1985, 2, 1)),
        ("30 Nop 1979", date(1979, 11, 30)),
        ("3 Mei 2001", date(2001, 5, 3)),
        ("9 mrt 99", date(1999, 3, 9)),
        ("5-1-24", date(2024, 1, 5)),  # a baby born last year
        ("2-6-25", date(1925, 6, 2)),  # 2025 would be tomorrow
        ("29/02/00", date(2000, 2, 29)),
    ],
)
def test_month_spellings_and_two_digit_years_resolve_as_expected(text, expected):
    assert parse_birth_date(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "date_unparseable"),
        ("kemarin", "date_unparseable"),
        ("Agustus 1990", "date_unparseable"),  # no day: we do not guess the 1st
        ("17 Agustus", "date_unparseable"),  # no year
        ("170890", "date_unparseable"),  # DDMMYY or YYMMDD: ambiguous, asked again
        ("17-08-199", "date_unparseable"),
        ("2171031708900001", "date_unparseable"),  # a NIK sent by mistake
        ("31-02-1990", "date_impossible"),
        ("29 Februari 2023", "date_impossible"),
        ("32 Januari 1990", "date_impossible"),
        ("17-13-1990", "date_impossible"),
        ("00-08-1990", "date_impossible"),
        ("2 Juni 2025", "date_future"),
        ("1-1-2030", "date_future"),
        ("31-5-1904", "date_too_old"),
    ],
)
def test_dates_that_cannot_be_a_birth_date_are_rejected_with_a_code(text, code):
    with pytest.raises(InvalidDate) as caught:
        parse_birth_date(text, TODAY)

    assert caught.value.code == code
    assert caught.value.message_id


def test_exactly_120_years_old_is_still_accepted():
    assert parse_birth_date("1-6-1905", TODAY) == date(1905, 6, 1)


def _month_words(month: int) -> list[str]:
    return sorted(word for word, number in MONTHS.items() if number == month)


@st.composite
def written_dates(draw, today: date):
    """A birth date up to 120 years back and one way of writing it that must parse back to it."""
    style = draw(st.sampled_from(["numeric", "compact", "iso", "month_name", "month_first"]))
    two_digit_year = style in ("numeric", "month_name") and draw(st.booleans())
    # With a two-digit year only the last 100 years are unambiguous.
    max_days = 36_500 if two_digit_year else 120 * 365
    birth = today - timedelta(days=draw(st.integers(min_value=0, max_value=max_days)))
    year = f"{birth.year % 100:02d}" if two_digit_year else f"{birth.year:04d}"
    padded = draw(st.booleans())
    day = f"{birth.day:02d}" if padded else str(birth.day)
    month = f"{birth.month:02d}" if padded else str(birth.month)
    word = draw(st.sampled_from(_month_words(birth.month)))
    word = draw(st.sampled_from([word, word.upper(), word.capitalize()]))
    if style == "numeric":
        sep = draw(st.sampled_from(["-", "/", "."]))
        text = f"{day}{sep}{month}{sep}{year}"
    elif style == "compact":
        text = f"{birth.day:02d}{birth.month:02d}{birth.year:04d}"
    elif style == "iso":
        text = birth.isoformat()
    elif style == "month_name":
        sep = draw(st.sampled_from([" ", "-", "/", ". "]))
        dot = draw(st.sampled_from(["", "."])) if sep != "." else ""
        text = f"{day}{sep}{word}{dot}{sep}{year}"
    else:
        text = f"{word} {birth.day}, {year}"
    prefix = draw(st.sampled_from(["", "tgl ", "tanggal lahir ", "lahir ", "TGL. LAHIR ", "Tgl lahir: "]))
    return birth, prefix + text


@given(data=st.data(), today=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
def test_any_birth_date_written_in_a_supported_format_parses_back(data, today):
    birth, text = data.draw(written_dates(today))

    assert parse_birth_date(text, today) == birth
    start, end = find_date_span(text)
    assert parse_birth_date(text[start:end], today) == birth


@given(st.text())
@example("31-02-1990")
@example("\U0001f600 17 agt")
@example("ſep 1, 1990")  # long s folds to "s" under Unicode case-insensitive matching
def test_arbitrary_text_raises_nothing_but_invalid_date(text):
    with contextlib.suppress(InvalidDate):
        parse_birth_date(text, TODAY)


@given(st.text(alphabet="0123456789-/. ,agustusAGTmeiDESjanfebokt"))
def test_date_like_noise_raises_nothing_but_invalid_date(text):
    try:
        result = parse_birth_date(text, TODAY)
    except InvalidDate:
        return
    assert result <= TODAY


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("tgl lahir 17-08-1990", (10, 20)),
        ("lahir 17 Agustus 1990 di Batam", (6, 21)),
        ("saya lahir August 17, 1990", (11, 26)),
        ("Batam,\u00a025011987", (7, 15)),
        ("31-02-1990", (0, 10)),  # date-looking is enough; validity is parse_birth_date's job
        ("tidak ada tanggal", None),
        ("nomor 0812-3456-7890", None),
    ],
)
def test_the_first_date_looking_substring_is_located_for_entity_marking(text, span):
    assert find_date_span(text) == span


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (date(1990, 8, 17), date(2025, 8, 16), 34),
        (date(1990, 8, 17), date(2025, 8, 17), 35),
        (date(1990, 8, 17), date(1990, 8, 17), 0),
        (date(2008, 2, 29), date(2024, 2, 28), 15),
        (date(2008, 2, 29), date(2024, 2, 29), 16),
        (date(2008, 2, 29), date(2025, 2, 28), 16),
        (date(2008, 2, 29), date(2025, 3, 1), 17),
        (date(2000, 12, 31), date(2001, 1, 1), 0),
    ],
)
def test_age_counts_completed_years_including_leap_day_birthdays(birth, day, age):
    assert age_on(birth, day) == age


def test_age_before_birth_is_an_error():
    with pytest.raises(ValueError):
        age_on(date(2000, 1, 2), date(2000, 1, 1))


@pytest.mark.parametrize(
    ("birth", "day", "minor"),
    [
        (date(2008, 6, 2), date(2025, 6, 1), True),
        (date(2008, 6, 1), date(2025, 6, 1), False),
        (date(2008, 2, 29), date(2025, 2, 28), True),
        (date(2008, 2, 29), date(2025, 3, 1), False),
        (date(1990, 8, 17), date(2025, 6, 1), False),
    ],
)
def test_a_minor_is_under_17_on_the_day(birth, day, minor):
    assert is_minor(birth, day) is minor


@given(
    birth=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
    years=st.integers(min_value=0, max_value=120),
)
def test_age_on_an_anniversary_is_the_number_of_years(birth, years):
    if (birth.month, birth.day) == (2, 29):
        # In a common year the leap-day child's birthday counts from 1 March.
        try:
            anniversary = date(birth.year + years, 2, 29)
        except ValueError:
            anniversary = date(birth.year + years, 3, 1)
    else:
        anniversary = birth.replace(year=birth.year + years)

    assert age_on(birth, anniversary) == years
    if anniversary > birth:
        assert age_on(birth, anniversary - timedelta(days=1)) == years - 1
