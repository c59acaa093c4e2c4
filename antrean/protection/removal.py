"""What erasure (one applicant, on request) and retention (everyone's data past its age) do alike
to a store: the placeholders an anonymised booking gets, anonymising the NLU decisions on deleted
messages, deleting rows and photos. One copy, so an erased and an expired booking look the same."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from antrean.booking import store
from antrean.booking.schema import bookings
from antrean.protection.scrubbing import Placeholders, Span, scrub
from antrean.training.data import fingerprint
from antrean.training.nlu_inbox import ACCEPTED
from antrean.training.schema import nlu_reviews

ERASED_NAME = "[dihapus]"
ERASED_ADDRESS = "[dihapus]"
ERASED_NIK = ""
ERASED_NUMBER = ""
ERASED_BIRTH_DATE = date(1900, 1, 1)


def delete_rows(connection: Connection, table, condition) -> int:
    return connection.execute(delete(table).where(condition)).rowcount or 0


def delete_photo(media, ref: str, *, apply: bool = True) -> int:
    """1 if the photo was there (and, with apply, is gone now), else 0."""
    try:
        if not apply:
            return int(media.path(ref).exists())
        return int(media.delete(ref))
    except ValueError:  # not a well-formed reference: nothing on disk
        return 0


def anonymise_bookings(connection: Connection, booking_ids: Collection[int], now: datetime) -> None:
    """The rows stay (seat counts, queue numbers, statistics); who booked is overwritten. An
    anonymised booking has the NIK ERASED_NIK, which is how both jobs leave it alone next time."""
    connection.execute(update(bookings).where(bookings.c.id.in_(booking_ids)).values(
        full_name=ERASED_NAME, birth_date=ERASED_BIRTH_DATE, address=ERASED_ADDRESS, nik=ERASED_NIK,
        whatsapp_number=ERASED_NUMBER, photo_ref=None, request_key=None, updated_at=store.to_db_time(now)))


def anonymise_nlu_reviews(connection: Connection, message_ids: list[int], names: set[str],
                          niks: set[str]) -> tuple[int, int]:
    """The NLU-inbox decisions on messages about to be deleted: an accepted example stays as training
    data, its text anonymised as `nlu export` writes it (plus `names` and `niks` wherever they
    appear) and detached from the message; pending and discarded ones go. Returns (anonymised,
    deleted)."""
    if not message_ids:
        return 0, 0
    rows = connection.execute(select(nlu_reviews).where(nlu_reviews.c.message_id.in_(message_ids))).all()
    anonymised = deleted = 0
    for row in rows:
        if row.status != ACCEPTED or not row.text:
            deleted += delete_rows(connection, nlu_reviews, nlu_reviews.c.id == row.id)
            continue
        _anonymise_example(connection, row, names, niks)
        anonymised += 1
    return anonymised, deleted


def _anonymise_example(connection: Connection, row, names: set[str], niks: set[str]) -> None:
    try:
        entities = json.loads(row.entities or "[]")
    except ValueError:
        entities = []
    placeholders = Placeholders()
    # The applicant's own name and NIK, wherever they are, count as personal entities too.
    own = [Span(m.start(), m.end(), "person_name") for name in names if name and name != ERASED_NAME
           for m in re.finditer(re.escape(name), row.text, re.IGNORECASE)]
    own += [Span(m.start(), m.end(), "nik") for nik in niks if nik for m in re.finditer(re.escape(nik), row.text)]
    entities = [e for e in entities if isinstance(e, dict) and {"start", "end", "entity"} <= e.keys()]
    spans = [Span(int(e["start"]), int(e["end"]), str(e["entity"])) for e in entities]
    spans_all = spans + [s for s in own if not any(s.start < o.end and o.start < s.end for o in spans)]
    clean, moved = scrub(row.text, spans_all, placeholders)
    kept = moved[:len(spans)]
    new_entities = [{**e, "start": s.start, "end": s.end, "value": clean[s.start:s.end]}
                    for e, s in zip(entities, kept, strict=True)]
    connection.execute(update(nlu_reviews).where(nlu_reviews.c.id == row.id).values(
        # Detached from the deleted message: a negative id can never be a read-model row.
        message_id=-row.id, text=clean, normalised=fingerprint(clean),
        entities=json.dumps(new_entities, ensure_ascii=False)))
