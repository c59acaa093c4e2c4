"""Reading Rasa's SQL tracker store (table `events`, written by rasa.core.tracker_store.SQLTrackerStore).

Read-only, and never through antrean.runtime.db.make_engine: that engine begins every transaction with
BEGIN IMMEDIATE, which on SQLite would take Rasa's write lock while the console reads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, create_engine, func, select, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from antrean.runtime.settings import Settings, resolve

_metadata = MetaData()

# The columns Rasa 3.6 creates (SQLTrackerStore.SQLEvent); `data` is the event's as_dict() as JSON.
events = Table(
    "events",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


@dataclass(frozen=True)
class TrackerEvent:
    id: int
    sender_id: str
    type_name: str
    timestamp: float
    data: dict

    @property
    def name(self) -> str | None:  # action name, or slot name for `slot` events
        return self.data.get("name")


def tracker_store_url(settings: Settings | Mapping[str, str] | None = None) -> str:
    """Where Rasa keeps the conversations (antrean.runtime.settings.Settings.tracker_url)."""
    return resolve(settings).tracker_url


def make_tracker_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        return create_engine(url, future=True, connect_args={"timeout": 30})
    return create_engine(url, future=True, pool_pre_ping=True, pool_size=5, max_overflow=5)


def to_event(row) -> TrackerEvent:
    try:
        data = json.loads(row.data) if row.data else {}
    except ValueError:  # a damaged row must not stop the whole review
        data = {}
    return TrackerEvent(row.id, row.sender_id, row.type_name, row.timestamp or data.get("timestamp") or 0.0,
                        data if isinstance(data, dict) else {})


def table_missing(error: Exception) -> bool:
    """Whether `error` says Rasa's `events` table is not there yet (Rasa creates it on first use)."""
    text = str(error).lower()
    return "no such table" in text or "does not exist" in text


def max_event_id(connection: Connection) -> int:
    """The newest event id; 0 while Rasa has not created its table yet."""
    try:
        return connection.execute(select(func.max(events.c.id))).scalar() or 0
    except (OperationalError, ProgrammingError) as error:
        if table_missing(error):
            connection.rollback()
            return 0
        raise


def events_between(connection: Connection, after: int, up_to: int) -> list[TrackerEvent]:
    rows = connection.execute(
        select(events).where(events.c.id > after, events.c.id <= up_to).order_by(events.c.id)
    )
    return [to_event(row) for row in rows]


def sender_events(connection: Connection, sender_id: str, first: int, last: int) -> list[TrackerEvent]:
    rows = connection.execute(
        select(events).where(events.c.sender_id == sender_id, events.c.id >= first, events.c.id <= last)
        .order_by(events.c.id)
    )
    return [to_event(row) for row in rows]


def snapshot_and_count(connection: Connection, after: int, up_to: int) -> tuple[int, int, int]:
    """PostgreSQL only: how many events in (after, up_to] this statement sees, with its snapshot's
    xmin (oldest transaction still running, on the whole server) and xmax (the next transaction id
    to be handed out). One statement, so the count and the snapshot agree."""
    row = connection.execute(text(
        "SELECT count(*), pg_snapshot_xmin(pg_current_snapshot())::text::bigint, "
        "pg_snapshot_xmax(pg_current_snapshot())::text::bigint FROM events WHERE id > :after AND id <= :up_to"
    ), {"after": after, "up_to": up_to}).one()
    return row[0], row[1], row[2]


def ids_between(connection: Connection, after: int, up_to: int) -> list[int]:
    return list(connection.execute(
        select(events.c.id).where(events.c.id > after, events.c.id <= up_to).order_by(events.c.id)).scalars())


def settled_max_event_id(connection: Connection, before_timestamp: float) -> int:
    """The newest event id written before `before_timestamp` (see sync.SETTLE_SECONDS); 0 if none."""
    try:
        return connection.execute(
            select(events.c.id).where(events.c.timestamp <= before_timestamp).order_by(events.c.id.desc()).limit(1)
        ).scalar() or 0
    except (OperationalError, ProgrammingError) as error:
        if table_missing(error):
            connection.rollback()
            return 0
        raise
