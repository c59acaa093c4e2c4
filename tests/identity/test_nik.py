from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antrean.identity import (
    InvalidNik,
    Nik,
    check_nik_against,
    district_name,
    gender_code,
    mask_nik,
    parse_nik,
    province_name,
    regency_name,
)
from antrean.identity.errors import MESSAGES, IdentityError

TODAY = date(2025, 6, 1)
# Kota Batam (21 Kepulauan Riau, 71), district 05 Bulang; a woman born 5 August 1990 → 450890.
BATAM_WOMAN_1990 = "2171054508900001"


def build_nik(region6: str, birth: date, gender: str, serial: int) -> str:
    day = birth.day + (40 if gender == "P" else 0)
    return f"{region6}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


def test_a_batam_nik_of_a_woman_is_read_into_its_parts():
    nik = parse_nik(BATAM_WOMAN_1990, TODAY)

    assert nik == Nik(
        value=BATAM_WOMAN_1990,
        province_code="21",
        regency_code="2171",
        district_code="217105",
        birth_date=date(1990, 8, 5),
        gender="P",
        serial="0001",
    )
    assert (nik.province_name, nik.regency_name, nik.district_name) == ("Kepulauan Riau", "Kota Batam", "Bulang")


@pytest.mark.parametrize(
    "typed",
    ["2171 0545 0890 0001", "2171.0545.0890.0001", "2171-0545-0890-0001", " 217105 450890 0001 \n"],
)
def test_spaces_dots_and_dashes_between_digits_are_ignored(typed):
    assert parse_nik(typed, TODAY).value == BATAM_WOMAN_1990


def test_a_man_keeps_the_day_as_it_is():
    nik = parse_nik("2171031708900123", TODAY)

    assert (nik.birth_date, nik.gender, nik.serial) == (date(1990, 8, 17), "L", "0123")


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("217105450890001", "nik_length"),  # 15 digits
        ("21710545089000011", "nik_length"),  # 17 digits
        ("2171O54508900001", "nik_length"),  # letter O for zero
        ("", "nik_length"),
        ("٢١٧١٠٥٤٥٠٨٩٠٠٠٠١", "nik_length"),  # Arabic-Indic digits are not what is printed on an e-KTP
        ("0071054508900001", "nik_region"),  # no province 00
        ("2199054508900001", "nik_region"),  # Kepulauan Riau has no regency 99
        ("2171053208900001", "nik_date"),  # day 32
        ("2171054008900001", "nik_date"),  # day 40 is neither a man's nor a woman's day
        ("2171057208900001", "nik_date"),  # woman, day 32
        ("2171050008900001", "nik_date"),  # day 00
        ("2171051513900001", "nik_date"),  # month 13
        ("2171053102900001", "nik_date"),  # 31 February
        ("2171052902010001", "nik_date"),  # 29 February in 2001 and 1901
        ("2171051708900000", "nik_serial"),
    ],
)
def test_invalid_niks_are_rejected_with_a_code_and_an_indonesian_message(typed, code):
    with pytest.raises(InvalidNik) as caught:
        parse_nik(typed, TODAY)

    assert caught.value.code == code
    assert caught.value.message_id == MESSAGES[code]
    assert "NIK" in caught.value.message_id


def test_an_unknown_district_is_accepted_when_its_regency_is_known():
    nik = parse_nik("2171991708900001", TODAY)

    assert nik.district_code == "217199"
    assert nik.district_name is None
    assert nik.regency_name == "Kota Batam"


def test_a_regency_code_retired_before_2025_is_still_accepted():
    # Merauke was 9101 (Papua) until it moved to Papua Selatan (9301) in 2022.
    nik = parse_nik("9101011708900001", TODAY)

    assert nik.regency_name == "Kabupaten Merauke"
    assert nik.province_name == "Papua"


@pytest.mark.parametrize(
    ("date_part", "birth"),
    [
        ("150310", date(2010, 3, 15)),  # a child: 19xx first would make this a 115-year-old
        ("010125", date(2025, 1, 1)),
        ("010625", date(2025, 6, 1)),  # born today
        ("020625", date(1925, 6, 2)),  # 2025 would be tomorrow
        ("150926", date(1926, 9, 15)),
        ("290200", date(2000, 2, 29)),
    ],
)
def test_the_century_is_the_latest_that_is_not_in_the_future(date_part, birth):
    assert parse_nik(f"217103{date_part}0001", TODAY).birth_date == birth


