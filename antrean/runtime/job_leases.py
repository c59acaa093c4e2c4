"""Leases of named jobs: of several processes (console workers, CLI runs, restarts), one runs a job.

The daily retention run and an erasure each take their job's lease before they start. A lease is a
row of `job_leases` (job name, holder, until when), taken with one conditional upsert that the
database arbitrates — INSERT … ON CONFLICT (name) DO UPDATE … WHERE the lease is the taker's own or
has run out — so of two racing takers exactly one gets it (a row lock on PostgreSQL, the single
write lock on SQLite; `claim` is the same statement the WhatsApp inbox takes its sender leases
with). A process that crashes never releases its lease: it runs out at `lease_until` and the next
taker gets the job. A job that may outlast its lease renews it between steps."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from antrean.runtime.schema import job_leases

_POLL_SECONDS = 0.2


class JobBusy(Exception):
    """Another process holds the job's lease."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_holder() -> str:
    """A holder id for one attempt: the host and process for whoever reads the table, random so
    that two attempts of one process are two holders."""
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def claim(connection: Connection, table: Table, key: dict, holder_column: str, holder: str, until: datetime,
          now: datetime) -> bool:
    """Take or extend the lease row `key` of `table` (its `lease_until` column) for `holder`; False
    when someone else's lease on it is still live. One statement, see the module docstring."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**key, **{holder_column: holder, "lease_until": until})
    statement = statement.on_conflict_do_update(
        index_elements=[table.c[column] for column in key],
        set_={holder_column: holder, "lease_until": until},
        where=or_(table.c[holder_column] == holder, table.c.lease_until <= now))
    return connection.execute(statement).rowcount == 1


def acquire(engine: Engine, name: str, holder: str, seconds: float, *, wait: float = 0,
            now: datetime | None = None) -> bool:
    """Take the job's lease for `seconds`; if another holder has a live one, try again for up to
    `wait` seconds. True when `holder` now holds it."""
    deadline = time.monotonic() + wait
    while True:
        moment = now or utcnow()
        with engine.begin() as connection:
            if claim(connection, job_leases, {"name": name}, "holder", holder,
                     moment + timedelta(seconds=seconds), moment):
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(_POLL_SECONDS, max(deadline - time.monotonic(), 0)))


def renew(engine: Engine, name: str, holder: str, seconds: float, now: datetime | None = None) -> bool:
    """Extend a lease `holder` still holds; False when it ran out and someone else took the job."""
    moment = now or utcnow()
    with engine.begin() as connection:
        return connection.execute(
            update(job_leases).where(job_leases.c.name == name, job_leases.c.holder == holder)
            .values(lease_until=moment + timedelta(seconds=seconds))).rowcount == 1


def release(engine: Engine, name: str, holder: str) -> None:
    """Give the job back at once (a lease someone else has taken over meanwhile stays theirs)."""
    with engine.begin() as connection:
        connection.execute(delete(job_leases).where(job_leases.c.name == name, job_leases.c.holder == holder))


def holder_of(engine: Engine, name: str, now: datetime | None = None) -> str | None:
    """Who holds a live lease on the job, if anyone."""
    with engine.connect() as connection:
        return connection.execute(select(job_leases.c.holder).where(
            job_leases.c.name == name, job_leases.c.lease_until > (now or utcnow()))).scalar()


@contextmanager
def held(engine: Engine, name: str, seconds: float, *, wait: float = 0) -> Iterator[str]:
    """Runs the body under the job's lease and releases it after (also on an error); raises
    JobBusy when the lease stays someone else's for `wait` seconds. Yields the holder id (to renew)."""
    holder = new_holder()
    if not acquire(engine, name, holder, seconds, wait=wait):
        raise JobBusy(name)
    try:
        yield holder
    finally:
        release(engine, name, holder)
