"""Birth dates written the way Indonesian applicants write them in chat.

Accepted (day first, as in Indonesia; the date may sit inside a sentence such as "tgl lahir …"):

* numeric with ``-``, ``/`` or ``.`` separators and a 2- or 4-digit year: ``17-08-1990``, ``17/8/90``;
* numeric with spaces and a 4-digit year: ``17 08 1990``;
* compact ``DDMMYYYY``: ``17081990``;
* ISO ``YYYY-MM-DD``: ``1990-08-17``;
* a month name or abbreviation, Indonesian or English: ``17 Agustus 1990``, ``17 agt 90``,
  ``17-agustus-1990``, ``August 17, 1990``.

Decisions:

* Compact six digits (``170890``) are rejected as unparseable: DDMMYY and YYMMDD are both in use and
  often both valid (``100812``), and six-digit runs are frequently other numbers (NIK fragments).
  The applicant is asked again with an example, which costs one message; a wrong birth date costs a
  wasted trip to the office.
* A two-digit year takes the latest century that does not put the date in the future.
* ``dateparser`` is not used: it misses forms applicants type (``tgl …``, ``ags``, ``25011987``) and
  it guesses what is missing — "Agustus 1990" becomes 1 August 1990, "2 hari lalu" becomes a date —
  which is wrong for a birth date. A fixed table keeps parsing deterministic and auditable.
"""

from __future__ import annotations

import re
from datetime import date

from antrean.identity.errors import InvalidDate

MAX_AGE_YEARS = 120
ADULT_AGE_YEARS = 17

MONTHS: dict[str, int] = {
    # Indonesian, with the spellings and abbreviations seen on forms and in chat (P/F and N/P
    # alternate in older spelling: Pebruari, Nopember).
    "januari": 1, "jan": 1,
    "februari": 2, "pebruari": 2, "feb": 2, "peb": 2, "febr": 2, "pebr": 2,
    "maret": 3, "mar": 3, "mrt": 3,
    "april": 4, "apr": 4,
    "mei": 5,
    "juni": 6, "jun": 6,
    "juli": 7, "jul": 7,
    "agustus": 8, "agt": 8, "ags": 8, "agu": 8, "agus": 8, "agust": 8, "agst": 8, "agts": 8,
    "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "okt": 10,
    "november": 11, "nopember": 11, "nov": 11, "nop": 11,
    "desember": 12, "des": 12,
    # English.
    "january": 1, "february": 2, "march": 3, "may": 5, "june": 6, "july": 7,
    "august": 8, "aug": 8, "october": 10, "oct": 10, "december": 12, "dec": 12,
}

# Longest first so that "agustus" is not cut to "agu" and leave "stus" behind.
_MONTH = "(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")(?![A-Za-z])\.?"
_YEAR = r"(?P<year>\d{4}|\d{2})(?!\d)"
_DAY = r"(?<!\d)(?P<day>\d{1,2})"

# re.ASCII: \d and case folding stay ASCII, so "١٢" or the Kelvin sign never reach int() or MONTHS.
_PATTERNS = [
    re.compile(p, re.ASCII | re.IGNORECASE)
    for p in (
        # ISO first: at the same start position it is the longer, more specific reading.
        r"(?<!\d)(?P<year>\d{4})[-/.](?P<month>\d{1,2})[-/.](?P<day>\d{1,2})(?!\d)",
        _DAY + r" *[-/.] *(?P<month>\d{1,2}) *[-/.] *" + _YEAR,
        _DAY + r" +(?P<month>\d{1,2}) +(?P<year>\d{4})(?!\d)",
        r"(?<!\d)(?P<day>\d{2})(?P<month>\d{2})(?P<year>\d{4})(?!\d)",
        _DAY + r"(?:st|nd|rd|th)? *[-/.,]? *" + _MONTH + r" *[-/.,]? *" + _YEAR,
        # English month-first. A separator before the year is required, or "Agustus 1990" would read
        # as day 19, year 90.
        r"(?<![A-Za-z])" + _MONTH + r" *(?P<day>\d{1,2})(?!\d)(?:st|nd|rd|th)?(?: *, *| +)" + _YEAR,
    )
]


