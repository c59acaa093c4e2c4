"""The staff's own work on conversations: review status, note, tags, flagged messages, saved
filters. Each function is one short transaction; the console audits what needs auditing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from antrean.booking.store import from_db_time, to_db_time
from antrean.review.derive import CARD_MISMATCH_SLOT
from antrean.review.schema import (
    review_conversations,
    review_facets,
    review_saved_filters,
    review_tags,
    review_user_messages,
)

TAG = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
NOTE_LIMIT = 2000
MAX_SAVED_FILTERS = 30


class ReviewError(ValueError):
    """A refused change; the message is Indonesian, for the page."""


@dataclass(frozen=True)
class ConversationInfo:
    id: int
    sender_id: str
    sender_masked: str
    first_event_id: int
    last_event_id: int
    started_at: datetime
    ended_at: datetime
    office_id: str | None
    channel: str | None
    turns: int
    outcome: str
    min_confidence: float | None
    fallback: bool
    booking_code: str | None
    reviewed: bool
    reviewed_by: str | None
    reviewed_at: datetime | None
    note: str | None
    tags: tuple[str, ...]
    flagged: frozenset[int]  # event ids of flagged user messages
    card_mismatch: str | None = None  # the assistant refused an e-KTP as someone else's (why)


def card_mismatches(connection, conversation_ids) -> dict[int, str]:
    """Conversations in which the assistant refused an e-KTP as not the applicant's own, with why
    (the `card_mismatch` slot's value, kept as a facet: a code, no personal data)."""
    f = review_facets.c
    rows = connection.execute(select(f.conversation_id, f.value).where(
        f.kind == "slot", f.name == CARD_MISMATCH_SLOT, f.value != "", f.conversation_id.in_(list(conversation_ids))))
    return {conversation_id: value for conversation_id, value in rows}


def get_conversation(engine: Engine, conversation_id: int) -> ConversationInfo | None:
    c = review_conversations.c
    with engine.connect() as connection:
        row = connection.execute(select(review_conversations).where(c.id == conversation_id)).first()
        if row is None:
            return None
        tags = tuple(connection.execute(select(review_tags.c.tag).where(review_tags.c.conversation_id == row.id)
                                        .order_by(review_tags.c.tag)).scalars())
        flagged = frozenset(connection.execute(
            select(review_user_messages.c.event_id).where(review_user_messages.c.conversation_id == row.id,
                                                          review_user_messages.c.flagged.is_(True))).scalars())
        mismatch = card_mismatches(connection, [row.id]).get(row.id)
    values = {k: v for k, v in row._mapping.items() if k in ConversationInfo.__dataclass_fields__}
    times = {name: from_db_time(values[name]) for name in ("started_at", "ended_at", "reviewed_at")}
    return ConversationInfo(**{**values, **times, "tags": tags, "flagged": flagged, "card_mismatch": mismatch})


def set_reviewed(engine: Engine, conversation_id: int, reviewed: bool, staff: str, now: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(update(review_conversations).where(review_conversations.c.id == conversation_id).values(
            reviewed=reviewed, reviewed_by=staff if reviewed else None,
            reviewed_at=to_db_time(now) if reviewed else None))


def set_note(engine: Engine, conversation_id: int, note: str) -> None:
    note = note.strip()
    if len(note) > NOTE_LIMIT:
        raise ReviewError(f"Catatan terlalu panjang (paling banyak {NOTE_LIMIT} karakter).")
    with engine.begin() as connection:
        connection.execute(update(review_conversations).where(review_conversations.c.id == conversation_id)
                           .values(note=note or None))


def normal_tag(tag: str) -> str:
    tag = tag.strip().lower().replace(" ", "-")
    if not TAG.fullmatch(tag):
        raise ReviewError("Label hanya huruf kecil, angka, - dan _ (paling banyak 40 karakter).")
    return tag


def add_tag(engine: Engine, conversation_id: int, tag: str, staff: str, now: datetime) -> str:
    tag = normal_tag(tag)
    try:
        with engine.begin() as connection:
            connection.execute(insert(review_tags).values(conversation_id=conversation_id, tag=tag, tagged_by=staff,
                                                          tagged_at=to_db_time(now)))
    except IntegrityError:
        pass  # already tagged: the same result
    return tag


def remove_tag(engine: Engine, conversation_id: int, tag: str) -> None:
    with engine.begin() as connection:
        connection.execute(delete(review_tags).where(review_tags.c.conversation_id == conversation_id,
                                                     review_tags.c.tag == tag.strip().lower()))


def set_flag(engine: Engine, conversation_id: int, event_id: int, flagged: bool, staff: str, now: datetime) -> bool:
    """False when that message is not a user message of this conversation."""
    m = review_user_messages.c
    with engine.begin() as connection:
        return connection.execute(update(review_user_messages).where(
            m.conversation_id == conversation_id, m.event_id == event_id).values(
            flagged=flagged, flagged_by=staff if flagged else None, flagged_at=to_db_time(now) if flagged else None,
        )).rowcount == 1


@dataclass(frozen=True)
class SavedFilter:
    id: int
    name: str
    query: str


def saved_filters(engine: Engine, username: str) -> list[SavedFilter]:
    f = review_saved_filters.c
    with engine.connect() as connection:
        return [SavedFilter(r.id, r.name, r.query) for r in connection.execute(
            select(f.id, f.name, f.query).where(f.username == username).order_by(f.name))]


def save_filter(engine: Engine, username: str, name: str, query: str, now: datetime) -> None:
    """Saving under an existing name replaces that filter."""
    name = " ".join(name.split())[:60]
    if not name:
        raise ReviewError("Beri nama filter ini.")
    f = review_saved_filters.c
    with engine.begin() as connection:
        updated = connection.execute(update(review_saved_filters).where(f.username == username, f.name == name)
                                     .values(query=query[:2000])).rowcount
        if updated:
            return
        count = len(connection.execute(select(f.id).where(f.username == username)).all())
        if count >= MAX_SAVED_FILTERS:
            raise ReviewError(f"Paling banyak {MAX_SAVED_FILTERS} filter tersimpan; hapus salah satu dulu.")
        connection.execute(insert(review_saved_filters).values(username=username, name=name, query=query[:2000],
                                                               created_at=to_db_time(now)))


def delete_filter(engine: Engine, username: str, filter_id: int) -> bool:
    f = review_saved_filters.c
    with engine.begin() as connection:
        return connection.execute(delete(review_saved_filters).where(f.id == filter_id, f.username == username)
                                  ).rowcount == 1
