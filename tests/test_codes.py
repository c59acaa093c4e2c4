from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antrean.booking import codes as codes_module
from antrean.booking.codes import ALPHABET, BookingCodes

SECRET = b"0123456789abcdef-booking-tests"
OTHER_SECRET = b"fedcba9876543210-other-office"
FORMAT = re.compile(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}(-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}){2}")


@pytest.fixture
def booking_codes():
    return BookingCodes(SECRET)


def test_the_alphabet_has_no_characters_people_confuse():
    assert len(ALPHABET) == len(set(ALPHABET)) == 31
    assert not set("01OIL") & set(ALPHABET)


def test_a_new_code_is_three_groups_of_four_from_the_alphabet_and_authentic(booking_codes):
    code = booking_codes.new()

    assert FORMAT.fullmatch(code)
    assert booking_codes.is_authentic(code)


def test_new_codes_are_distinct_and_use_the_whole_alphabet(booking_codes):
    made = [booking_codes.new() for _ in range(3000)]

    assert len(set(made)) == len(made)
    random_parts = "".join(code.replace("-", "")[:9] for code in made)
    assert set(random_parts) == set(ALPHABET)


def test_a_code_made_with_another_secret_is_not_authentic(booking_codes):
    other = BookingCodes(OTHER_SECRET)
    foreign = [other.new() for _ in range(200)]

    # 1 in 31**3 can pass by chance; 200 tries make more than one such collision absurdly unlikely.
    assert sum(booking_codes.is_authentic(code) for code in foreign) <= 1
    assert all(other.is_authentic(code) for code in foreign)


def test_changing_any_check_character_makes_a_code_fail(booking_codes):
    raw = booking_codes.new().replace("-", "")

    for position in range(9, 12):
        for replacement in ALPHABET.replace(raw[position], ""):
            tampered = raw[:position] + replacement + raw[position + 1 :]
            assert not booking_codes.is_authentic(tampered)


def test_changing_a_random_character_almost_never_passes(booking_codes):
    raw = booking_codes.new().replace("-", "")
    tampered = [
        raw[:position] + replacement + raw[position + 1 :]
        for position in range(9)
        for replacement in ALPHABET.replace(raw[position], "")
    ]

    assert len(tampered) == 270
    assert sum(booking_codes.is_authentic(code) for code in tampered) <= 2


@pytest.mark.parametrize(
    "typed",
    [
        "abcd-efgh-jkmn",
        "ABCDEFGHJKMN",
        " abcd efgh jkmn ",
        "ABCD–EFGH–JKMN",  # en dashes from autocorrect
        "ab-cd-ef-gh-jk-mn",
        "AbCd\u00a0EfGh-JkMn",
    ],
)
def test_typed_codes_are_normalised_to_the_printed_form(booking_codes, typed):
    assert booking_codes.normalise(typed) == "ABCD-EFGH-JKMN"


@pytest.mark.parametrize(
    "typed",
    ["", "ABCD-EFGH-JKM", "ABCD-EFGH-JKMNP", "ABCD-EFGH-JKM0", "ABCD-EFGH-JKMO", "ABCD-EFGH-JKM1",
     "ABCD-EFGH-JKMß", "ABCD/EFGH/JKMN", "ÁBCD-EFGH-JKMN"],
)
def test_malformed_codes_normalise_to_none_and_are_not_authentic(booking_codes, typed):
    assert booking_codes.normalise(typed) is None
    assert booking_codes.is_authentic(typed) is False


def test_a_code_typed_in_lower_case_with_spaces_is_still_authentic(booking_codes):
    code = booking_codes.new()

    assert booking_codes.is_authentic(code.lower().replace("-", " "))


def test_the_check_is_compared_in_constant_time(booking_codes, monkeypatch):
    calls = []
    real = codes_module.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(codes_module.hmac, "compare_digest", spy)
    booking_codes.is_authentic(booking_codes.new())

    assert len(calls) == 1


@pytest.mark.parametrize("secret", [b"", b"short", b"0123456789abcde"])
def test_a_secret_shorter_than_16_bytes_is_refused(secret):
    with pytest.raises(ValueError):
        BookingCodes(secret)


def test_a_16_byte_secret_is_enough():
    assert BookingCodes(b"0123456789abcdef").new()


def test_the_secret_must_be_bytes():
    with pytest.raises(TypeError):
        BookingCodes("0123456789abcdef0123")  # type: ignore[arg-type]


@given(st.text())
def test_normalise_never_raises_and_returns_only_the_printed_form(text):
    result = BookingCodes(SECRET).normalise(text)

    assert result is None or FORMAT.fullmatch(result)
