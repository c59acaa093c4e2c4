"""Shared fixtures: real office settings, an injectable clock, and real databases.

Integration tests run on SQLite (a file per test) and on PostgreSQL: each run creates its own
database on the server named by ANTREAN_TEST_POSTGRES_URL (default: the machine's 127.0.0.1:5432)
and drops it afterwards; where no server answers, those tests skip and say why."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from antrean.booking.codes import BookingCodes
from antrean.booking.offices import load_offices
from antrean.booking.service import BookingService
from antrean.runtime.db import make_engine, upgrade_database

WIB = ZoneInfo("Asia/Jakarta")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
TEST_SECRET = b"test-secret-for-booking-codes-0123456789"


@pytest.fixture(scope="session")
def offices():
    return load_offices()


@pytest.fixture
def codes():
    return BookingCodes(TEST_SECRET)


def wib(year, month, day, hour=8, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=WIB)


class MutableClock:
    """A clock tests can move forward (e.g. from registration morning to the appointment day)."""

    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def clock():
    # Tuesday 1 December 2026, 08:00 WIB: registration is open; bookable days are 2, 3 and 4 Dec.
    return MutableClock(wib(2026, 12, 1, 8, 0))


@pytest.fixture(scope="session")
def postgres_server_url():
    url = os.environ.get("ANTREAN_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    try:
        engine = create_engine(url, isolation_level="AUTOCOMMIT", future=True)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # any failure means "no server here"
        pytest.skip(f"PostgreSQL not reachable at {make_url(url).render_as_string()}: {error.__class__.__name__}")
    return url


@pytest.fixture(scope="session")
def postgres_database(postgres_server_url):
    """A fresh database for this test session, dropped at the end."""
    name = f"antrean_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    upgrade_database(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
        ), {"name": name})
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_tracker_database(postgres_server_url):
    """Rasa's tracker store for tests on PostgreSQL: a database of its own, as in production (its
    `events` table must not appear in Antrean's schema)."""
    name = f"antrean_test_rasa_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
        ), {"name": name})
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture
def tracker_url(request, database_url, tmp_path):
    """An empty tracker store next to `database_url`: a SQLite file (as endpoints.yml) or a PostgreSQL
    database of its own; Rasa's SQLTrackerStore creates its table on first use."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'conversations.sqlite3'}"
    url = request.getfixturevalue("postgres_tracker_database")
    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS events"))
    engine.dispose()
    return url


def empty_every_table(url: str) -> None:
    """Tests that fill every store start from an empty booking database on PostgreSQL too (SQLite
    gets a new file per test)."""
    if not url.startswith("postgresql"):
        return
    from antrean.runtime.tables import metadata

    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        names = ", ".join(t.name for t in metadata.sorted_tables if t.name != "review_sync_state")
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        connection.execute(text("UPDATE review_sync_state SET last_event_id = 0"))
    engine.dispose()


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        connection.execute(text(
            "TRUNCATE booking_events, bookings, session_seats, queue_days, sender_quotas RESTART IDENTITY CASCADE"
        ))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each test gets an empty, migrated database on both backends."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'antrean.sqlite3'}"
        upgrade_database(url)
        return url
    url = request.getfixturevalue("postgres_database")
    _truncate_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'antrean.sqlite3'}"
    upgrade_database(url)
    return url


@pytest.fixture
def make_service(offices, clock, codes):
    engines = []

    def build(url: str, offices_override=None, clock_override=None) -> BookingService:
        engine = make_engine(url)
        engines.append(engine)
        return BookingService(engine, offices_override or offices, clock_override or clock, codes)

    yield build
    for engine in engines:
        engine.dispose()


@pytest.fixture
def service(make_service, database_url):
    return make_service(database_url)