def _ascii_spaces(text: str) -> str:
    # WhatsApp text may carry no-break or other Unicode spaces; the patterns are ASCII-only. The
    # replacement is one character for one so spans stay valid for the original text.
    return "".join(" " if ch.isspace() else ch for ch in text)


def _first_match(text: str) -> re.Match[str] | None:
    text = _ascii_spaces(text)
    matches = [m for p in _PATTERNS if (m := p.search(text))]
    if not matches:
        return None
    return min(matches, key=lambda m: (m.start(), -m.end()))


def find_date_span(text: str) -> tuple[int, int] | None:
    """Character span of the first date-looking substring (valid or not), for NLU entity marking."""
    match = _first_match(text)
    return match.span() if match else None


def find_date_spans(text: str) -> list[tuple[int, int, date | None]]:
    """Every date-looking substring, left to right and not overlapping (the longer reading wins at
    one position), with the calendar date it names or None when it names none (31-02-1990).
    For masking: whatever could be a birth date, found by the same patterns the booking reads."""
    text = _ascii_spaces(text)
    matches = sorted((m for p in _PATTERNS for m in p.finditer(text)), key=lambda m: (m.start(), -m.end()))
    found: list[tuple[int, int, date | None]] = []
    for match in matches:
        if found and match.start() < found[-1][1]:
            continue
        found.append((match.start(), match.end(), _calendar_date(match)))
    return found


def _calendar_date(match: re.Match) -> date | None:
    year = int(match["year"])
    if len(match["year"]) == 2:
        year += 1900 if year > 50 else 2000  # only "is it in the future?" depends on it
    try:
        return date(year, _month_number(match["month"]), int(match["day"]))
    except ValueError:
        return None


def _month_number(token: str) -> int:
    return int(token) if token.isdigit() else MONTHS[token.lower()]


def expand_two_digit_year(day: int, month: int, yy: int, today: date) -> date:
    """The date with the latest century that is not after ``today``.

    Raises InvalidDate(date_impossible) if no century gives a real calendar date up to ``today``
    (e.g. 31 February, or 29 February in a year that only fits a non-leap century).
    """
    century = today.year // 100 * 100
    for year in (century + yy, century - 100 + yy):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    raise InvalidDate("date_impossible", detail="no century gives a valid past date")


def _check_range(birth: date, today: date) -> date:
    if birth > today:
        raise InvalidDate("date_future")
    if age_on(birth, today) > MAX_AGE_YEARS:
        raise InvalidDate("date_too_old")
    return birth


def parse_birth_date(text: str, today: date) -> date:
    """Parse a birth date from free text; raises InvalidDate (only) with a code for the reply."""
    match = _first_match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidDate("date_unparseable")
    day = int(match["day"])
    month = _month_number(match["month"])
    year_text = match["year"]
    if len(year_text) == 2:
        birth = expand_two_digit_year(day, month, int(year_text), today)
    else:
        try:
            birth = date(int(year_text), month, day)
        except ValueError:
            raise InvalidDate("date_impossible", detail="not a calendar date") from None
    return _check_range(birth, today)


def age_on(birth: date, day: date) -> int:
    """Completed years on ``day``.

    Someone born on 29 February turns a year older on 1 March in common years (the usual civil
    reckoning), so they are still 16 on 28 February of their seventeenth common year.
    """
    if day < birth:
        raise ValueError("day is before the birth date")
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def is_minor(birth: date, day: date) -> bool:
    """Under 17 on ``day`` — the age below which an applicant is a child for the passport
    requirements (a parent's presence and documents). Marital status is not considered here."""
    return age_on(birth, day) < ADULT_AGE_YEARS
