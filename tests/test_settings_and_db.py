import os
import stat
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from antrean.runtime.db import database_url, make_engine
from antrean.runtime.settings import SettingsError, secret_key
from antrean.runtime.tables import metadata


def test_the_default_database_is_a_sqlite_file_under_var():
    assert database_url({}).startswith("sqlite:///") and database_url({}).endswith("var/antrean.sqlite3")
    assert database_url({"ANTREAN_DATABASE_URL": "postgresql://x/y"}) == "postgresql://x/y"


def test_the_secret_key_comes_from_the_environment(tmp_path):
    assert secret_key({"ANTREAN_SECRET_KEY": "s" * 32}, tmp_path) == b"s" * 32
    with pytest.raises(SettingsError, match="at least 32"):
        secret_key({"ANTREAN_SECRET_KEY": "short"}, tmp_path)


def test_without_one_a_private_random_key_is_kept_under_var(tmp_path):
    first = secret_key({}, tmp_path)
    assert len(first) == 64
    assert secret_key({}, tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600


def ours(name, type_, parent_names) -> bool:
    if type_ == "table":
        return name in metadata.tables
    return parent_names.get("table_name") in metadata.tables if "table_name" in parent_names else True


@pytest.mark.integration
def test_migrations_build_exactly_the_schema_the_code_uses(database_url):
    engine = make_engine(database_url)
    with engine.connect() as connection:
        # Only Antrean's tables: Rasa's tracker store may share the database (its `events` table).
        context = MigrationContext.configure(connection, opts={"include_name": ours})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []


def test_a_sqlite_database_keeps_its_connections_open_between_uses(sqlite_url):
    from sqlalchemy import event, text

    engine = make_engine(sqlite_url)
    opened = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    for _ in range(5):
        with engine.begin() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
    assert len(opened) == 1  # SQLAlchemy 1.4's default for files (NullPool) opened one per use


@pytest.mark.integration
def test_a_forked_child_opens_its_own_connections(database_url):
    """Sanic forks its workers: a child must never talk over a connection its parent opened."""
    from sqlalchemy import text

    engine = make_engine(database_url)
    query = text("SELECT count(*) FROM bookings")
    with engine.connect() as connection:  # the parent's connection, back in the pool afterwards
        assert connection.execute(query).scalar() == 0
        parent_connection = connection.connection.dbapi_connection
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got a connection of its own, then leave at once
        try:
            with engine.connect() as connection:
                fresh = connection.connection.dbapi_connection is not parent_connection
                ok = fresh and connection.execute(query).scalar() == 0
        except BaseException:
            ok = False
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1"
    with engine.connect() as connection:  # the parent's connection still works (the child left it alone)
        assert connection.connection.dbapi_connection is parent_connection
        assert connection.execute(query).scalar() == 0
    engine.dispose()


@pytest.mark.integration
def test_a_postgresql_connection_is_pinged_only_after_resting_and_replaced_when_dead(postgres_database, monkeypatch):
    from sqlalchemy import text

    from antrean.runtime import db

    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.3)
    engine = make_engine(postgres_database, pool_size=1, max_overflow=0)
    pings = []
    real_ping = engine.dialect.do_ping
    engine.dialect.do_ping = lambda connection: pings.append(1) or real_ping(connection)
    try:
        for _ in range(3):  # back to back: no ping (issue 12 §3: a ping was half the round trips)
            with engine.connect() as connection:
                pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert pings == []
        killer = make_engine(postgres_database, isolation_level="AUTOCOMMIT")
        with killer.connect() as connection:  # the server ends our pooled connection, as a restart does
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        killer.dispose()
        time.sleep(0.4)
        with engine.connect() as connection:  # rested: pinged, found dead, replaced before use
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        assert pings == [1]
    finally:
        engine.dispose()


def test_a_single_statement_on_postgresql_reaches_the_server_alone(postgres_database, caplog):
    """Our single statements run in AUTOCOMMIT on pooled connections; returning one to the pool must
    not cost a `SET default_transaction_isolation` at its next use (it did: 12,237 of the 30,708
    statements of a 150-applicant rush). The server echoes every statement it receives to the client
    (log_statement, client_min_messages) and SQLAlchemy logs what it echoed, so what the server got
    is counted exactly."""
    import logging

    from sqlalchemy import text

    engine = make_engine(postgres_database, pool_size=1, max_overflow=0)
    single = engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.begin() as connection:
            connection.execute(text("SET log_statement = 'all'"))
            connection.execute(text("SET client_min_messages = 'log'"))
        caplog.set_level(logging.INFO, logger="sqlalchemy.dialects.postgresql")
        caplog.clear()
        for n in range(3):
            with single.connect() as connection:
                assert connection.execute(text(f"SELECT {n}")).scalar_one() == n
        with engine.begin() as connection:  # a transaction in between: still the server's default level
            assert connection.execute(text("SHOW transaction_isolation")).scalar_one() == "read committed"
        with single.connect() as connection:
            connection.execute(text("SELECT 3"))
        echoed = [record.getMessage() for record in caplog.records]
        received = [message.split("statement: ", 1)[1] for message in echoed if "statement: " in message]
        # (the first COMMIT ends the transaction that turned the echo on)
        assert received == ["COMMIT", "SELECT 0", "SELECT 1", "SELECT 2", "BEGIN", "SHOW transaction_isolation",
                            "COMMIT", "SELECT 3"]
    finally:
        engine.dispose()
