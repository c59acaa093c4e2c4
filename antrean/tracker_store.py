"""Rasa's SQL tracker store, tuned for the embedded SQLite default.

Rasa opens SQLite with its defaults: a new connection for every read and write (NullPool) and a
rollback journal with a full sync on each commit. Profiled under `make bench-assistant`, loading and
saving conversations then took ~40 % of the Rasa server's time per turn. Here the same file gets
write-ahead logging (the staff console reads conversations while Rasa writes them, without either
waiting), `synchronous=NORMAL` (durable across a crash of the process; the last commits could be
lost only on a power cut, the same trade as the bookings database) and a small connection pool.
On PostgreSQL nothing changes.

endpoints.yml:  tracker_store: {type: antrean.tracker_store.AntreanTrackerStore, dialect: sqlite, db: …}"""

from __future__ import annotations

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.pool import QueuePool


class AntreanTrackerStore(SQLTrackerStore):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            self._reopen_sqlite_tuned()

    def _reopen_sqlite_tuned(self) -> None:
        url = self.engine.url
        self.engine.dispose()
        # One Rasa process uses this from its event loop; the pool only saves reconnecting.
        engine = sa.create_engine(url, poolclass=QueuePool, pool_size=4,
                                  connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _tune(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        self.engine = engine
        self.sessionmaker = sa.orm.session.sessionmaker(bind=engine)
