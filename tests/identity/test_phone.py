from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antrean.identity import InvalidPhone, check_wa_id, mask_msisdn, normalise_msisdn


@pytest.mark.parametrize(
    ("typed", "wa_id"),
    [
        ("0812-3456-7890", "6281234567890"),
        ("+62 812 3456 7890", "6281234567890"),
        ("+62-812-3456-7890", "6281234567890"),
        ("6281234567890", "6281234567890"),
        ("81234567890", "6281234567890"),
        ("(0812) 3456.7890", "6281234567890"),
        ("+62 0812 3456 7890", "6281234567890"),  # the trunk 0 kept by mistake
        ("0062 812 3456 7890", "6281234567890"),
        ("0811 700 123", "62811700123"),  # short old Telkomsel number
        ("+65 9123 4567", "6591234567"),  # Singapore
        ("+60 12-345 6789", "60123456789"),  # Malaysia
        ("0065 9123 4567", "6591234567"),
        ("60123456789", "60123456789"),  # foreign without +, not starting with 0, 8 or 62
        ("+81 90 1234 5678", "819012345678"),  # Japan, written with +
        ("+1 (415) 555-2671", "14155552671"),
    ],
)
def test_phone_numbers_are_normalised_to_whatsapp_ids(typed, wa_id):
    assert normalise_msisdn(typed) == wa_id


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "+",
        "hp saya 0812",
        "0812-3456-789O",  # letter O
        "021 555 1234",  # Jakarta landline
        "+62 21 555 1234",
        "0812 345",  # too short
        "0812 3456 7890 1234",  # too long
        "+0 812 3456 7890",
        "+65 123",
        "+1234567890123456",  # 16 digits: longer than E.164 allows
    ],
)
def test_numbers_that_are_not_reachable_on_whatsapp_are_rejected(typed):
    with pytest.raises(InvalidPhone) as caught:
        normalise_msisdn(typed)

    assert caught.value.code == "phone_invalid"
    assert "Nomor HP" in caught.value.message_id


@pytest.mark.parametrize(
    ("wa_id", "masked"),
    [
        ("6281234567890", "6281*****7890"),
        ("62811700123", "6281***0123"),
        ("6591234567", "659****567"),
        ("12345", "1***5"),
        ("123", "***"),
    ],
)
def test_masking_keeps_the_first_and_last_digits_and_hides_at_least_three(wa_id, masked):
    assert mask_msisdn(wa_id) == masked


@given(st.text())
def test_any_text_is_a_valid_wa_id_or_invalid_phone(text):
    try:
        wa_id = normalise_msisdn(text)
    except InvalidPhone:
        return
    assert wa_id.isascii() and wa_id.isdigit()
    assert 8 <= len(wa_id) <= 15
    assert not wa_id.startswith("0")
    # A wa_id is canonical and need not be normalised again; doing so only differs for country codes
    # starting with 8 (Japan, Korea, China…), which without "+" read as Indonesian "812…".
    assert normalise_msisdn(wa_id) == wa_id or wa_id.startswith("8")


@given(st.from_regex(r"8[0-9]{8,11}", fullmatch=True))
def test_every_indonesian_mobile_spelling_gives_the_same_wa_id(national):
    wa_id = "62" + national
    for typed in (f"0{national}", f"+62{national}", f"62{national}", national, f"+62 0{national}"):
        assert normalise_msisdn(typed) == wa_id
    masked = mask_msisdn(wa_id)
    assert masked[:4] == wa_id[:4] and masked[-4:] == wa_id[-4:]
    assert set(masked[4:-4]) == {"*"}


@pytest.mark.parametrize(
    ("wa_id", "expected"),
    [("6281234567890", "6281234567890"), ("+6281234567890", "6281234567890"), ("819012345678", "819012345678"),
     ("8613800138000", "8613800138000")],
)
def test_a_wa_id_is_taken_as_international_without_guessing(wa_id, expected):
    assert check_wa_id(wa_id) == expected


@pytest.mark.parametrize("wa_id", ["081234567890", "62 812 3456", "abc", "6221345678"])
def test_a_malformed_wa_id_is_refused(wa_id):
    with pytest.raises(InvalidPhone):
        check_wa_id(wa_id)
