"""Copying new tracker events into the read model, incrementally and idempotently.

A watermark (the highest tracker event id copied) lives in `review_sync_state`. Each batch claims
the range (watermark, new] with a conditional UPDATE of that row inside the transaction that writes
the batch: a second console process syncing at the same time waits for the row (PostgreSQL) or the
write lock (SQLite), finds the watermark moved, and leaves the range alone. A conversation may span
several batches: when a sender's newest conversation is still open, its earlier events are read
again from the tracker store and the conversation is summarised anew (messages already copied keep
their rows and their flags).

Several Rasa servers writing one PostgreSQL tracker store: PostgreSQL hands out event ids before
commit, so while one server's save is in flight another's later ids may already be visible — a gap
in the ids. The watermark never passes a gap that may still fill: it stops before it until every
transaction that was running when the gap was seen has ended (the snapshot's xmin, server-wide),
and only then treats the gap as for good (a rolled-back save, erased events). That is exact, so new
events are copied as soon as they are committed (no settling delay); SQLite has one writer at a
time and no such gaps."""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from antrean.booking.offices import Office
from antrean.booking.store import to_db_time
from antrean.review import tracker
from antrean.review.derive import Conversation, split_sessions, starts_session, summarise
from antrean.review.schema import review_conversations, review_facets, review_sync_state, review_user_messages
from antrean.whatsapp.identities import labels_in

logger = logging.getLogger(__name__)
BATCH_EVENTS = 20_000
# Copy only events at least this old (by their Rasa timestamp). It used to be 3 s, guessing that a
# slow Rasa save commits within that; the gap check below makes waiting unnecessary, and the guess
# was wrong anyway under load (an event's timestamp is when its turn began, seconds before the save).
SETTLE_SECONDS = 0.0
# A gap is first waited for until the transactions running when it was seen have ended; the xid of
# the transaction that holds it may be handed out a moment after its id (PostgreSQL assigns the xid
# at the first row written), so that snapshot is taken this long after the gap was first seen.
GAP_GRACE_SECONDS = 1.0
# ... and a gap held longer than this (a write transaction open for minutes somewhere on the server)
# is given up, so that one stuck session elsewhere cannot stop the review.
GAP_MAX_SECONDS = 120.0
_IN_CHUNK = 500
ANALYZE_EVERY_EVENTS = 100_000


@dataclass
class SyncResult:
    events: int = 0
    conversations: int = 0
    watermark: int = 0


def watermark(engine: Engine) -> int:
    with engine.connect() as connection:
        state = review_sync_state.c
        return connection.execute(select(state.last_event_id).where(state.id == 1)).scalar() or 0


def sync(engine: Engine, tracker_engine: Engine, offices: dict[str, Office], now: datetime, *,
         batch_events: int = BATCH_EVENTS, max_batches: int | None = None,
         settle_seconds: float = SETTLE_SECONDS) -> SyncResult:
    """Copy what is new; returns how much. Cheap when nothing is: two one-row queries."""
    result = SyncResult()
    batches = 0
    while max_batches is None or batches < max_batches:
        with tracker_engine.connect() as tracker_connection:
            top = (tracker.settled_max_event_id(tracker_connection, time.time() - settle_seconds)
                   if settle_seconds > 0 else tracker.max_event_id(tracker_connection))
            old = watermark(engine)
            result.watermark = old
            if top <= old:
                break
            new = _before_open_gap(tracker_engine, tracker_connection, old, min(top, old + batch_events))
        if new <= old:  # the next event's save is still in flight
            break
        with engine.begin() as connection:
            claimed = connection.execute(
                update(review_sync_state).where(review_sync_state.c.id == 1, review_sync_state.c.last_event_id == old)
                .values(last_event_id=new, synced_at=to_db_time(now))
            ).rowcount == 1
            if not claimed:  # another process copied this range meanwhile; look again
                continue
            with tracker_engine.connect() as tracker_connection:
                events, conversations = _copy(connection, tracker_connection, old, new, offices)
        batches += 1
        result.events += events
        result.conversations += conversations
        result.watermark = new
        if old // ANALYZE_EVERY_EVENTS != new // ANALYZE_EVERY_EVENTS:
            analyze(engine)
    return result


