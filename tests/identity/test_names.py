from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antrean.identity import InvalidAddress, InvalidName, normalise_address, normalise_name


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("budi santoso", "Budi Santoso"),
        ("SITI NURHALIZA", "Siti Nurhaliza"),
        ("  budi   santoso \n", "Budi Santoso"),
        ("o'neil", "O'Neil"),
        ("O'Neil", "O'Neil"),
        ("o’neil", "O'Neil"),  # phone keyboards turn ' into ’
        ("MA'RUF AMIN", "Ma'ruf Amin"),
        ("nur'aini", "Nur'aini"),
        ("muh. rizky", "Muh. Rizky"),
        ("Muh. rizky", "Muh. Rizky"),
        ("jean-pierre", "Jean-Pierre"),
        ("ANNE-MARIE O'NEIL", "Anne-Marie O'Neil"),
        ("McDonald", "McDonald"),  # mixed case is kept as typed
        ("josé ÁLVAREZ", "José Álvarez"),
        ("jose\u0301", "José"),  # combining accent is composed
        ("Ｂｕｄｉ", "Budi"),  # full-width letters
        ("Bu\u200bdi", "Budi"),  # zero-width space from a copied message
        ("Ed", "Ed"),
    ],
)
def test_names_are_cleaned_and_tidily_capitalised(typed, name):
    assert normalise_name(typed) == name


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("Budi 2", "name_characters"),
        ("budi@santoso", "name_characters"),
        ("Budi, Santoso", "name_characters"),
        ("Budi 😀", "name_characters"),
        ("محمد", "name_characters"),  # not the script on an e-KTP or passport
        ("Будь", "name_characters"),
        ("B", "name_too_short"),
        ("", "name_too_short"),
        ("   ", "name_too_short"),
        ("A.", "name_too_short"),
        ("--", "name_too_short"),
        ("a" * 101, "name_too_long"),
        ("Budi " * 25, "name_too_long"),
    ],
)
def test_names_with_other_characters_or_bad_lengths_are_rejected(typed, code):
    with pytest.raises(InvalidName) as caught:
        normalise_name(typed)

    assert caught.value.code == code


def test_a_name_of_exactly_100_characters_is_accepted():
    assert len(normalise_name("a" * 100)) == 100


@given(st.text())
def test_any_text_gives_a_clean_name_or_invalid_name(text):
    try:
        name = normalise_name(text)
    except InvalidName:
        return
    assert 2 <= len(name) <= 100
    assert name == name.strip()
    assert "  " not in name
    assert normalise_name(name) == name


@pytest.mark.parametrize(
    ("typed", "address"),
    [
        ("Jl. Merdeka No. 5, RT 01/RW 02", "Jl. Merdeka No. 5, RT 01/RW 02"),
        ("  Jl.  Merdeka\nNo. 5,\tRT 01/RW 02  ", "Jl. Merdeka No. 5, RT 01/RW 02"),
        ("Jl. Merdeka\u200b No. 5\u202e", "Jl. Merdeka No. 5"),  # zero-width and bidi override removed
        ("Perum Tiban Indah Blok C2/15\x00\x07", "Perum Tiban Indah Blok C2/15"),
        ("Jl. Ahmad Yani Kav. 3–5, Batam Centre", "Jl. Ahmad Yani Kav. 3–5, Batam Centre"),
    ],
)
def test_addresses_keep_punctuation_and_lose_invisible_characters(typed, address):
    assert normalise_address(typed) == address


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("Batam", "address_too_short"),
        ("Jl. A 1\u200b\u200b\u200b", "address_too_short"),  # invisible characters do not count
        ("12345678901", "address_too_short"),  # no letters: not an address
        ("x" * 201, "address_too_long"),
    ],
)
def test_addresses_outside_10_to_200_characters_are_rejected(typed, code):
    with pytest.raises(InvalidAddress) as caught:
        normalise_address(typed)

    assert caught.value.code == code


@given(st.text())
def test_a_cleaned_address_has_no_control_or_invisible_characters(text):
    try:
        address = normalise_address(text)
    except InvalidAddress:
        return
    assert 10 <= len(address) <= 200
    assert not any(ch in address for ch in "\n\r\t\x00\u200b\u200e\u200f\u202e\ufeff")
    assert normalise_address(address) == address
