"""The read model with several Rasa servers writing one PostgreSQL tracker store: PostgreSQL hands out
event ids before commit, so a save still in flight leaves a gap below ids already visible. The sync
must wait for such a gap (else the in-flight events are never copied), step over a gap that will not
fill (a rolled-back save), and copy everything written while no console ran, in order."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import create_engine, func, insert, select

from antrean.review import sync as sync_module
from antrean.review.schema import review_conversations, review_user_messages
from antrean.review.tracker import events as events_table
from tests.conftest import wib
from tests.review.test_sync import empty_review_tables, run_sync  # noqa: F401 (fixture)
from tests.review.tracker_writer import TrackerWriter, listen, session_start, user

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url(postgres_database):
    return postgres_database  # the gaps exist on PostgreSQL only (SQLite has one writer at a time)


@pytest.fixture
def writers(tracker_url, database_url):
    """Two tracker stores of their own (two Rasa servers' connections) on one database."""
    empty_review_tables(database_url)
    pair = [TrackerWriter(tracker_url, wib(2026, 12, 1, 7, 40)), TrackerWriter(tracker_url, wib(2026, 12, 1, 7, 41))]
    yield pair
    for w in pair:
        w.close()


def texts(service) -> list[str]:
    m = review_user_messages.c
    with service.engine.connect() as connection:
        return list(connection.execute(select(m.text).order_by(m.event_id)).scalars())


def insert_uncommitted(connection, w: TrackerWriter, sender: str, *makers) -> None:
    """Rows as Rasa's SQLTrackerStore writes them, in a transaction the caller keeps open."""
    rows = []
    for make in makers:
        for event in make(w):
            data = event.as_dict()
            rows.append({"sender_id": sender, "type_name": event.type_name, "timestamp": event.timestamp,
                         "intent_name": data.get("parse_data", {}).get("intent", {}).get("name"),
                         "action_name": data.get("name") if event.type_name == "action" else None,
                         "data": json.dumps(data)})
    connection.execute(insert(events_table), rows)


def test_a_save_in_flight_below_a_committed_one_is_waited_for(service, writers, run_sync, tracker_url):  # noqa: F811
    a, b = writers
    a.save("6281200000001", session_start({"office_id": "batam"}), user("halo", "greet"), listen())
    run_sync()
    engine = create_engine(tracker_url, future=True)
    try:
        with engine.connect() as server_a:
            transaction = server_a.begin()
            insert_uncommitted(server_a, a, "6281200000002", session_start(), user("dari server A", "greet"))
            b.save("6281200000003", session_start(), user("dari server B", "greet"), listen())  # higher ids, committed
            run_sync()
            assert texts(service) == ["halo"]  # server B's message waits behind the gap
            transaction.commit()
    finally:
        engine.dispose()
    run_sync()
    assert texts(service) == ["halo", "dari server A", "dari server B"]
    run_sync()
    assert texts(service) == ["halo", "dari server A", "dari server B"]  # copied once


def test_a_rolled_back_save_is_stepped_over(service, writers, run_sync, tracker_url, monkeypatch):  # noqa: F811
    monkeypatch.setattr(sync_module, "GAP_GRACE_SECONDS", 0.05)
    a, b = writers
    engine = create_engine(tracker_url, future=True)
    a.save("6281200000011", session_start(), user("halo", "greet"), listen())  # Rasa's table exists
    try:
        with engine.connect() as server_a:
            transaction = server_a.begin()
            insert_uncommitted(server_a, a, "6281200000012", session_start(), user("tidak jadi", "greet"))
            b.save("6281200000013", session_start(), user("sesudahnya", "greet"), listen())
            run_sync()
            transaction.rollback()
    finally:
        engine.dispose()
    assert texts(service) == ["halo"]
    time.sleep(0.1)
    run_sync()  # the gap's snapshot is taken now; the rollback is seen as ended on a later look
    deadline = time.monotonic() + 30  # other sessions' transactions on the server may hold xmin a moment
    while "sesudahnya" not in texts(service) and time.monotonic() < deadline:
        time.sleep(0.2)
        run_sync()
    assert texts(service) == ["halo", "sesudahnya"]


def test_what_two_servers_wrote_while_no_console_ran_is_copied_in_order(service, writers, run_sync):  # noqa: F811
    a, b = writers
    # One applicant's turns land on either server (no stickiness); others' turns interleave.
    for turn in range(3):
        for n, w in enumerate((a, b, a)):
            sender = f"62812000001{n}"
            first = [session_start({"office_id": "batam"})] if turn == 0 else []
            w.save(sender, *first, user(f"pesan {turn} dari {sender[-2:]}", "inform"), listen())
            (b if w is a else a).tick(1)
    run_sync()
    c = review_conversations.c
    with service.engine.connect() as connection:
        turns = dict(connection.execute(select(c.sender_id, c.turns)).all())
    assert turns == {f"62812000001{n}": 3 for n in range(3)}
    for n in range(3):
        mine = [t for t in texts(service) if t.endswith(f"dari 1{n}")]
        assert mine == [f"pesan {turn} dari 1{n}" for turn in range(3)]


def test_concurrent_servers_and_a_console_polling_lose_nothing(service, writers, run_sync, tracker_url):  # noqa: F811
    """Two threads save turns as fast as they can while the console syncs without pause: every user
    message the tracker store holds ends up in the read model exactly once."""
    errors: list[Exception] = []
    polled = threading.Event()  # half the saves wait for a poll, so saves and polls really overlap

    def server(w: TrackerWriter, name: str) -> None:
        try:
            for n in range(25):
                if n == 12:
                    polled.wait(120)
                w.save(f"62812000009{name}{n % 5}", user(f"{name}{n}", "inform"), listen())
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=server, args=(w, name)) for w, name in zip(writers, "ab", strict=True)]
    for thread in threads:
        thread.start()
    polls = 0
    while any(thread.is_alive() for thread in threads):
        run_sync()
        polls += 1
        polled.set()
    for thread in threads:
        thread.join()
    assert errors == []
    run_sync()
    tracker = create_engine(tracker_url, future=True)
    with tracker.connect() as connection:
        said = connection.execute(select(func.count()).select_from(events_table)
                                  .where(events_table.c.type_name == "user")).scalar()
    tracker.dispose()
    copied = texts(service)
    assert said == 50 and polls > 1
    assert sorted(copied) == sorted([f"a{n}" for n in range(25)] + [f"b{n}" for n in range(25)])
