"""The e-KTP reader: its pure parts on texts and pixels, and real Tesseract on generated cards."""

import logging
import random
from datetime import date

import pytest
from PIL import Image

from antrean.identity import ektp
from antrean.identity.ektp import CardReading, interpret, parse_place_and_date, sex_from
from antrean.media.photos import inspect_id_photo
from benchmarks.ektp_cards import CARD_SIZE, Person, draw_card, photo_of, samples
from tests.builders import make_nik

TODAY = date(2026, 12, 1)
BIRTH = date(1990, 8, 17)
NIK = make_nik(BIRTH, "L", serial=77)
needs_tesseract = pytest.mark.usefixtures("tesseract")


def test_the_place_and_date_of_birth_are_split_and_lookalike_letters_become_digits():
    assert parse_place_and_date("BATAM, 17-08-1990") == ("BATAM", date(1990, 8, 17))
    assert parse_place_and_date("TANJUNG PINANG, 1O-O8-199O") == ("TANJUNG PINANG", date(1990, 8, 10))
    assert parse_place_and_date("MEDAN, 31-02-1990") == ("MEDAN", None)  # no such day
    assert parse_place_and_date("") == (None, None)


def test_sex_is_read_from_either_word_despite_a_slip():
    assert sex_from("LAKI-LAKI GOL DARAH O") == "L"
    assert sex_from("PEREMPUANGDB") == "P"
    assert sex_from("LAKL-LAKI") == "L"
    assert sex_from("PEREMPLAN") == "P"
    assert sex_from("WNI") is None and sex_from("") is None


def test_interpret_keeps_only_what_was_read_with_confidence():
    reading = interpret({"nik": (NIK, 95.0), "name": ("BUDI SANTOSO", 90.0), "birth": ("BATAM, 17-08-1990", 88.0),
                         "sex": ("LAKI-LAKI", 80.0)})
    assert (reading.nik, reading.name, reading.birth_place, reading.birth_date, reading.sex) == (
        NIK, "BUDI SANTOSO", "BATAM", BIRTH, "L")
    assert reading.trusted_nik(TODAY) == NIK
    unsure = interpret({"nik": (NIK[:15], 95.0), "name": ("BUDI", 40.0), "birth": ("BATAM, 17-08-1990", 30.0)})
    assert unsure.nik is None and unsure.name is None and unsure.birth_date is None


@pytest.mark.parametrize("change, why", [
    ({"nik_confidence": 40.0}, "not confident"),
    ({"birth_date": date(1990, 8, 18)}, "the printed birth date disagrees"),
    ({"sex": "P"}, "the printed sex disagrees"),
    ({"birth_date": None}, "no birth date to agree with"),
    ({"nik": "9999" + NIK[4:]}, "no such province"),
])
def test_a_nik_is_trusted_only_when_confident_and_agreeing_with_the_card(change, why):
    good = CardReading(card_found=True, nik=NIK, nik_confidence=95.0, birth_date=BIRTH, birth_confidence=90.0, sex="L")
    assert good.trusted_nik(TODAY) == NIK
    assert CardReading(**{**good.__dict__, **change}).trusted_nik(TODAY) is None, why


def test_a_reading_survives_its_stored_form_and_its_repr_shows_no_personal_data():
    reading = CardReading(card_found=True, nik=NIK, nik_confidence=95.0, name="BUDI SANTOSO", name_confidence=90.0,
                          birth_place="BATAM", birth_date=BIRTH, birth_confidence=90.0, sex="L", seconds=0.08)
    assert CardReading.from_dict(reading.as_dict()) == reading
    assert CardReading.from_dict({"card_found": "yes"}) is None and CardReading.from_dict(None) is None
    shown = repr(reading) + str(reading)
    assert NIK not in shown and "BUDI" not in shown and "1990" not in shown
    assert ektp.mask_nik(NIK) in shown


def test_no_card_is_found_on_a_photo_without_one():
    assert ektp.find_card(Image.new("RGB", (1200, 900), (120, 90, 60))) is None
    assert ektp.find_card(Image.new("RGB", (1200, 900), (250, 250, 250))) is None


