"""Personal data in user messages: the shapes of NIKs, phone numbers and addresses, and their
replacement by realistic placeholders for training data (masking for the screen: masking.py).

A placeholder must look like the real thing — the model learns the shape of a NIK or an address
from these examples — but never be one: NIKs are built from real region codes with a serial of
9xxx, phone numbers from the 0812-0000 block, addresses from a short list of common street names.
Placeholders are numbered in the order they occur in the export, not derived from the original
value, so nothing of the original can be recovered from them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from antrean.identity.regions import district_codes

# NIKs as typed: 16 digits, possibly in groups ("2171 0357 0890 0001"); phone numbers 08… / 62… /
# +62…, with or without spaces and dashes. The console's masking finds them with these too.
NIK_PATTERN = re.compile(r"(?<!\d)\d(?:[ .-]?\d){15}(?!\d)")
PHONE_PATTERN = re.compile(r"(?<![\d+])(?:\+?62|0)[ -]?8\d(?:[ .-]?\d){6,11}(?!\d)")
# A street address down to the house: "Jl. Raya Sekupang No. 12", "jalan melati 5 rt 01/rw 02",
# "Perum Griya Indah Blok C3 No 7". The street alone ("di jalan Sudirman") is not personal.
ADDRESS_PATTERN = re.compile(
    r"\b(?:jl|jln|jalan|gg|gang|perum|perumahan|komp|komplek|kompleks)\b\.?\s+[^\n,#.]{2,60}?"
    r"(?:\b(?:no|nomor|nmr|blok|blk)\b\.?\s*[a-z]?\d+[a-z]?\b|\s\d+[a-z]?\b)"
    r"(?:[^\n#]{0,40}?\brt\b\.?\s*\d{1,3}(?:\s*/\s*(?:rw\b\.?\s*)?\d{1,3})?)?",
    re.IGNORECASE)

STREETS = ["Jl. Melati No. 7", "Jl. Kenanga No. 21 RT 03/RW 05", "Jl. Merdeka No. 45", "Jl. Cempaka Putih No. 9",
           "Jl. Diponegoro No. 112", "Gg. Mawar No. 3 RT 01/RW 02", "Perum Griya Asri Blok B2 No. 14",
           "Jl. Sudirman No. 88", "Jl. Pahlawan No. 16 RT 04/RW 01", "Jl. Anggrek No. 30"]
NAMES = ["Andi Saputra", "Rina Kartika", "Joko Susilo", "Sri Wahyuni", "Bambang Hidayat", "Lestari Handayani",
         "Taufik Rahman", "Wulan Permata", "Eko Prasetyo", "Ayu Puspitasari"]
PHONES = ["0812-0000-1{:03d}", "0813-0000-2{:03d}", "0857-0000-3{:03d}", "0878-0000-4{:03d}"]


def _districts() -> list[str]:
    # District codes (6 digits) of every province, spread out so the placeholders do not all look Acehnese.
    codes = district_codes()
    step = max(1, len(codes) // 40)
    return codes[::step]


@dataclass
class Placeholders:
    """Hands out the n-th placeholder of each kind, remembering what it gave for a repeated value
    within one export (the same NIK twice in a message stays one NIK)."""

    given: dict[tuple[str, str], str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def _next(self, kind: str) -> int:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return self.counts[kind] - 1

    def nik(self, original: str) -> str:
        return self._remember("nik", original, self._new_nik)

    def phone(self, original: str) -> str:
        return self._remember("phone", original, lambda n: PHONES[n % len(PHONES)].format(n % 1000))

    def address(self, original: str) -> str:
        return self._remember("address", original, lambda n: STREETS[n % len(STREETS)])

    def name(self, original: str) -> str:
        return self._remember("name", original.casefold(), lambda n: NAMES[n % len(NAMES)])

    def _remember(self, kind: str, original: str, make) -> str:
        key = (kind, original)
        if key not in self.given:
            self.given[key] = make(self._next(kind))
        return self.given[key]

    def _new_nik(self, n: int) -> str:
        districts = _districts()
        district = districts[(n * 7) % len(districts)]
        born = date(1970 + (n * 3) % 35, 1 + n % 12, 1 + (n * 5) % 28)
        day = born.day + (40 if n % 2 else 0)  # women add 40 to the day, as on real cards
        return f"{district}{day:02d}{born.month:02d}{born.year % 100:02d}{9000 + n % 1000:04d}"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity: str


# Entities whose value is personal data whatever its shape; replaced whole.
PERSONAL_ENTITIES = {"nik": "nik", "address": "address", "person_name": "name"}


def scrub(text: str, entities: list[Span], placeholders: Placeholders) -> tuple[str, list[Span]]:
    """The text with NIKs, phone numbers, exact addresses (and the values of the nik, address and
    person_name entities) replaced by placeholders; entity spans moved to match."""
    replacements: list[tuple[int, int, str]] = []
    for span in entities:
        kind = PERSONAL_ENTITIES.get(span.entity)
        if kind:
            replacements.append((span.start, span.end, getattr(placeholders, kind)(text[span.start:span.end])))
    for pattern, kind in ((NIK_PATTERN, "nik"), (PHONE_PATTERN, "phone"), (ADDRESS_PATTERN, "address")):
        for match in pattern.finditer(text):
            if not any(match.start() < end and start < match.end() for start, end, _ in replacements):
                replacements.append((match.start(), match.end(), getattr(placeholders, kind)(match.group())))
    replacements.sort()
    return _apply(text, replacements), [_moved(span, replacements) for span in entities]


def _apply(text: str, replacements: list[tuple[int, int, str]]) -> str:
    out, position = [], 0
    for start, end, new in replacements:
        out += [text[position:start], new]
        position = end
    return "".join(out) + text[position:]


def _moved(span: Span, replacements: list[tuple[int, int, str]]) -> Span:
    """The span in the new text; a replaced value that overlaps it becomes part of it."""
    def shifted(position: int, is_end: bool) -> int:
        delta = 0
        for start, end, new in replacements:
            if (start <= position < end) if not is_end else (start < position <= end):
                return start + delta + (len(new) if is_end else 0)
            if end <= position:
                delta += len(new) - (end - start)
        return position + delta

    return Span(shifted(span.start, False), shifted(span.end, True), span.entity)
