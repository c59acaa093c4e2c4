"""NIK (Nomor Induk Kependudukan), the 16-digit number on the e-KTP: ``PPKKCC DDMMYY SSSS``.

``PP`` province, ``PPKK`` regency/city, ``PPKKCC`` district; ``DDMMYY`` the birth date, with 40 added
to the day for women; ``SSSS`` a serial from 0001.

Decisions:

* The province and the regency must be known (any Kemendagri edition 2016–2025). An unknown
  district is accepted when its regency is known: districts are split and renumbered more often
  than regencies, a NIK keeps its original code for life, and our list cannot be complete for every
  edition since the 1990s. Rejecting a genuine e-KTP costs far more than accepting a wrong district.
* The century of the birth year is the latest one that does not put the date after ``today``
  (so never more than 100 years back, well inside the 120-year limit). Guessing 19xx first, as
  python-stdnum does, is wrong for everyone born from 2000 on, and children need passports too.
* There is no check digit in a NIK, so a mistyped digit in the serial cannot be detected here; the
  birth date and gender cross-checks below catch many typos in the middle of the number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from antrean.identity import regions
from antrean.identity.dates import expand_two_digit_year
from antrean.identity.errors import InvalidDate, InvalidNik

Gender = Literal["L", "P"]

_SEPARATORS = re.compile(r"[\s.\-]+")
_NIK = re.compile(r"[0-9]{16}")
_FEMALE_DAY_OFFSET = 40

_GENDER_WORDS: dict[str, Gender] = {
    "l": "L", "lk": "L", "laki-laki": "L", "laki laki": "L", "lakilaki": "L", "laki": "L", "pria": "L",
    "m": "L", "male": "L",
    "p": "P", "pr": "P", "perempuan": "P", "wanita": "P", "w": "P", "f": "P", "female": "P",
}


@dataclass(frozen=True, repr=False)
class Nik:
    value: str
    province_code: str
    regency_code: str
    district_code: str
    birth_date: date
    gender: Gender
    serial: str

    @property
    def province_name(self) -> str | None:
        return regions.province_name(self.province_code)

    @property
    def regency_name(self) -> str | None:
        return regions.regency_name(self.regency_code)

    @property
    def district_name(self) -> str | None:
        return regions.district_name(self.district_code)

    @property
    def masked(self) -> str:
        return mask_nik(self.value)

    # A NIK is personal data (it contains the birth date); the default dataclass repr would put it
    # into logs and tracebacks.
    def __repr__(self) -> str:
        return f"Nik({self.masked!r})"

    __str__ = __repr__


def _digits(text: str) -> str:
    return _SEPARATORS.sub("", text)


def parse_nik(text: str, today: date) -> Nik:
    """Parse and check a NIK; spaces, dots and dashes between digits are ignored."""
    value = _digits(text)
    if not _NIK.fullmatch(value):
        raise InvalidNik("nik_length")
    province, regency, district = value[:2], value[:4], value[:6]
    if regions.province_name(province) is None or regions.regency_name(regency) is None:
        raise InvalidNik("nik_region", detail="unknown province or regency code")

    day, month, yy = int(value[6:8]), int(value[8:10]), int(value[10:12])
    gender: Gender = "L"
    if day > _FEMALE_DAY_OFFSET:
        day -= _FEMALE_DAY_OFFSET
        gender = "P"
    # The latest century not after today is always less than 101 years back, so the 120-year
    # limit on ages holds by construction.
    try:
        birth = expand_two_digit_year(day, month, yy, today)
    except InvalidDate:
        raise InvalidNik("nik_date", detail="birth date part is not a date") from None

    serial = value[12:]
    if serial == "0000":
        raise InvalidNik("nik_serial")
    return Nik(value, province, regency, district, birth, gender, serial)


def gender_code(text: str) -> Gender:
    """``"L"`` or ``"P"`` from the ways gender is written ("L", "Laki-laki", "Perempuan", "wanita"…).

    Raises ValueError for anything else: the caller must ask again rather than guess.
    """
    code = _GENDER_WORDS.get(" ".join(text.replace("_", " ").split()).lower())
    if code is None:
        raise ValueError("unrecognised gender")
    return code


def check_nik_against(nik: Nik, birth_date: date, gender: str | None = None) -> None:
    """Raise InvalidNik if the stated birth date (and gender, if given) disagree with the NIK.

    Only day, month and the last two digits of the year are compared, because that is all the NIK
    records; its century is our guess, and the stated date decides it (a 110-year-old born in 1915
    has "15" in the NIK, which parse_nik reads as 2015).
    """
    encoded = (nik.birth_date.day, nik.birth_date.month, nik.birth_date.year % 100)
    if encoded != (birth_date.day, birth_date.month, birth_date.year % 100):
        raise InvalidNik("nik_birth_date_mismatch")
    if gender is not None and gender_code(gender) != nik.gender:
        raise InvalidNik("nik_gender_mismatch")


def mask_nik(nik: str | Nik) -> str:
    """Keep the first 4 digits (province and regency) and the last 2 (end of the serial).

    The 16-character shape lets staff recognise a NIK in a log and match it against the card, while
    digits 5–14, which hold the district and the birth date, are never shown. Anything that is not a
    16-digit NIK is masked completely.
    """
    value = nik.value if isinstance(nik, Nik) else _digits(nik)
    if not _NIK.fullmatch(value):
        return "*" * len(value)
    return value[:4] + "*" * 10 + value[-2:]
