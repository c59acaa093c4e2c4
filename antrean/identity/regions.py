"""Indonesian region names by code (province, regency/city, district), as used in a NIK.

Data: ``data/kode_wilayah_1_3.csv`` from cahyadsn/wilayah (MIT, see ``data/README.md``). Codes that
are no longer in the 2025 list are kept: a NIK keeps the code it was issued with even after a
regency is split or moved to a new province (e.g. Merauke 9101 → 9301 in 2022).
"""

from __future__ import annotations

import csv
import functools
import io
import re
from importlib import resources

_DATA_FILE = "kode_wilayah_1_3.csv"


def _tidy(name: str) -> str:
    # Codes dropped before 2025 still have the old upper-case spelling ("KAB. MERAUKE"); the current
    # edition writes "Kabupaten Merauke", and applicants see these names.
    if name.isupper():
        name = re.sub(r"^KAB\.\s*", "Kabupaten ", name).title()
    return name


@functools.cache
def _names() -> dict[str, str]:
    raw = resources.files(__package__).joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    return {row["kode"]: _tidy(row["nama"].strip()) for row in csv.DictReader(io.StringIO(raw))}


def _lookup(code: str, length: int) -> str | None:
    if len(code) != length or not code.isascii() or not code.isdigit():
        return None
    return _names().get(code)


def province_name(code2: str) -> str | None:
    """Name of the province with this 2-digit code, or None if unknown."""
    return _lookup(code2, 2)


def regency_name(code4: str) -> str | None:
    """Name of the regency (kabupaten) or city (kota) with this 4-digit code, or None if unknown."""
    return _lookup(code4, 4)


def district_name(code6: str) -> str | None:
    """Name of the district (kecamatan) with this 6-digit code, or None if unknown."""
    return _lookup(code6, 6)


def district_codes() -> list[str]:
    """Every known district code (6 digits), in order."""
    return sorted(code for code in _names() if len(code) == 6)
