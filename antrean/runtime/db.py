"""Database engines and migrations for Antrean's own tables (bookings; later the console's).

The default is a SQLite file under var/ so `make run` needs no server; ANTREAN_DATABASE_URL points
at PostgreSQL in production (antrean.runtime.settings). No engine is built at import time: callers ask for one."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, create_engine, make_url
from sqlalchemy.pool import QueuePool

from antrean.runtime.settings import REPO_ROOT, VAR_DIR, Settings, resolve

__all__ = ["REPO_ROOT", "VAR_DIR", "database_url", "make_engine", "sqlite_engine", "upgrade_database"]


def database_url(settings: Settings | Mapping[str, str] | None = None) -> str:
    return resolve(settings).database_url


def make_engine(url: str | None = None, **options) -> Engine:
    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, **options)
    ping_when_idle = "pool_pre_ping" not in options
    options.setdefault("pool_size", 10)
    options.setdefault("max_overflow", 20)
    # The connection used last is handed out first: the busy ones stay busy and rest less than a
    # second (no ping, below), surplus ones rest. (First in, first out rotated through all of them.)
    options.setdefault("pool_use_lifo", True)
    engine = create_engine(url, future=True, **options)
    forget_connections_across_fork(engine)
    reset_autocommit_on_the_client(engine)
    if ping_when_idle:
        ping_connections_idle_for(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def reset_autocommit_on_the_client(engine: Engine) -> None:
    """A connection used in AUTOCOMMIT (`execution_options(isolation_level="AUTOCOMMIT")`, our single
    statements) is reset to the engine's default level when it goes back to the pool. SQLAlchemy does
    that by setting READ COMMITTED on psycopg2 explicitly, and psycopg2, asked for autocommit again
    at the next use, sends `SET default_transaction_isolation TO DEFAULT` first: one round trip per
    single statement — 12,237 of the 30,708 statements PostgreSQL received in a 150-applicant rush.
    psycopg2's autocommit is a switch on the client and the server's default level was never
    changed, so switching it off is the whole reset. A connection given an explicit level is reset
    as SQLAlchemy does it."""
    dialect = engine.dialect
    if dialect.driver != "psycopg2":
        return
    reset_as_sqlalchemy_does = dialect.reset_isolation_level

    def reset(dbapi_connection) -> None:
        if dbapi_connection.isolation_level is None:  # the server's default: only autocommit was switched
            dbapi_connection.autocommit = False
        else:
            reset_as_sqlalchemy_does(dbapi_connection)

    dialect.reset_isolation_level = reset


# A pooled PostgreSQL connection idle for longer than this is tested (a ping) before it is used.
PING_AFTER_IDLE_SECONDS = 1.0


def ping_connections_idle_for(engine: Engine, seconds: float) -> None:
    """SQLAlchemy's pool_pre_ping, only for connections that have rested in the pool for `seconds`.

    pre_ping sent a `SELECT 1` before every use: on the WhatsApp worker's path, where most calls
    are now a single statement, half of all round trips (issue 12 §3). A connection returned to the
    pool within the last second was working a second ago. A server restart takes longer than that,
    so a connection from before it has rested longer and is still tested and replaced; a
    connection cut in that second (a backend killed by hand) fails its next statement once, and
    SQLAlchemy then discards every pooled connection older than the failure (the callers treat such
    an error like the database being briefly down: the webhook answers 5xx, the worker retries)."""

    @event.listens_for(engine, "checkin")
    def _rested_since(_dbapi_connection, record) -> None:
        record.info["rested_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_rested(dbapi_connection, record, _proxy) -> None:
        rested_since = record.info.pop("rested_since", None)
        if rested_since is None or time.monotonic() - rested_since < seconds:
            return  # new, or used a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.dbapi.Error:
            alive = False
        if not alive:
            raise exc.DisconnectionError("pooled connection failed its ping; opening a new one")


def _sqlite_engine(url: str, path: str | None, **options) -> Engine:
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # SQLAlchemy 1.4 opens a file database anew for every checkout (NullPool). Each open ran its
        # PRAGMAs and each close of a process's last connection checkpointed and removed the
        # WAL file: a fifth of the action thread's time under `make bench-assistant`. A pool keeps
        # connections open.
        options.setdefault("poolclass", QueuePool)
        options.setdefault("pool_size", 5)
        options.setdefault("max_overflow", 10)
    # Many processes (Rasa action server, WhatsApp worker, console, CLI) share one file: wait for
    # the write lock instead of failing, and let readers work alongside the writer (WAL).
    engine = sqlite_engine(url, timeout=60, future=True, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take transaction control from pysqlite so BEGIN IMMEDIATE below is the only BEGIN.
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # IMMEDIATE takes the write lock at the start: a transaction that reads seats and then
        # writes can never be refused half-way with "database is locked" (SQLite's lock upgrade).
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def sqlite_engine(url: str, *, timeout: float, **options) -> Engine:
    """A SQLite engine as Antrean opens one, for the bookings and the tracker databases: waits up to
    ``timeout`` seconds for the write lock; write-ahead logging (readers, such as the console,
    never wait for the writer) and ``synchronous=NORMAL`` (a commit survives a crash of the
    process; only a power cut can lose the last ones) on every connection; connections may move
    between threads (a pool hands each to one user at a time) but never across a fork."""
    engine = create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False}, **options)

    @event.listens_for(engine, "connect")
    def _tune(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    forget_connections_across_fork(engine)
    return engine


def forget_connections_across_fork(engine: Engine) -> None:
    """A pooled connection opened before a fork (Sanic starts its workers that way) must not be used
    by the child: two processes would talk over one socket, or hold one SQLite file handle whose locks
    the child does not own. The child discards such connections and opens its own (SQLAlchemy's
    recipe for pools and multiprocessing)."""

    @event.listens_for(engine, "connect")
    def _remember_process(_dbapi_connection, record) -> None:
        record.info["pid"] = os.getpid()

    @event.listens_for(engine, "checkout")
    def _refuse_inherited(_dbapi_connection, record, proxy) -> None:
        if record.info.get("pid") != os.getpid():
            # Dropped without closing: closing would end the parent's session or release its locks.
            record.dbapi_connection = proxy.dbapi_connection = None
            raise exc.DisconnectionError("connection opened by the parent process; opening a new one")


def upgrade_database(url: str | None = None, revision: str = "head") -> None:
    """Apply Alembic migrations (antrean/migrations) to the database."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(REPO_ROOT / "antrean" / "migrations"))
    config.attributes["url"] = url or database_url()
    command.upgrade(config, revision)
