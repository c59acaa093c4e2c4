"""Personal data inside free text (what applicants typed, what the assistant answered): found and
masked for staff who lack the personal-data right, the same way on every page that shows texts.

What counts as personal data in a text:
- NIKs and phone numbers, by shape (the patterns of antrean.protection.scrubbing); masked like
  everywhere else in the console: the first four and last two (NIK) or four (phone) digits stay;
- the fields of a LAW `Nama#TGL Lahir#Alamat[#NIK]` message (antrean.identity.law_format);
- what follows a "Nama:", "Alamat:" or "Tanggal lahir:" label (the assistant's confirmation summary);
- dates that could be a birth date: any date the booking would read as one (antrean.identity.dates),
  except one on or after the day the text was written — that is an appointment, not a birthday;
- street addresses down to the house number (scrubbing's ADDRESS_PATTERN);
- the personal values the conversation itself gave (its person_name / address / birth_date / nik
  slots and entities), wherever they appear again, and each word of a name on its own;
- the spans of personal entities the NLU marked in the message.

Masking is character for character (same length; spaces and punctuation stay), so the words around
the data stay readable and entity offsets still fit the masked text (the NLU inbox relies on it)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from antrean.identity import is_bsuid, mask_bsuid, mask_msisdn, mask_nik
from antrean.identity.dates import find_date_spans
from antrean.identity.law_format import VISIT_DATE, parse_law_message
from antrean.protection.scrubbing import ADDRESS_PATTERN, NIK_PATTERN, PHONE_PATTERN

MASK = "•"

# Slot and entity names whose values are personal data in free text, and the kind each one is.
PERSONAL_KINDS = {"person_name": "name", "address": "address", "birth_date": "birth_date", "nik": "nik"}

# "Nama: Budi Santoso", "Alamat lengkap = Jl. …", "Tgl. lahir: 17-08-1990" — up to the end of the
# line or the next `#`.
_LABELLED = [(kind, re.compile(rf"\b(?:{label})\s*[:=]\s*([^\n#]+)", re.IGNORECASE)) for kind, label in (
    ("name", r"nama(?:\s+lengkap)?"),
    ("address", r"alamat(?:\s+lengkap)?"),
    ("birth_date", r"(?:tanggal|tgl\.?)\s*lahir|ttl"),
)]
# Parts of a name shorter than this (initials, "M.") are not looked for on their own.
_NAME_WORD_MIN = 3


@dataclass(frozen=True)
class Personal:
    """Where a piece of personal data sits in a text, and what kind it is."""

    start: int
    end: int
    kind: str  # nik | phone | name | birth_date | address


@dataclass
class KnownValues:
    """Personal values one conversation gave (slots set, entities recognised), so that they are also
    found where no pattern would see them: a name typed alone, an address without a house number."""

    values: dict[str, set[str]] = field(default_factory=dict)

    def add(self, name: str | None, value: object) -> None:
        """Keeps `value` if `name` is a personal slot or entity; anything else is ignored."""
        kind = PERSONAL_KINDS.get(name or "")
        if kind is None or not isinstance(value, str) or len(value.strip()) < 2:
            return
        self.values.setdefault(kind, set()).add(" ".join(value.split()))

    def patterns(self) -> list[tuple[re.Pattern[str], str]]:
        found = []
        for kind, values in self.values.items():
            parts = set(values)
            if kind == "name":  # "budi" alone, once the conversation gave "Budi Santoso"
                parts |= {w for v in values for w in re.findall(r"[^\W\d_]+", v) if len(w) >= _NAME_WORD_MIN}
            for part in sorted(parts, key=len, reverse=True):
                # The same words with any punctuation or spacing between them ("Jl. Melati No. 5" is
                # also "jl melati no 5"); whole words only.
                words = r"[\W_]+".join(re.escape(w) for w in re.findall(r"[^\W_]+", part))
                if words:
                    found.append((re.compile(rf"(?<![^\W_]){words}(?![^\W_])", re.IGNORECASE), kind))
        return found


def personal_spans(text: str, known: KnownValues | None = None, entities: Iterable[Mapping] = (),
                   written: date | None = None) -> list[Personal]:
    """Every piece of personal data found in `text` (they may overlap). `entities`: the NLU's
    entities of this message ({"entity", "start", "end"}); `written`: the day the text was
    written (dates from then on are appointments and stay readable); None masks every date."""
    found = [Personal(m.start(), m.end(), "nik") for m in NIK_PATTERN.finditer(text)]
    found += [Personal(m.start(), m.end(), "phone") for m in PHONE_PATTERN.finditer(text)]
    for entity in entities:
        kind = PERSONAL_KINDS.get(str(entity.get("entity")))
        start, end = entity.get("start"), entity.get("end")
        if kind and isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
            found.append(Personal(start, end, kind))
    for field_ in parse_law_message(text) or ():
        if field_.entity != VISIT_DATE:
            found.append(Personal(field_.start, field_.end, PERSONAL_KINDS[field_.entity]))
    for kind, pattern in _LABELLED:
        found += [Personal(m.start(1), m.end(1), kind) for m in pattern.finditer(text)]
    found += [Personal(start, end, "birth_date") for start, end, day in find_date_spans(text)
              if written is None or day is None or day < written]
    found += [Personal(m.start(), m.end(), "address") for m in ADDRESS_PATTERN.finditer(text)]
    for pattern, kind in (known.patterns() if known else ()):
        found += [Personal(m.start(), m.end(), kind) for m in pattern.finditer(text)]
    return found


def mask_text(text: str | None, known: KnownValues | None = None, entities: Iterable[Mapping] = (),
              written: date | None = None) -> str:
    """`text` with its personal data masked, character for character (see the module docstring)."""
    if not text:
        return text or ""
    spans = personal_spans(text, known, entities, written)
    chars = list(text)
    # NIKs and phone numbers first, partly; everything else over them, completely (a NIK inside a
    # masked LAW field or address is then masked whole).
    for span in sorted(spans, key=lambda s: s.kind not in ("nik", "phone")):
        if span.kind in ("nik", "phone"):
            _mask_digits(text, chars, span)
        else:
            for i in range(span.start, span.end):
                if chars[i].isalnum():
                    chars[i] = MASK
    return "".join(chars)


def _mask_digits(text: str, chars: list[str], span: Personal) -> None:
    """The digits as mask_nik / mask_msisdn show them, put back in the number's own spacing."""
    positions = [i for i in range(span.start, span.end) if text[i].isdigit()]
    digits = "".join(text[i] for i in positions)
    masked = mask_nik(digits) if span.kind == "nik" else mask_msisdn(digits)
    for i, shown in zip(positions, masked, strict=True):
        chars[i] = shown


def mask_sender(sender_id: str) -> str:
    """WhatsApp senders are numbers or, for users WhatsApp gives no number of, business-scoped user
    IDs; other channels' ids are opaque but may still be personal."""
    if sender_id.isdigit():
        return mask_msisdn(sender_id)
    if is_bsuid(sender_id):
        return mask_bsuid(sender_id)
    return sender_id[:3] + "…" if len(sender_id) > 6 else "…"
