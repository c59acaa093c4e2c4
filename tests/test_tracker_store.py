"""The tuned tracker store is still Rasa's SQL tracker store: Rasa loads it from endpoints.yml and
conversations round-trip through it, on SQLite (tuned) and PostgreSQL, and it stores exactly the
events Rasa's own store does."""

import asyncio
import json
import logging
import multiprocessing
import threading

import pytest
import sqlalchemy as sa
import yaml
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import text
from sqlalchemy.engine import make_url

from antrean.assistant.tracker_store import AntreanTrackerStore
from antrean.runtime.db import REPO_ROOT
from antrean.runtime.serve import Stack

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
        "antrean.assistant.tracker_store.AntreanTrackerStore"


def _conversation_turn_by_turn(store, saves_per_turn: int = 1) -> list:
    """Four turns as Rasa's processor makes them: load, add events, save — including a turn on a
    new conversation, a turn on a copy, and a new session. Timestamps left out (they differ)."""
    sender = "6281234567890"

    loaded = []  # what each turn loaded: the latest session's events only

    async def run():
        tracker = DialogueStateTracker.from_events(sender, [ActionExecuted("action_session_start"), SessionStarted()])
        await store.save(tracker)  # a new conversation: never loaded
        for turn, events in enumerate([
            [UserUttered("halo", {"name": "greet", "confidence": 0.9}), ActionExecuted("utter_greet")],
            [UserUttered("nik saya 2171031708900001"), SlotSet("nik", "2171031708900001")],
            [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")],
            [UserUttered("halo lagi", {"name": "greet", "confidence": 0.8})],
        ]):
            tracker = await store.retrieve(sender)
            loaded.append([{**event.as_dict(), "timestamp": None} for event in tracker.events])
            if turn == 1:
                tracker = tracker.copy()  # not the object that was loaded
            tracker.update_with_events(events, None)
            for _ in range(saves_per_turn):
                await store.save(tracker)
        return (await store.retrieve_full_tracker(sender)).events

    events = [{**event.as_dict(), "timestamp": None} for event in asyncio.run(run())]
    # Every column of the stored rows too (the console's read model reads them), in order.
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(store.SQLEvent.__table__).order_by(sa.text("id"))).mappings().all()
    assert len(rows) == len(events)
    columns = [{**row, "id": None, "timestamp": None, "data": {**json.loads(row["data"]), "timestamp": None}}
               for row in rows]
    return events, columns, loaded


def test_saving_stores_each_new_event_once_exactly_as_rasas_store_does(tmp_path):
    ours = AntreanTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "ours.sqlite3"))
    rasas = SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "rasa.sqlite3"))

    stored, rows, loaded = _conversation_turn_by_turn(ours)

    assert [event["event"] for event in stored] == [
        "action", "session_started", "user", "action", "user", "slot", "action", "session_started", "action", "user"]
    assert (stored, rows, loaded) == _conversation_turn_by_turn(rasas)
    assert [len(events) for events in loaded] == [1, 3, 5, 2]  # from the latest SessionStarted on
    assert rows[2]["intent_name"] == "greet" and rows[3]["action_name"] == "utter_greet"


def test_saving_twice_adds_nothing(tmp_path):
    # (Rasa's own count, "events since the latest session start", is wrong for a tracker that
    # holds a new session: saved twice, it stores the events after the start again.)
    store = AntreanTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "c.sqlite3"))
    assert _conversation_turn_by_turn(store, saves_per_turn=2) == _conversation_turn_by_turn(
        AntreanTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "once.sqlite3")))


def test_a_loaded_conversation_is_saved_without_counting_its_stored_events(tmp_path):
    store = AntreanTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "c.sqlite3"))
    round_trip(store)
    statements = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    async def turn():
        tracker = await store.retrieve("6281234567890")
        statements.clear()
        tracker.update(UserUttered("lagi", {"name": "greet", "confidence": 0.9}))
        await store.save(tracker)

    asyncio.run(turn())
    assert not any("count(" in statement.lower() for statement in statements)
    assert sum(statement.lstrip().upper().startswith("INSERT") for statement in statements) == 1


@pytest.mark.integration
def test_on_postgresql_a_turn_is_one_select_and_one_insert_off_the_event_loop(postgres_tracker_database, tmp_path):
    engine = sa.create_engine(postgres_tracker_database, future=True)
    with engine.begin() as connection:  # the database is the session's: other tests' conversations go
        connection.execute(text("DROP TABLE IF EXISTS events"))
    engine.dispose()
    url = make_url(postgres_tracker_database)
    store = AntreanTrackerStore(domain=DOMAIN, dialect="postgresql", host=url.host, port=url.port or 5432,
                                db=url.database, username=url.username, password=url.password or "")
    try:
        # The same events and rows as Rasa's own store, turn by turn.
        stored, rows, loaded = _conversation_turn_by_turn(store)
        assert (stored, rows, loaded) == _conversation_turn_by_turn(
            SQLTrackerStore(domain=DOMAIN, dialect="sqlite", db=str(tmp_path / "rasa.sqlite3")))
        sent = []  # (statement, autocommit, thread) as the driver got them
        sa.event.listen(store.engine, "before_cursor_execute", lambda connection, cursor, statement, *_: sent.append(
            (statement.lstrip().split()[0].upper(), cursor.connection.autocommit, threading.get_ident())))

        async def turn():
            tracker = await store.retrieve("6281234567890")
            tracker.update(UserUttered("lagi", {"name": "greet", "confidence": 0.9}))
            await store.save(tracker)
            return threading.get_ident()

        loop_thread = asyncio.run(turn())
        assert [(statement, autocommit) for statement, autocommit, _ in sent] == [("SELECT", True), ("INSERT", True)]
        assert loop_thread not in {thread for *_, thread in sent}
        assert (asyncio.run(store.retrieve("6281234567890")).latest_message.text) == "lagi"
    finally:
        store.engine.dispose()


def _open_store_with_the_others(path: str, barrier, errors) -> None:
    logged = []

    class Collect(logging.Handler):
        def emit(self, record):
            logged.append(record.getMessage().splitlines()[0])

    logging.getLogger("rasa.core.tracker_store").addHandler(Collect(level=logging.ERROR))
    barrier.wait()  # every process opens the store at the same moment, as forked Sanic workers do
    AntreanTrackerStore(domain=DOMAIN, dialect="sqlite", db=path).engine.dispose()
    errors.extend(logged)


@pytest.mark.integration
def test_workers_starting_together_on_a_fresh_database_log_no_error(tmp_path):
    # Without the creation lock, 4 processes logged ~2 "Could not create tables: table events already
    # exists" per fresh file (11 in 5 tries).
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager:
        errors = manager.list()
        for attempt in range(3):
            barrier = context.Barrier(4)
            path = str(tmp_path / f"conversations-{attempt}.sqlite3")
            workers = [context.Process(target=_open_store_with_the_others, args=(path, barrier, errors))
                       for _ in range(4)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(timeout=120)
            assert [worker.exitcode for worker in workers] == [0] * 4
            with sa.create_engine(f"sqlite:///{path}").connect() as connection:
                assert sa.inspect(connection).has_table("events")
        assert list(errors) == []
