"""Whether a card is the applicant's own: refusals only on evidence an OCR slip cannot produce."""

from datetime import date

import pytest

from antrean.identity.ektp import CardReading
from antrean.identity.ownership import (
    check_guardian_card,
    check_own_card,
    digits_different,
    name_words,
    names_clearly_differ,
)
from tests.builders import make_nik

TODAY = date(2026, 12, 1)
BIRTH = date(1990, 8, 17)
NIK = make_nik(BIRTH, "L", serial=1234)


def card(**changes) -> CardReading:
    values = dict(card_found=True, nik=NIK, nik_confidence=95.0, name="BUDI SANTOSO", name_confidence=95.0,
                  birth_place="BATAM", birth_date=BIRTH, birth_confidence=95.0, sex="L")
    return CardReading(**{**values, **changes})


def test_titles_case_accents_and_punctuation_are_not_part_of_a_name():
    assert name_words("H. Budi Santoso, S.Kom") == ["BUDI", "SANTOSO"]
    assert name_words("dr. Siti   Nurhaliza S. Ked") == ["SITI", "NURHALIZA"]
    assert name_words("Hj. Ma'ruf") == ["MA", "RUF"]
    assert name_words("José") == ["JOSE"]


@pytest.mark.parametrize("typed, on_card, differ", [
    ("Siti Aminah", "BUDI SANTOSO", True),
    ("Agus Wijaya", "DEWI LESTARI", True),
    ("Budi Santoso", "BUDI SANTOSO", False),
    ("budi santosa", "BUDI SANTOSO", False),  # a typo
    ("Budi Santoso", "BUD1 SANT0SO", False),  # an OCR slip
    ("Budi", "BUDI SANTOSO", False),  # a shortened name is not a stranger
    ("Rahmawati Joko Hutapea", "RAHIMAWA NI JOKO NU TAPEA", False),  # a poor reading
    ("Muhammad Rizky", "MUH RIZKY PRATAMA", False),
])
def test_names_differ_only_clearly(typed, on_card, differ):
    assert names_clearly_differ(typed, on_card) is differ


def test_the_applicants_own_card_passes_and_gives_its_nik():
    assert check_own_card(card(), name="Budi Santoso", birth_date=BIRTH, nik=None, today=TODAY).mismatch is None
    assert check_own_card(card(), name="Budi Santoso", birth_date=BIRTH, nik=None, today=TODAY).nik == NIK


def test_each_contradiction_is_named():
    other_nik = make_nik(date(1985, 3, 2), "L", serial=99)
    assert check_own_card(card(), name="Budi Santoso", birth_date=BIRTH, nik=other_nik, today=TODAY).mismatch == "nik"
    assert check_own_card(card(), name="Budi Santoso", birth_date=date(1985, 3, 2), nik=None,
                          today=TODAY).mismatch == "birth_date"
    assert check_own_card(card(), name="Siti Aminah", birth_date=BIRTH, nik=None, today=TODAY).mismatch == "name"


def test_what_was_not_read_reliably_refuses_nobody():
    one_digit = NIK[:-1] + "9"
    assert digits_different(NIK, one_digit) == 1
    assert check_own_card(card(), name=None, birth_date=BIRTH, nik=one_digit, today=TODAY).mismatch is None
    # A birth date the card's own NIK does not confirm (the NIK was not read) proves nothing.
    assert check_own_card(card(nik=None), name=None, birth_date=date(1985, 3, 2), nik=None,
                          today=TODAY).mismatch is None
    assert check_own_card(card(name_confidence=50.0), name="Siti Aminah", birth_date=None, nik=None,
                          today=TODAY).mismatch is None
    assert check_own_card(CardReading(card_found=False), name="X Y", birth_date=BIRTH, nik=NIK,
                          today=TODAY).mismatch is None
    assert check_own_card(None, name="X Y", birth_date=BIRTH, nik=NIK, today=TODAY) == check_own_card(
        CardReading(card_found=False), name="X Y", birth_date=BIRTH, nik=NIK, today=TODAY)


def test_a_minors_parent_must_be_an_adult_clearly_older_than_the_child():
    child = date(2015, 3, 2)
    assert check_guardian_card(card(), child_birth_date=child, child_nik=None, today=TODAY).mismatch is None
    teen_birth = date(2010, 1, 5)
    teen = card(nik=make_nik(teen_birth, "L", serial=5), birth_date=teen_birth)
    assert check_guardian_card(teen, child_birth_date=child, child_nik=None, today=TODAY).mismatch == "guardian"
    assert check_guardian_card(card(), child_birth_date=child, child_nik=NIK, today=TODAY).nik_is_guardians is True
    assert check_guardian_card(card(nik=None), child_birth_date=child, child_nik=NIK, today=TODAY).mismatch is None
