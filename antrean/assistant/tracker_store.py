"""Rasa's SQL tracker store, tuned for the embedded SQLite default.

Rasa opens SQLite with its defaults: a new connection for every read and write (NullPool) and a
rollback journal with a full sync on each commit. Profiled under `make bench-assistant`, loading and
saving conversations then took a large share of the Rasa server's time per turn. Here the same file gets
write-ahead logging (the staff console reads conversations while Rasa writes them, without either
waiting), `synchronous=NORMAL` (durable across a crash of the process; the last commits could be
lost only on a power cut, the same trade as the bookings database) and a small connection pool.
On PostgreSQL nothing changes.

On both, saving a conversation no longer asks the database how many of its events are stored
already (Rasa counts them with a query over the whole conversation before every save): a
conversation loaded here remembers how many events it was loaded with, and the events
after those are the new ones. That count is exact because Rasa holds the conversation's lock from
loading to saving; a conversation that was not loaded here (a new one, a copy) is counted by
Rasa's query as before. Loading reads only the column of events it uses.

On PostgreSQL (issue 12 §3: the rush was slower there than on SQLite) Rasa's store ran its queries
on the event loop: every round trip to the server stopped every other conversation of that Rasa
process until the answer came, and on a busy machine the answer waits for the database's process to
get a CPU. Here a load and a save each run in a worker thread, so the loop goes on with other
conversations meanwhile (Rasa's lock keeps one conversation's turns in order). Each is one statement
sent in autocommit mode — a load one SELECT, a save one multi-row INSERT, each atomic by itself — so
no BEGIN and no COMMIT/ROLLBACK round trips: three round trips fewer per turn. SQLite, in the process
and with no server to wait for, stays on the loop as before.

Creating it also installs Antrean's changes to Rasa (antrean/assistant/startup.py).

endpoints.yml:  tracker_store: {type: antrean.assistant.tracker_store.AntreanTrackerStore, dialect: sqlite, db: …}"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import itertools
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.pool import QueuePool

from antrean.assistant.startup import install_speedups
from antrean.runtime.db import reset_autocommit_on_the_client, sqlite_engine
from antrean.runtime.outages import patiently

logger = logging.getLogger(__name__)

DATABASE_PATIENCE_SECONDS = 60  # how long a turn waits for an unreachable PostgreSQL (a restart takes seconds)


class AntreanTrackerStore(SQLTrackerStore):
    def __init__(self, *args, **kwargs) -> None:
        # The one start-up hook of every Rasa worker of ours (startup.py says why here).
        install_speedups()
        # Rasa creates its table here, in every Sanic worker at once (they load the agent after the
        # fork): all see no table, all issue CREATE TABLE, and all but one log an ERROR "Could not
        # create tables: table events already exists" on a fresh database. One at a time, the
        # later ones find the table and create nothing.
        with _creation_lock(kwargs):
            super().__init__(*args, **kwargs)
        self._in_process = self.engine.dialect.name == "sqlite"
        if self._in_process:
            self._reopen_sqlite_tuned()
        else:
            reset_autocommit_on_the_client(self.engine)
        # One statement at a time needs no transaction around it (see the module docstring).
        self._single = self.engine if self._in_process else self.engine.execution_options(
            isolation_level="AUTOCOMMIT")

    def _reopen_sqlite_tuned(self) -> None:
        url = self.engine.url
        self.engine.dispose()
        # One Rasa process uses this from its event loop; the pool only saves reconnecting.
        self.engine = sqlite_engine(url, timeout=30, poolclass=QueuePool, pool_size=4)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        # Rasa's load (same rows, same tracker), with its query built once as a Core statement: the
        # ORM rebuilt and recompiled it for every message, a third of the time a load took.
        statement = self._all_sessions if fetch_events_from_all_sessions else self._latest_session
        load = functools.partial(self._load_events, statement, sender_id)
        events = load() if self._in_process else await asyncio.to_thread(load)
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    def _load_events(self, statement: sa.sql.Select, sender_id: str) -> list[dict]:
        with self._single.connect() as connection:
            return [json.loads(data) for data in connection.execute(statement, {"sender_id": sender_id}).scalars()]

    @functools.cached_property
    def _all_sessions(self) -> sa.sql.Select:
        table = self.SQLEvent.__table__
        return sa.select(table.c.data).where(table.c.sender_id == sa.bindparam("sender_id")).order_by(table.c.id)

    @functools.cached_property
    def _latest_session(self) -> sa.sql.Select:
        # The events from the latest SessionStarted on (by timestamp, as Rasa selects them), or all.
        table = self.SQLEvent.__table__
        session_start = (sa.select(sa.func.max(table.c.timestamp))
                         .where(table.c.sender_id == sa.bindparam("sender_id"),
                                table.c.type_name == SessionStarted.type_name)
                         .scalar_subquery())
        return self._all_sessions.where(sa.or_(table.c.timestamp >= session_start, session_start.is_(None)))

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        tracker = await self._patiently(lambda: super(AntreanTrackerStore, self).retrieve(sender_id))
        if tracker is not None and self.max_event_history is None:  # all of the session's events
            setattr(tracker, _STORED_EVENTS, len(tracker.events))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self._patiently(lambda: self._save(tracker))

    async def _patiently(self, operation):
        """Rasa wraps every tracker store in its FailSafeTrackerStore: a load that fails is taken as
        "no conversation yet" (the turn starts a new session on an empty tracker) and a save that
        fails goes to memory only. When PostgreSQL restarts, the turn waits for it instead (at most
        DATABASE_PATIENCE_SECONDS): a dropped pooled connection is replaced on the next try. The
        WhatsApp worker (antrean/whatsapp/worker.py) waits out longer outages with the message kept."""
        if self._in_process:  # SQLite: a file, no server to wait for
            return await operation()
        return await patiently(operation, "Conversation store", DATABASE_PATIENCE_SECONDS)

    async def _save(self, tracker: DialogueStateTracker) -> None:
        # Rasa's save, with the new events written by one multi-row INSERT instead of an ORM object
        # each (the unit of work's bookkeeping was half of a save). Same rows, same columns.
        await self.stream_events(tracker)
        stored = getattr(tracker, _STORED_EVENTS, None)
        if stored is not None and not self._in_process:
            # The new events are known without asking the database: one INSERT, off the loop.
            rows = [_event_row(tracker.sender_id, event) for event in itertools.islice(tracker.events, stored, None)]
            if rows:
                await asyncio.to_thread(self._insert_events, rows)
        else:
            with self.session_scope() as session:
                rows = [_event_row(tracker.sender_id, event) for event in self._additional_events(session, tracker)]
                if rows:
                    session.execute(sa.insert(self.SQLEvent.__table__), rows)
                session.commit()
        setattr(tracker, _STORED_EVENTS, len(tracker.events))

    def _insert_events(self, rows: list[dict]) -> None:
        # psycopg2 sends up to 1,000 rows as one INSERT (SQLAlchemy's execute_values); a longer
        # list would be several statements, so it gets a transaction: all of a turn or none.
        engine = self._single if len(rows) <= _ROWS_PER_INSERT else self.engine
        with engine.begin() as connection:
            connection.execute(sa.insert(self.SQLEvent.__table__), rows)

    def _additional_events(self, session: sa.orm.Session, tracker: DialogueStateTracker) -> Iterator[Event]:
        stored = getattr(tracker, _STORED_EVENTS, None)
        if stored is None:
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))


def _event_row(sender_id: str, event: Event) -> dict:
    """The row Rasa's SQLTrackerStore.save writes for ``event``."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


@contextlib.contextmanager
def _creation_lock(options: dict) -> Iterator[None]:
    """An exclusive lock, per database, across this machine's processes (Sanic's workers are forked
    on one machine); released by the system if the process dies."""
    database = options.get("db") or ""
    if (options.get("dialect") or "sqlite") == "sqlite" and database:
        database = os.path.abspath(database)
    target = "|".join(str(part) for part in (options.get("dialect"), options.get("host"), options.get("port"),
                                             database))
    name = f"antrean-tracker-{os.getuid()}-{hashlib.sha256(target.encode()).hexdigest()[:16]}.lock"
    with open(Path(tempfile.gettempdir()) / name, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Rows psycopg2 sends in one INSERT statement (SQLAlchemy's executemany_values_page_size default).
_ROWS_PER_INSERT = 1000

# Set on a tracker this store loaded or saved: how many of its events the database holds.
_STORED_EVENTS = "_antrean_stored_events"