@given(
    today=st.dates(min_value=date(2000, 1, 1), max_value=date(2199, 12, 31)),
    days_old=st.integers(min_value=0, max_value=36_500),  # under 100 years: the century is unambiguous
    gender=st.sampled_from(["L", "P"]),
    region=st.sampled_from(["217103", "217112", "317101", "910101"]),
    serial=st.integers(min_value=1, max_value=9999),
)
def test_any_built_nik_parses_back_to_its_birth_date_and_gender(today, days_old, gender, region, serial):
    birth = today - timedelta(days=days_old)

    nik = parse_nik(build_nik(region, birth, gender, serial), today)

    assert (nik.birth_date, nik.gender, nik.serial) == (birth, gender, f"{serial:04d}")
    assert nik.district_code == region


def test_the_stated_birth_date_and_gender_agree_with_the_nik():
    nik = parse_nik(BATAM_WOMAN_1990, TODAY)

    check_nik_against(nik, date(1990, 8, 5))
    check_nik_against(nik, date(1990, 8, 5), "P")
    check_nik_against(nik, date(1990, 8, 5), "Perempuan")


@pytest.mark.parametrize("stated", [date(1990, 8, 6), date(1990, 9, 5), date(1991, 8, 5), date(1980, 8, 5)])
def test_a_different_birth_date_is_a_mismatch(stated):
    with pytest.raises(InvalidNik) as caught:
        check_nik_against(parse_nik(BATAM_WOMAN_1990, TODAY), stated)

    assert caught.value.code == "nik_birth_date_mismatch"


def test_a_different_gender_is_a_mismatch():
    with pytest.raises(InvalidNik) as caught:
        check_nik_against(parse_nik(BATAM_WOMAN_1990, TODAY), date(1990, 8, 5), "laki-laki")

    assert caught.value.code == "nik_gender_mismatch"


def test_the_stated_century_decides_because_the_nik_only_has_two_year_digits():
    nik = parse_nik("2171031508150001", TODAY)  # read as 2015
    assert nik.birth_date == date(2015, 8, 15)

    check_nik_against(nik, date(1915, 8, 15), "L")


@pytest.mark.parametrize(
    ("written", "code"),
    [("L", "L"), ("l", "L"), ("Laki-laki", "L"), ("LAKI LAKI", "L"), ("pria", "L"), ("male", "L"),
     ("P", "P"), ("perempuan", "P"), ("Wanita", "P"), ("female", "P")],
)
def test_gender_is_understood_in_the_usual_spellings(written, code):
    assert gender_code(written) == code


def test_an_unknown_gender_word_is_not_guessed():
    with pytest.raises(ValueError):
        gender_code("x")


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("2171050890000001", "2171**********01"),
        ("2171 0545 0890 0001", "2171**********01"),
        ("12345", "*****"),
        ("", ""),
    ],
)
def test_masking_keeps_only_the_region_prefix_and_the_last_two_digits(value, masked):
    assert mask_nik(value) == masked


@given(
    birth=st.dates(min_value=date(1926, 1, 1), max_value=TODAY),
    gender=st.sampled_from(["L", "P"]),
    serial=st.integers(min_value=1, max_value=9999),
)
def test_a_masked_nik_never_shows_the_birth_date_digits(birth, gender, serial):
    value = build_nik("217103", birth, gender, serial)
    nik = parse_nik(value, TODAY)

    for shown in (mask_nik(value), mask_nik(nik), repr(nik), str(nik)):
        assert value[6:12] not in shown
        assert "*" * 10 in shown
    assert mask_nik(nik)[4:14] == "*" * 10


def test_the_region_tables_answer_by_code_length():
    assert province_name("21") == "Kepulauan Riau"
    assert regency_name("2171") == "Kota Batam"
    assert district_name("217103") == "Sekupang"
    assert province_name("2171") is None
    assert regency_name("21") is None
    assert district_name("99999x") is None


def test_every_error_code_in_the_table_has_polite_indonesian_text():
    for code, text in MESSAGES.items():
        error = IdentityError(code)
        assert error.message_id == text
        assert text.endswith(".")
        assert str(error) == code
