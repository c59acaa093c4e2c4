"""The tuned tracker store is still Rasa's SQL tracker store: Rasa loads it from endpoints.yml and
conversations round-trip through it, on SQLite (tuned) and PostgreSQL (unchanged)."""

import asyncio

import pytest
import yaml
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import text
from sqlalchemy.engine import make_url

from antrean.db import REPO_ROOT
from antrean.serve import Stack
from antrean.tracker_store import AntreanTrackerStore

DOMAIN = Domain.from_dict({"intents": ["greet"], "slots": {"nik": {"type": "text", "mappings": [{"type": "custom"}]}}})


def round_trip(store: AntreanTrackerStore) -> DialogueStateTracker:
    tracker = DialogueStateTracker.from_events("6281234567890", [
        UserUttered("halo", {"name": "greet", "confidence": 0.98}), SlotSet("nik", "2171031708900001")])
    asyncio.run(store.save(tracker))
    return asyncio.run(store.retrieve("6281234567890"))


def test_rasa_loads_it_from_the_endpoints_file(tmp_path):
    config = yaml.safe_load((REPO_ROOT / "endpoints.yml").read_text())["tracker_store"]
    config["db"] = str(tmp_path / "conversations.sqlite3")
    store = TrackerStore.create(EndpointConfig(**config), domain=DOMAIN)
    assert isinstance(store, AntreanTrackerStore)


def test_sqlite_conversations_round_trip_in_wal_mode(tmp_path):
    store = AntreanTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "conversations.sqlite3"))
    loaded = round_trip(store)
    assert loaded.get_slot("nik") == "2171031708900001"
    assert loaded.latest_message.intent["name"] == "greet"
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


@pytest.mark.integration
def test_postgresql_conversations_round_trip(postgres_tracker_database):
    url = make_url(postgres_tracker_database)
    store = AntreanTrackerStore(domain=DOMAIN, dialect="postgresql", host=url.host, port=url.port or 5432,
                                db=url.database, username=url.username, password=url.password or "")
    assert round_trip(store).get_slot("nik") == "2171031708900001"
    store.engine.dispose()


def test_stacks_write_endpoints_that_name_it(tmp_path):
    stack = Stack(run_dir=tmp_path, conversations_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    assert yaml.safe_load(stack.write_endpoints().read_text())["tracker_store"]["type"] == \
        "antrean.tracker_store.AntreanTrackerStore"
