"""Database engines and migrations for Antrean's own tables (bookings; later the console's).

The default is a SQLite file under var/ so `make run` needs no server; ANTREAN_DATABASE_URL points
at PostgreSQL in production. No engine is built at import time: callers ask for one."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, create_engine, make_url

REPO_ROOT = Path(__file__).resolve().parents[1]
VAR_DIR = REPO_ROOT / "var"


def database_url(environ: dict[str, str] | None = None) -> str:
    environ = environ if environ is not None else os.environ
    url = environ.get("ANTREAN_DATABASE_URL", "").strip()
    return url or f"sqlite:///{VAR_DIR / 'antrean.sqlite3'}"


def make_engine(url: str | None = None, **options) -> Engine:
    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, **options)
    options.setdefault("pool_pre_ping", True)
    options.setdefault("pool_size", 10)
    options.setdefault("max_overflow", 20)
    return create_engine(url, future=True, **options)


def _sqlite_engine(url: str, path: str | None, **options) -> Engine:
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Many processes (Rasa action server, WhatsApp worker, console, CLI) share one file: wait for
    # the write lock instead of failing, and let readers work alongside the writer (WAL).
    engine = create_engine(url, future=True, connect_args={"timeout": 60}, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take transaction control from pysqlite so BEGIN IMMEDIATE below is the only BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # IMMEDIATE takes the write lock at the start: a transaction that reads seats and then
        # writes can never be refused half-way with "database is locked" (SQLite's lock upgrade).
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def upgrade_database(url: str | None = None, revision: str = "head") -> None:
    """Apply Alembic migrations (antrean/migrations) to the database."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(REPO_ROOT / "antrean" / "migrations"))
    config.attributes["url"] = url or database_url()
    command.upgrade(config, revision)
