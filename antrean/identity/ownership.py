"""Whether the e-KTP on a photo is the applicant's own (or, for a minor, a parent's).

Calo register strangers with a sharp photo of someone else's e-KTP; the typed details then belong
to one person and the card to another. What the card says is only held against what was typed when
it was read reliably enough for a refusal not to hit an applicant for an OCR slip:

* the **NIK**: only a trusted one (``CardReading.trusted_nik``: confident, structurally valid and
  agreeing with the card's own birth date and sex), and a typed NIK counts as different only when
  ``NIK_DIGITS_DIFFERENT`` or more digits differ (one or two are a typo or a misread digit; two
  people's NIKs differ in their date and serial parts);
* the **birth date**: only when the card's NIK is trusted, since that NIK agrees with the printed
  date (two independent readings of the same date);
* the **name**: only when read with ``NAME_MIN_CONFIDENCE``, compared without case, spacing,
  punctuation or titles (H., Hj., Dr., S.Kom …), and "clearly different" only when neither the
  whole names nor any of their words are alike (a shortened name or an OCR slip is not a stranger).

Nothing here refuses by itself: the result says what differs, the caller answers the applicant."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from antrean.identity.dates import ADULT_AGE_YEARS, age_on
from antrean.identity.ektp import CardReading

NIK_DIGITS_DIFFERENT = 3
NAME_MIN_CONFIDENCE = 80.0
# Below this similarity of the whole names (letters only) and of every pair of words, two names
# are different people's; between it and SAME_NAME they are neither (no refusal).
DIFFERENT_NAME = 0.5
SAME_WORD = 0.8
# A parent is at least this much older than the child on the registration.
PARENT_MIN_YEARS_OLDER = 12

TITLES = frozenset({
    "h", "hj", "dr", "drs", "dra", "ir", "prof", "st", "sh", "se", "mm", "mh", "spd", "skom", "sked", "ssi", "sag",
    "amd", "amk", "md", "mba", "msc", "bsc", "ba", "kh", "tn", "ny", "nn", "sdr", "sdri", "bpk", "ibu", "bapak",
})


@dataclass(frozen=True)
class CardCheck:
    """``mismatch``: what shows the card is not the applicant's (``"nik"``, ``"birth_date"``,
    ``"name"``; for a minor's parent ``"guardian"``), None if nothing does. ``nik``: the card's
    trusted NIK, to be shown for confirmation when none was typed. ``nik_is_guardians``: the NIK
    typed for a child is the parent's own (the child's is on the family card)."""

    mismatch: str | None = None
    nik: str | None = None
    nik_is_guardians: bool = False


def name_words(name: str) -> list[str]:
    """Upper-case letter words of a name without accents, punctuation or titles."""
    plain = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch)).upper()
    # "S.Kom" and "S. Kom" are one title: joined before splitting.
    plain = re.sub(r"\b([A-Z])\.\s?([A-Z]{1,3})\b\.?", r"\1\2", plain)
    words = re.findall(r"[A-Z]+", plain)
    return [w for w in words if w.lower() not in TITLES]


def names_clearly_differ(typed: str, card: str) -> bool:
    typed_words, card_words = name_words(typed), name_words(card)
    if not typed_words or not card_words:
        return False
    if difflib.SequenceMatcher(None, "".join(typed_words), "".join(card_words)).ratio() >= DIFFERENT_NAME:
        return False
    return not any(difflib.SequenceMatcher(None, a, b).ratio() >= SAME_WORD
                   for a in typed_words for b in card_words if min(len(a), len(b)) >= 3)


def digits_different(a: str, b: str) -> int:
    if len(a) != len(b):
        return max(len(a), len(b))
    return sum(x != y for x, y in zip(a, b, strict=True))


def check_own_card(reading: CardReading | None, *, name: str | None, birth_date: date | None, nik: str | None,
                   today: date) -> CardCheck:
    """The applicant's own e-KTP against their typed name, birth date and NIK (any may be None)."""
    if reading is None or not reading.card_found:
        return CardCheck()
    card_nik = reading.trusted_nik(today)
    if card_nik and nik and digits_different(card_nik, nik) >= NIK_DIGITS_DIFFERENT:
        return CardCheck(mismatch="nik", nik=card_nik)
    if card_nik and birth_date and reading.birth_date and reading.birth_date != birth_date:
        return CardCheck(mismatch="birth_date", nik=card_nik)
    if (name and reading.name and reading.name_confidence >= NAME_MIN_CONFIDENCE
            and names_clearly_differ(name, reading.name)):
        return CardCheck(mismatch="name", nik=card_nik)
    return CardCheck(nik=card_nik)


def check_guardian_card(reading: CardReading | None, *, child_birth_date: date | None, child_nik: str | None,
                        today: date) -> CardCheck:
    """A minor's registration: the e-KTP must be a parent's — an adult clearly older than the
    child — and the NIK typed for the child must not be that parent's."""
    if reading is None or not reading.card_found:
        return CardCheck()
    card_nik = reading.trusted_nik(today)
    if card_nik is None or reading.birth_date is None:
        return CardCheck()
    holder = reading.birth_date
    too_young = age_on(holder, today) < ADULT_AGE_YEARS
    if child_birth_date is not None:
        too_young = too_young or age_on(holder, child_birth_date) < PARENT_MIN_YEARS_OLDER
    if too_young:
        return CardCheck(mismatch="guardian")
    return CardCheck(nik_is_guardians=bool(child_nik) and child_nik == card_nik)
