"""Shared fixtures: real office settings, an injectable clock, and real databases.

Integration tests run on SQLite and on PostgreSQL, each migrated once per run (Alembic per test
was most of their set-up time): on SQLite every test gets a copy of the migrated file; on PostgreSQL (the server
named by ANTREAN_TEST_POSTGRES_URL, default the machine's 127.0.0.1:5432) the run's own database is
reset to its migrated state before each test, and dropped at the end.

Where PostgreSQL, Chromium or the trained model is missing, the tests that need them skip and say
why; with CI=true they fail instead (`absent`), so a CI machine cannot pass by not running them."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime
from typing import NoReturn
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy.engine import make_url

from antrean.booking.codes import BookingCodes
from antrean.booking.offices import load_offices
from antrean.booking.service import BookingService
from antrean.runtime.db import make_engine, upgrade_database

WIB = ZoneInfo("Asia/Jakarta")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"  # a database of its own; each test also uses a key prefix of its own
TEST_SECRET = b"test-secret-for-booking-codes-0123456789"


def absent(what: str) -> NoReturn:
    """Something a test needs is not on this machine: skip with the reason, or fail under CI=true,
    where PostgreSQL, Chromium and the trained model must be present for the run to mean anything."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} (CI=true: a missing service fails the run instead of skipping)", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="session")
def tesseract():
    """Tesseract's Indonesian data and the tesserocr binding, which read e-KTP photos."""
    from antrean.identity import ektp

    available, why = ektp.status()
    if not available:
        absent(why)


@pytest.fixture(scope="session")
def trained_model():
    from antrean.runtime.serve import DEFAULT_MODEL

    if not DEFAULT_MODEL.exists():
        absent("no trained model: `make test` trains it first (make train)")
    return DEFAULT_MODEL


@pytest.fixture(scope="session")
def chromium_present():
    from tests.console.browser import CHROMIUM, chromium_available

    if not chromium_available():
        absent(f"{CHROMIUM} is absent (apt-get install -y chromium)")
    return CHROMIUM


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
        absent(f"PostgreSQL not reachable at {make_url(url).render_as_string()}: {error.__class__.__name__}")
    return url


def _create_database(server_url: str, name: str) -> str:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(server_url: str, name: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as connection:
        # FORCE: a server a test started may still hold a connection.
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class PostgresReset:
    """Puts a migrated database back to how the migrations left it: every table emptied in foreign-key
    order, sequences restarted, the rows the migrations insert put back. A database copied per test
    (CREATE DATABASE … TEMPLATE) isolates as well but was several times slower in the suite: it copies
    the whole system catalog each time, where deleting the few rows a test wrote is nearly free."""

    def __init__(self, url: str):
        # pre_ping: a test that closes the database (tests/test_outage_mid_turn.py) kills pooled connections.
        self.engine = create_engine(url, future=True, pool_pre_ping=True)
        self.tables = MetaData()
        self.tables.reflect(self.engine)
        with self.engine.connect() as connection:
            self.seeded = {table: [dict(row._mapping) for row in connection.execute(select(table))]
                           for table in self.tables.sorted_tables}
            self.sequences = connection.execute(text("SELECT schemaname, sequencename FROM pg_sequences")).all()

    def __call__(self) -> None:
        with self.engine.begin() as connection:
            for table in reversed(self.tables.sorted_tables):
                connection.execute(table.delete())
            for schema, sequence in self.sequences:
                connection.execute(text(f'ALTER SEQUENCE "{schema}"."{sequence}" RESTART'))
            for table, rows in self.seeded.items():
                if rows:
                    connection.execute(table.insert(), rows)


class PostgresSwitch:
    """Closes and opens one PostgreSQL database as the failure drill does (benchmarks/drill.py): no
    new connections, and every open one terminated; `open` lets them in again."""

    def __init__(self, server_url: str, url: str):
        self.name = make_url(url).database
        self.admin = create_engine(server_url, isolation_level="AUTOCOMMIT", future=True)

    def close(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": self.name})

    def open(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))

    def dispose(self) -> None:
        self.open()
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_migrated(postgres_server_url):
    """One database of this session, migrated once."""
    name = f"antrean_test_{uuid.uuid4().hex[:12]}"
    url = _create_database(postgres_server_url, name)
    upgrade_database(url)
    reset = PostgresReset(url)
    yield url, reset
    reset.engine.dispose()
    _drop_database(postgres_server_url, name)


@pytest.fixture(scope="session")
def redis_server_url():
    import redis

    url = os.environ.get("ANTREAN_TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        redis.StrictRedis.from_url(url, socket_timeout=5).ping()
    except Exception as error:  # any failure means "no server here"
        absent(f"Redis not reachable at {url}: {error.__class__.__name__}")
    return url


@pytest.fixture
def redis_prefix(redis_server_url):
    """(client, prefix): a key prefix of this test's own (alphanumeric, as Rasa's lock store requires);
    its keys are deleted afterwards."""
    import redis

    client = redis.StrictRedis.from_url(redis_server_url)
    prefix = f"test{uuid.uuid4().hex[:12]}"
    yield client, prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def postgres_database(postgres_migrated):
    """The session's PostgreSQL database, as empty as after its migrations."""
    url, reset = postgres_migrated
    reset()
    return url


@pytest.fixture(scope="session")
def postgres_tracker_database(postgres_server_url):
    """Rasa's tracker store for tests on PostgreSQL: a database of its own, as in production (its
    `events` table must not appear in Antrean's schema)."""
    name = f"antrean_test_rasa_{uuid.uuid4().hex[:12]}"
    yield _create_database(postgres_server_url, name)
    _drop_database(postgres_server_url, name)


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


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "antrean.sqlite3"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(migrated_sqlite_template, tmp_path):
    """An empty, migrated SQLite file of this test's own: a copy of the session's migrated file (the
    migration's engine is disposed, so the WAL is checkpointed and the file alone is complete)."""
    path = tmp_path / "antrean.sqlite3"
    shutil.copyfile(migrated_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """Each test gets an empty, migrated database on both backends."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_database")


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



# Parallel runs (`make test` uses pytest-xdist, --dist loadgroup): a module's tests stay on one worker,
# so a server its module fixture starts is started once; and the registry's real models (the session
# fixture `trained`, tests/model_registry/conftest.py) are trained by one worker for every module
# that uses them. tryfirst: xdist reads the groups in its own collection hook.
SHARED_SESSION_FIXTURES = ("trained",)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    # Modules with slow tests first (each keeping its own order): the processes hand out the long
    # groups while the short ones still fill the gaps, instead of ending on one long tail.
    slow_modules = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow_modules)
    for item in items:
        shared = [name for name in SHARED_SESSION_FIXTURES if name in getattr(item, "fixturenames", ())]
        item.add_marker(pytest.mark.xdist_group(shared[0] if shared else item.nodeid.split("::")[0]))