# Gaps seen per tracker store (per console process): first event id of the gap → [monotonic time
# first seen, xmax of a snapshot taken at least GAP_GRACE_SECONDS later, or None before that].
_gaps: weakref.WeakKeyDictionary[Engine, dict[int, list]] = weakref.WeakKeyDictionary()


def _before_open_gap(tracker_engine: Engine, tracker_connection: Connection, old: int, new: int) -> int:
    """`new`, or the id before the first gap in (old, new] that an in-flight save may still fill."""
    if tracker_connection.dialect.name != "postgresql":
        return new
    count, xmin, xmax = tracker.snapshot_and_count(tracker_connection, old, new)
    gaps = _gaps.setdefault(tracker_engine, {})
    if count == new - old:  # no gap: the usual case, one index-only count over the new events
        for first in [first for first in gaps if first <= new]:
            del gaps[first]
        return new
    now = time.monotonic()
    expected = old + 1
    for event_id in [*tracker.ids_between(tracker_connection, old, new), new + 1]:
        if expected < event_id:  # ids expected … event_id - 1 are missing: one gap
            seen = gaps.setdefault(expected, [now, None])
            if seen[1] is None and now - seen[0] >= GAP_GRACE_SECONDS:
                seen[1] = xmax
            ended = seen[1] is not None and xmin >= seen[1]
            if not ended and now - seen[0] < GAP_MAX_SECONDS:
                return expected - 1
            if not ended:  # events committed later than this will not be in the review
                logger.warning("tracker events %d–%d still missing after %.0f s; the review goes on without them",
                               expected, event_id - 1, now - seen[0])
            # Every transaction that could have held these ids has ended and their rows are not
            # there: rolled back (PostgreSQL never hands an id out again) or deleted. Step over.
            del gaps[expected]
        expected = event_id + 1
    return new


def analyze(engine: Engine) -> None:
    """Refresh the planner's statistics of the read model. Without them SQLite assumes any indexed
    equality is selective and, e.g. for "not reviewed, most turns first", sorts 95% of the table
    instead of walking the turns index; so the sync runs this each time it passes 100,000 events.
    PostgreSQL also gets VACUUM, which marks pages all-visible so that the filters' index-only
    scans need not visit the table (right after a bulk copy, autovacuum may not have run yet)."""
    tables = ["review_conversations", "review_facets", "review_user_messages", "review_tags"]
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in tables:
                connection.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
        return
    with engine.begin() as connection:
        for table in tables:
            connection.exec_driver_sql(f"ANALYZE {table}")


def _copy(connection: Connection, tracker_connection: Connection, old: int, new: int,
          offices: dict[str, Office]) -> tuple[int, int]:
    batch = tracker.events_between(tracker_connection, old, new)
    by_sender: dict[str, list[tracker.TrackerEvent]] = defaultdict(list)
    for event in batch:
        by_sender[event.sender_id].append(event)
    open_conversations = _latest_conversations(connection, list(by_sender))
    conversations: list[Conversation] = []
    existing_ids: dict[tuple[str, int], int] = {}
    for sender_id, sender_batch in by_sender.items():
        latest = open_conversations.get(sender_id)
        events = sender_batch
        earlier = _continued(tracker_connection, sender_id, latest, sender_batch[0], old)
        if earlier is not None:
            # The sender's newest conversation continues in this batch: summarise it whole again.
            events = earlier + sender_batch
            existing_ids[(sender_id, latest[1])] = latest[0]
        conversations.extend(summarise(session, offices) for session in split_sessions(events))
    _write(connection, conversations, existing_ids, old)
    return len(batch), len(conversations)


