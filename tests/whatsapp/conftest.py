"""Fixtures of the WhatsApp channel tests: the Graph API stand-in, settings pointing at it, a real
inbox database (SQLite; `database_url` where a test runs on PostgreSQL too)."""

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
