"""Fixtures of the WhatsApp channel tests: the Graph API stand-in, settings pointing at it, a real
inbox database (SQLite; `database_url` where a test runs on PostgreSQL too), and the channel served
by a real Sanic server with its worker, an echo assistant standing in for Rasa."""

from __future__ import annotations

import pytest

from antrean.assistant.whatsapp_channel import WhatsAppInput
from antrean.runtime.db import make_engine
from antrean.runtime.settings import WhatsAppSettings
from antrean.whatsapp.inbox import Inbox
from tests.whatsapp.meta import APP_SECRET, VERIFY_TOKEN
from tests.whatsapp.server import served
from tests.whatsapp.standin import GraphStandIn

OPEN = "2026-12-01T08:00:00+07:00"  # Tuesday 08:00 WIB


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


@pytest.fixture
def assistant():
    """Stands in for Rasa: answers every message with its text, so the order can be checked."""
    received = []

    async def on_new_message(message):
        received.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")

    return received, on_new_message


@pytest.fixture
def channel(settings, sqlite_url, tmp_path):
    # The clock inside the registration window: outside it, photos are not even fetched.
    return WhatsAppInput(settings, environ={"ANTREAN_DATABASE_URL": sqlite_url, "ANTREAN_CLOCK": OPEN,
                                            "ANTREAN_MEDIA_DIR": str(tmp_path / "media"),
                                            "ANTREAN_SECRET_KEY": "x" * 40})


@pytest.fixture
def webhook(channel, assistant):
    _, on_new_message = assistant
    with served(channel, on_new_message) as base:
        yield base, channel
