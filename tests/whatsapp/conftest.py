"""Fixtures of the WhatsApp channel tests: the Graph API stand-in, settings pointing at it, a real
inbox database (SQLite, and PostgreSQL where the tests say so)."""

from __future__ import annotations

import pytest

from antrean.runtime.db import make_engine
from antrean.runtime.settings import WhatsAppSettings
from antrean.whatsapp.inbox import Inbox
from tests.whatsapp.meta import APP_SECRET, VERIFY_TOKEN
from tests.whatsapp.standin import GraphStandIn


@pytest.fixture
def graph():
    standin = GraphStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def settings(graph):
    return WhatsAppSettings(verify_token=VERIFY_TOKEN, app_secret=APP_SECRET, access_token=graph.token,
                            graph_url=graph.url, graph_version=graph.version)


@pytest.fixture
def sandbox_settings():
    return WhatsAppSettings(verify_token=VERIFY_TOKEN, app_secret=APP_SECRET)


@pytest.fixture
def inbox(sqlite_url):
    engine = make_engine(sqlite_url)
    yield Inbox(engine)
    engine.dispose()


WHATSAPP_TABLES = "whatsapp_reminders, whatsapp_sender_leases, whatsapp_statuses, whatsapp_outbox, whatsapp_inbox"


@pytest.fixture
def wa_database(database_url):
    """An empty, migrated database on SQLite and PostgreSQL (the PostgreSQL one is shared by the
    session, so the WhatsApp tables are emptied as well as the booking tables)."""
    if database_url.startswith("postgresql"):
        engine = make_engine(database_url)
        with engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {WHATSAPP_TABLES} RESTART IDENTITY CASCADE")
        engine.dispose()
    return database_url