def test_the_card_is_found_where_it_was_put():
    person = Person(nik=NIK, name="BUDI", birth_place="BATAM", birth_date=BIRTH, sex="L", address="JL. X NO. 1",
                    province="KEPULAUAN RIAU", regency="KOTA BATAM")
    photo = Image.new("RGB", (1600, 1200), (110, 85, 60))
    card = draw_card(person).resize((1284, 810))
    photo.paste(card, (158, 195))
    corners = ektp.find_card(photo)
    expected = [(158, 195), (158 + CARD_SIZE[0], 195), (158 + CARD_SIZE[0], 195 + CARD_SIZE[1]),
                (158, 195 + CARD_SIZE[1])]
    for (x, y), (ex, ey) in zip(corners, expected, strict=True):
        assert abs(x - ex) < 12 and abs(y - ey) < 12


def test_reading_is_off_without_the_language_data_or_when_turned_off(monkeypatch, tmp_path):
    try:
        monkeypatch.setenv(ektp.TESSDATA_ENV, str(tmp_path))
        ektp.status.cache_clear()
        available, why = ektp.status()
        assert not available and "tesseract-ocr-ind" in why
        assert ektp.reader() is None and ektp.read_card(Image.new("RGB", (800, 600))) is None
        monkeypatch.delenv(ektp.TESSDATA_ENV)
        monkeypatch.setenv(ektp.ENABLED_ENV, "0")
        ektp.status.cache_clear()
        assert ektp.status()[0] is False
    finally:
        monkeypatch.delenv(ektp.TESSDATA_ENV, raising=False)
        monkeypatch.delenv(ektp.ENABLED_ENV, raising=False)
        ektp.status.cache_clear()


@needs_tesseract
def test_a_plain_photo_of_a_card_is_read_whole(caplog):
    person = Person(nik=NIK, name="SITI NURHALIZA", birth_place="TANJUNG PINANG", birth_date=BIRTH, sex="L",
                    address="JL. X NO. 1", province="KEPULAUAN RIAU", regency="KOTA BATAM")
    _, image = inspect_id_photo(photo_of(person))
    with caplog.at_level(logging.DEBUG):
        reading = ektp.read_card(image)
    assert reading.card_found and reading.trusted_nik(TODAY) == NIK
    # Tesseract may miss the space between two names; ownership checks compare the letters anyway.
    assert reading.name.replace(" ", "") == "SITINURHALIZA"
    assert (reading.birth_place, reading.birth_date, reading.sex) == ("TANJUNG PINANG", BIRTH, "L")
    assert NIK not in caplog.text and "NURHALIZA" not in caplog.text


@needs_tesseract
def test_most_varied_photos_are_read_and_a_trusted_nik_is_almost_never_wrong():
    """A small slice of `make evaluate-ocr` (the full figures are in the README)."""
    read, trusted, wrong_trusted = 0, 0, 0
    cases = samples(10, seed=3)
    for sample in cases:
        check, image = inspect_id_photo(sample.jpeg)
        if not check.ok:
            continue
        reading = ektp.read_card(image)
        read += reading.nik == sample.person.nik
        nik = reading.trusted_nik(TODAY)
        trusted += nik is not None
        wrong_trusted += nik is not None and nik != sample.person.nik
    assert read >= 7 and trusted >= 6
    assert wrong_trusted <= 1


def test_generated_cards_are_the_same_for_the_same_seed():
    first, again = samples(2, seed=5), samples(2, seed=5)
    assert [s.jpeg for s in first] == [s.jpeg for s in again]
    assert first[0].person != first[1].person
    assert random.Random(5).random() == random.Random(5).random()


def test_start_up_says_once_whether_photos_are_read(monkeypatch, caplog):
    from antrean.runtime.serve import log_reading_status

    monkeypatch.setenv(ektp.ENABLED_ENV, "0")
    ektp.status.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger="antrean.runtime.serve"):
            assert log_reading_status() is False
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert "applicants are asked for their NIK" in caplog.text
    finally:
        monkeypatch.delenv(ektp.ENABLED_ENV)
        ektp.status.cache_clear()
