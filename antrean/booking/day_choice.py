"""Which appointment day an applicant means: a button payload (ISO date), the button's number,
a weekday name, "besok"/"lusa", or a day and month. Only bookable days are ever returned."""

from __future__ import annotations

import re
from datetime import date, timedelta

from antrean.identity.dates import MONTHS

WEEKDAYS_ID = {"senin": 0, "selasa": 1, "rabu": 2, "kamis": 3, "jumat": 4, "jum'at": 4, "sabtu": 5, "minggu": 6}
_RELATIVE = {"besok": 1, "bsk": 1, "lusa": 2}
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DAY_MONTH_NUMERIC = re.compile(r"\b(\d{1,2})\s*[-/.]\s*(\d{1,2})(?:\s*[-/.]\s*(\d{2,4}))?\b")
_DAY_MONTH_NAME = re.compile(r"\b(\d{1,2})\s+([a-z]+)\.?")
_INDEX = re.compile(r"^\s*(?:pilih\s+|nomor\s+|no\.?\s*)?(\d)\s*\.?\s*$")


def parse_day_choice(text: str, bookable: list[date], today: date) -> date | None:
    lowered = text.lower().strip()
    candidates: list[date] = []
    if match := _ISO.search(lowered):
        try:
            candidates.append(date(int(match[1]), int(match[2]), int(match[3])))
        except ValueError:
            return None
    elif match := _INDEX.match(lowered):
        index = int(match[1])
        return bookable[index - 1] if 1 <= index <= len(bookable) else None
    else:
        words = re.findall(r"[a-z']+", lowered)
        for word in words:
            if word in _RELATIVE:
                candidates.append(today + timedelta(days=_RELATIVE[word]))
            if word in WEEKDAYS_ID:
                candidates += [d for d in bookable if d.weekday() == WEEKDAYS_ID[word]]
        for day_text, month_text, _year in _DAY_MONTH_NUMERIC.findall(lowered):
            candidates += [d for d in bookable if (d.day, d.month) == (int(day_text), int(month_text))]
        for day_text, month_word in _DAY_MONTH_NAME.findall(lowered):
            if month_word in MONTHS:
                candidates += [d for d in bookable if (d.day, d.month) == (int(day_text), MONTHS[month_word])]
    return next((d for d in candidates if d in bookable), None)
