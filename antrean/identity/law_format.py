"""Deterministic reading of the old LAW `#` registration format.

Since 2017 applicants in Batam have been told to send `Nama#TGL. Lahir#Alamat`; other offices
used `NIK#Nama#Tgl#Alamat`, `E-PASSPORT#NAMA#…` and `#Budi#25011987#07082017` (name, birth date,
arrival date), plus `#batal` to cancel. People still send these from memory, and a statistical
classifier should not be trusted to split them: the `#` already tells us where each field is.

`parse_law_message` recognises the format; it only decides *which* field is which and where it
sits. Whether a date or NIK is valid is checked later, in the form validation actions. Pure (no
Rasa): the assistant's `LawFormatClassifier` (antrean/assistant/nlu/law_format.py) applies it to
messages, and the console's masking (antrean/protection/masking.py) finds the personal fields with it.

People wrap the fields in chat: "mau daftarin anak saya, Putri Ayu#02-03-2015#Perum …", "Selamat
pagi kak\nBudi#…", "…#Jl. Sudirman 5\nmakasih kak". Such a lead-in before the first field and a
sign-off after the last are not part of the name or the address (`_without_lead_in`,
`_without_sign_off`); what they say in passing (for a child, a renewal) is read by
antrean/assistant/nlu/in_passing.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PERSON_NAME = "person_name"
BIRTH_DATE = "birth_date"
ADDRESS = "address"
NIK = "nik"
VISIT_DATE = "visit_date"
LAW_ENTITY_TYPES = frozenset({PERSON_NAME, BIRTH_DATE, ADDRESS, NIK, VISIT_DATE})

# Month names and the abbreviations people actually type (Indonesian first, English too because
# chats are code-mixed). Longest first so "agustus" wins over "agu".
_MONTHS = sorted(
    [
        "januari", "jan", "februari", "pebruari", "feb", "peb", "maret", "mar", "april", "apr",
        "mei", "may", "juni", "jun", "juli", "jul", "agustus", "agust", "agst", "agt", "ags", "agu",
        "aug", "august", "september", "sept", "sep", "oktober", "okt", "oct", "october",
        "november", "nopember", "nov", "nop", "desember", "des", "dec", "december",
    ],
    key=len,
    reverse=True,
)
_YEAR = r"(?:\d{4}|\d{2})"
_DATE = re.compile(
    r"(?<!\d)(?:"
    rf"\d{{1,2}}\s*[-/.]\s*\d{{1,2}}\s*[-/.]\s*{_YEAR}"  # 17-08-1990, 17/8/90, 17.08.1990
    rf"|\d{{1,2}}[\s\-/.]*(?:{'|'.join(_MONTHS)})(?![^\W\d_])\.?[\s\-/.,]*{_YEAR}"  # 17 Agustus 1990, 17 agt 90
    # Compact DDMMYYYY (the form some offices asked for) and DDMMYY, which people type anyway;
    # the day and month ranges keep other numbers out.
    r"|(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])(?:19|20)?\d{2}"
    r")(?!\d)",
    re.IGNORECASE,
)
# A date field may carry a place or a short lead-in: "Batam, 17-08-1990" (tempat, tanggal
# lahir) or "tgl 17/8/90"; anything with digits or more than a few words is not a date field.
_DATE_LEAD_IN = re.compile(r"[^\W\d_][^\d#]{0,40}?[\s,:]+|")

# Field labels make a field unmistakable: "Nama: Budi", "Tgl lahir 17-08-1990", "NIK 2171…".
_LABELS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rf"\s*(?:{pattern})(?:\s*[:=]\s*|\s*-\s+|\s+)", re.IGNORECASE))
    for kind, pattern in (
        (BIRTH_DATE, r"(?:tgl\.?|tggl|tanggal)\s*lahir|tempat\s*,?\s*tanggal\s+lahir|ttl|lahir|dob"),
        (PERSON_NAME, r"nama(?:\s+lengkap)?(?:\s+(?:saya|sy|aku))?|name"),
        (ADDRESS, r"alamat(?:\s+lengkap)?|almt|address|domisili"),
        (NIK, r"nik|no\.?\s*ktp|nomor\s+ktp|no\.?\s*nik"),
    )
)
_PREFIX = re.compile(
    r"(?:e[\s\-]?pass?port|e[\s\-]?pasp[oa]r|pasp[oa]r|pass?port|daftar|registrasi|reg|antre|antri)",
    re.IGNORECASE,
)
_ADDRESS_WORD = re.compile(
    r"\b(?:jl|jln|jalan|gg|gang|rt|rw|no|nomor|blok|blk|perum|perumahan|komp|kompleks|kel|"
    r"kelurahan|kec|kecamatan|kab|kabupaten|kota|desa|dusun|kp|kampung|kav|ruko|apartemen|"
    r"apt|tower|lantai|ds|dsn|cluster|residence|griya|villa|taman)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"[^\W\d_][^\W\d_ .,'’`\-]*(?:[ .,'’`\-]+[^\W\d_]+)*\.?")
_PHONE = re.compile(r"(?:\+?62|0)8\d{7,11}")
# Chat around the fields. A lead-in is made of these words and phrases only (greetings, "mau
# daftar(in)", "untuk anak saya", "paspor baru", "nama:" …), or ends at a comma, colon or line
# break after at least one registration word. None of them is a given name people have: "anak"
# counts only with "saya"/"ku"/"kami", so a Balinese "Anak Agung …" stays a name, and honorifics
# that may be part of a name on the e-KTP (Pak, Bu, Mas) are not listed.
_LEAD_WORD = (
    r"(?:assalamu'?alaikum|halo|hallo|hai|hi|selamat\s+(?:pagi|siang|sore|malam)|pagi|siang|sore|malam|permisi|"
    r"kak|min|admin|gan|sis|"
    r"saya|sy|aku|kami|ini|itu|berikut(?:nya)?|data(?:nya)?|mau|ingin|ingn|pengen|pingin|tolong|mohon|minta|"
    r"bantu|dibantu|"
    r"daftar(?:kan|in)?|didaftarkan|mendaftar(?:kan)?|registrasi|antri(?:an)?|antre(?:an)?|ambil|"
    r"bikin|buat|membuat|urus|ngurus|mengurus|untuk|utk|atas\s+nama|a\.?n\.?|nama(?:nya)?|"
    r"e[\s\-]?pass?port|e[\s\-]?pasp[oa]r|pasp[oa]r|pass?port|baru|perpanjang(?:an)?|"
    r"(?:anak|putra|putri|istri|suami|ibu|ayah|bapak|adik|kakak|keponakan|cucu)\s*(?:saya|sy|ku|kami|aku)|anakku"
    r")"
)
_LEAD_IN = re.compile(rf"(?:{_LEAD_WORD}(?![^\W\d_])[\s,.:;!\-]*)+", re.IGNORECASE)
# Words that also begin names or nicknames ("Aku Yg Terakhir", "Baru Sinaga"): alone they are no
# lead-in, only next to another lead-in word ("saya mau daftar …").
_WEAK_LEAD = re.compile(r"(?:(?:saya|sy|aku|kami|ini|itu|baru|data|nama)[\s,.:;!\-]*)+", re.IGNORECASE)
_REGISTRATION_WORD = re.compile(r"daftar|antri|antre|pasp|passp|mau|ingin|tolong|mohon|anak|nama|berikut|data",
                                re.IGNORECASE)
_SIGN_OFF = re.compile(
    r"(?:[\n,.;!]+|\s+)\s*(?:(?:terima\s*kasih|terimakasih|makasih|mksh|trims|tks|thx|thanks|"
    r"mohon\s+dibantu|tolong\s+dibantu|ya|yah|kak|ka|min|admin|gan|pak|bu|dong|"
    r"untuk|utk|buat|anakku|(?:anak|putra|putri|istri|suami|ibu|ayah|bapak|adik|kakak)\s*(?:saya|sy|ku|kami|aku)"
    r")(?![^\W\d_])[\s,.!;]*)+$",
    re.IGNORECASE,
)
_CANCEL = re.compile(r"\s*(?:#\s*(?:batal(?:kan)?|cancel)\b|(?:batal(?:kan)?|cancel)\s*#)", re.IGNORECASE)
_STRIP = " \t\r\n,;"


@dataclass(frozen=True)
class LawEntity:
    """One recognised field: its entity type and where it sits in the message text."""

    entity: str
    start: int
    end: int
    value: str


@dataclass(frozen=True)
class _Field:
    start: int  # after stripping whitespace and a label
    end: int
    text: str
    label: str | None  # entity type named by a label ("Nama: …"), if any


def parse_law_message(text: str) -> tuple[LawEntity, ...] | None:
    """Reads a LAW-format registration; returns its fields in text order, or None.

    A match needs an applicant name plus a birth date or a NIK; the address is optional (the
    form asks for what is missing). Fields may come in any order when each is unmistakable.
    """
    if "#" not in text or is_cancel_command(text):
        return None
    fields = _split_fields(text)
    if fields and fields[0].label is None and _PREFIX.fullmatch(fields[0].text) and len(fields) > 1:
        fields = fields[1:]
    elif fields and fields[0].label is None:
        fields[0] = _without_lead_in(text, fields[0])
    if fields and fields[-1].label in (ADDRESS, None):
        fields[-1] = _without_sign_off(text, fields[-1])
    if not 2 <= len(fields) <= 5:
        return None

    found: dict[str, list[LawEntity]] = {kind: [] for kind in LAW_ENTITY_TYPES}
    dates: list[LawEntity] = []
    free_text: list[_Field] = []
    for field in fields:
        if field.label in (BIRTH_DATE, None) and (date := _date_in(field)) is not None:
            # A labelled birth date goes first, so it beats an unlabelled arrival date.
            dates.insert(0 if field.label else len(dates), date)
        elif field.label in (NIK, None) and (nik := _nik_in(field)) is not None:
            found[NIK].append(nik)
        elif field.label is None and _PHONE.fullmatch(_compact(field.text)):
            continue  # a phone number adds nothing: we already have the WhatsApp number
        elif field.label in (PERSON_NAME, ADDRESS):
            found[field.label].append(_entity(field.label, field))
        elif field.label is None:
            free_text.append(field)
        else:
            return None  # a "NIK:"/"Tgl lahir:" label on something that is not one
    if len(dates) > 2 or len(found[NIK]) > 1:
        return None
    if dates:
        found[BIRTH_DATE].append(_relabel(dates[0], BIRTH_DATE))
    if len(dates) == 2:
        found[VISIT_DATE].append(_relabel(dates[1], VISIT_DATE))
    if not _assign_free_text(free_text, found):
        return None
    if len(found[PERSON_NAME]) != 1 or len(found[ADDRESS]) > 1:
        return None
    if not (found[BIRTH_DATE] or found[NIK]):
        return None
    return tuple(sorted((e for group in found.values() for e in group), key=lambda e: e.start))


def is_cancel_command(text: str) -> bool:
    """True for the LAW cancel command: `#batal`, `#BATAL`, `batal#…`."""
    return _CANCEL.match(text) is not None


def _split_fields(text: str) -> list[_Field]:
    fields = []
    for match in re.finditer(r"[^#]+", text):
        start, end = match.span()
        while start < end and text[start] in _STRIP:
            start += 1
        while end > start and text[end - 1] in _STRIP:
            end -= 1
        if start == end:
            continue
        label = None
        for kind, pattern in _LABELS:
            labelled = pattern.match(text, start, end)
            if labelled and labelled.end() < end:
                label, start = kind, labelled.end()
                break
        fields.append(_Field(start, end, text[start:end], label))
    return fields


def _without_lead_in(text: str, field: _Field) -> _Field:
    """The first field without the chat in front of the name: "mau daftarin anak saya, Putri Ayu"
    → "Putri Ayu". Unchanged unless what remains looks like a name."""
    lead = _LEAD_IN.match(field.text)
    if lead and 0 < lead.end() < len(field.text) and not _WEAK_LEAD.fullmatch(lead.group()):
        rest = _Field(field.start + lead.end(), field.end, field.text[lead.end():], None)
        if _looks_like_name(rest):
            return rest
    # A lead-in in words we do not list, ended by a comma, colon or line break: "Assalamualaikum,
    # sy ingin mendaftarkan putri sy: Putri Ayu".
    cut = max(field.text.rfind(mark) for mark in (",", ":", "\n"))
    if cut > 0 and _REGISTRATION_WORD.search(field.text[:cut]):
        offset = cut + 1
        while offset < len(field.text) and field.text[offset] in _STRIP:
            offset += 1
        rest = _Field(field.start + offset, field.end, field.text[offset:], None)
        if rest.text and _looks_like_name(rest):
            return rest
    return field


def _without_sign_off(text: str, field: _Field) -> _Field:
    """The last field without a sign-off after it: "Jl. Sudirman 5\nmakasih kak" → "Jl. Sudirman 5"."""
    match = _SIGN_OFF.search(field.text)
    if match is None or match.start() == 0:
        return field
    end = field.start + match.start()
    while end > field.start and text[end - 1] in _STRIP + ".":
        end -= 1
    return _Field(field.start, end, text[field.start:end], field.label) if end > field.start else field


def _assign_free_text(free_text: list[_Field], found: dict[str, list[LawEntity]]) -> bool:
    """Decides which unlabelled text field is the name and which the address."""
    need_name = not found[PERSON_NAME]
    need_address = not found[ADDRESS]
    if len(free_text) > int(need_name) + int(need_address):
        return False
    if len(free_text) == 2:
        first, second = free_text
        if _looks_like_address(first) and _looks_like_address(second):
            return False  # two addresses and no name
        if _looks_like_address(first):
            first, second = second, first  # unmistakable: the address came first
        # Otherwise keep the documented order Nama#…#Alamat.
        if not _looks_like_name(first):
            return False
        found[PERSON_NAME].append(_entity(PERSON_NAME, first))
        found[ADDRESS].append(_entity(ADDRESS, second))
    elif len(free_text) == 1:
        (field,) = free_text
        if need_name and _looks_like_name(field):
            found[PERSON_NAME].append(_entity(PERSON_NAME, field))
        elif need_address:
            found[ADDRESS].append(_entity(ADDRESS, field))
        else:
            return False
    return True


def _date_in(field: _Field) -> LawEntity | None:
    """The date in a date-only field (optionally after a place or a short lead-in)."""
    for match in _DATE.finditer(field.text):
        lead_in, rest = field.text[: match.start()], field.text[match.end() :]
        if rest.strip(" .") or _ADDRESS_WORD.search(lead_in):
            continue
        if not _DATE_LEAD_IN.fullmatch(lead_in) or len(lead_in.split()) > 4:
            continue
        return LawEntity(BIRTH_DATE, field.start + match.start(), field.start + match.end(), match.group())
    return None


def _nik_in(field: _Field) -> LawEntity | None:
    # NIKs are often typed in groups ("2171 0508 9000 9001"); the span keeps the grouping.
    if len(_compact(field.text)) == 16 and _compact(field.text).isdigit():
        return _entity(NIK, field)
    return None


def _compact(text: str) -> str:
    return re.sub(r"[\s.\-]", "", text)


def _looks_like_address(field: _Field) -> bool:
    return any(ch.isdigit() for ch in field.text) or _ADDRESS_WORD.search(field.text) is not None


def _looks_like_name(field: _Field) -> bool:
    return _NAME.fullmatch(field.text) is not None and _ADDRESS_WORD.search(field.text) is None


def _entity(kind: str, field: _Field) -> LawEntity:
    return LawEntity(kind, field.start, field.end, field.text)


def _relabel(entity: LawEntity, kind: str) -> LawEntity:
    return LawEntity(kind, entity.start, entity.end, entity.value)