def _continued(tracker_connection: Connection, sender_id: str, latest: tuple[int, int, int] | None,
               first: tracker.TrackerEvent, old: int) -> list[tracker.TrackerEvent] | None:
    """The events of the sender's newest conversation when this batch continues it, else None."""
    if latest is None:
        return None
    _, first_event_id, turns = latest
    if not starts_session(first, None):
        return tracker.sender_events(tracker_connection, sender_id, first_event_id, old)
    if turns:
        return None
    # A conversation without a message may be only the start of a session (Rasa's metadata slot,
    # `action_session_start`) cut off by the end of the previous batch: this batch may continue it.
    earlier = tracker.sender_events(tracker_connection, sender_id, first_event_id, old)
    return earlier if earlier and not starts_session(first, earlier[-1]) else None


def _latest_conversations(connection: Connection, senders: list[str]) -> dict[str, tuple[int, int, int]]:
    """sender → (id, first_event_id, turns) of its newest conversation already in the read model."""
    latest: dict[str, tuple[int, int, int]] = {}
    c = review_conversations.c
    for start in range(0, len(senders), _IN_CHUNK):
        rows = connection.execute(
            select(c.id, c.sender_id, c.first_event_id, c.turns)
            .where(c.sender_id.in_(senders[start:start + _IN_CHUNK]))
        )
        for row in rows:
            if row.sender_id not in latest or row.first_event_id > latest[row.sender_id][1]:
                latest[row.sender_id] = (row.id, row.first_event_id, row.turns)
    return latest


def _summary_row(conversation: Conversation, labels: dict[str, str]) -> dict:
    # A WhatsApp user is shown by their username, else masked number (whatsapp_identities).
    shown = labels.get(conversation.sender_id) or conversation.sender_masked
    return {
        "sender_id": conversation.sender_id, "sender_masked": shown[:40],
        "sender_reversed": conversation.sender_id[::-1],
        "first_event_id": conversation.first_event_id, "last_event_id": conversation.last_event_id,
        "started_at": to_db_time(conversation.started_at), "ended_at": to_db_time(conversation.ended_at),
        "office_id": conversation.office_id, "channel": conversation.channel, "turns": conversation.turns,
        "outcome": conversation.outcome, "min_confidence": conversation.min_confidence,
        "fallback": conversation.fallback, "booking_code": conversation.booking_code,
    }


def _write(connection: Connection, conversations: list[Conversation], existing_ids: dict[tuple[str, int], int],
           old: int) -> None:
    labels = labels_in(connection, [c.sender_id for c in conversations])
    new_rows = []
    for conversation in conversations:
        key = (conversation.sender_id, conversation.first_event_id)
        if key in existing_ids:
            connection.execute(update(review_conversations).where(review_conversations.c.id == existing_ids[key])
                               .values(**_summary_row(conversation, labels)))
            connection.execute(delete(review_facets).where(review_facets.c.conversation_id == existing_ids[key]))
        else:
            new_rows.append(_summary_row(conversation, labels))
    ids = dict(existing_ids)
    if new_rows:
        connection.execute(insert(review_conversations), new_rows)
        # Every conversation that starts inside the claimed range is new, and nobody else writes the
        # range while it is claimed: that is how the new ids are found without RETURNING per row.
        c = review_conversations.c
        for row in connection.execute(select(c.id, c.sender_id, c.first_event_id).where(c.first_event_id > old)):
            ids[(row.sender_id, row.first_event_id)] = row.id
    messages, facets = [], []
    for conversation in conversations:
        conversation_id = ids[(conversation.sender_id, conversation.first_event_id)]
        facets.extend({"conversation_id": conversation_id, "kind": kind, "name": name[:255], "value": value}
                      for kind, name, value in conversation.facets)
        facets.extend({"conversation_id": conversation_id, "kind": "word", "name": word, "value": ""}
                      for word in conversation.words)
        messages.extend({
            "conversation_id": conversation_id, "event_id": m.event_id, "sender_id": conversation.sender_id,
            "at": to_db_time(m.at), "text": m.text, "intent": m.intent, "confidence": m.confidence,
            "entities": json.dumps(m.entities, ensure_ascii=False), "ranking": json.dumps(m.ranking),
            "office_id": conversation.office_id,
        } for m in conversation.messages if m.event_id > old)  # earlier ones were copied before
    if facets:
        connection.execute(insert(review_facets), facets)
    if messages:
        connection.execute(insert(review_user_messages), messages)
