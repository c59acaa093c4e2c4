"""The durable inbox on SQLite and PostgreSQL: retried deliveries are no-ops, statuses are kept
once per state, pending messages come back in arrival order per sender, and outbox numbering lets
a replayed turn skip the replies that already went out."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from antrean.runtime.db import make_engine
from antrean.whatsapp.inbox import ANSWERED, SANDBOX, Inbox
from antrean.whatsapp.payloads import parse_webhook
from tests.whatsapp import meta

pytestmark = pytest.mark.integration


@pytest.fixture
def any_inbox(database_url):
    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE whatsapp_statuses, whatsapp_outbox, whatsapp_inbox RESTART IDENTITY"))
    yield Inbox(engine)
    engine.dispose()


def delivery(*messages, statuses=()):
    values = [meta.messages_value(*messages)] if messages else []
    if statuses:
        values.append(meta.statuses_value(*statuses))
    return parse_webhook(meta.encode(meta.notification(*values)))


def test_storing_the_same_delivery_twice_stores_each_message_once(any_inbox):
    webhook = delivery(meta.text("6281111", "halo"), meta.text("6282222", "pagi"), meta.text("6281111", "lagi"),
                       statuses=[meta.status("wamid.out1", "sent"), meta.status("wamid.out1", "delivered")])
    assert any_inbox.store(webhook) == 3
    assert any_inbox.store(webhook) == 0
    assert any_inbox.counts()["messages"] == 3
    assert any_inbox.statuses_of("wamid.out1") == ["sent", "delivered"]


def test_a_message_repeated_inside_one_delivery_is_stored_once(any_inbox):
    message = meta.text("6281111", "halo")
    assert any_inbox.store(delivery(message, message)) == 1


def test_pending_messages_come_back_per_sender_in_arrival_order_until_processed(any_inbox):
    any_inbox.store(delivery(meta.text("6281111", "satu"), meta.text("6282222", "a")))
    any_inbox.store(delivery(meta.text("6281111", "dua")))
    assert any_inbox.pending_senders(10) == ["6281111", "6282222"]
    assert any_inbox.pending_senders(10, exclude={"6281111"}) == ["6282222"]
    first, second = any_inbox.pending_for("6281111")
    assert (first.payload["text"]["body"], second.payload["text"]["body"]) == ("satu", "dua")
    any_inbox.finish(first.id, ANSWERED)
    assert [m.id for m in any_inbox.pending_for("6281111")] == [second.id]


def test_a_reply_number_of_a_turn_can_be_claimed_only_once(any_inbox):
    any_inbox.store(delivery(meta.text("6281111", "halo")))
    [message] = any_inbox.pending_for("6281111")
    payload = {"type": "text", "text": {"body": "Selamat pagi"}}
    first = any_inbox.claim_reply(message.id, 1, meta.BATAM_NUMBER_ID, "6281111", "text", payload, SANDBOX)
    assert first is not None
    assert any_inbox.claim_reply(message.id, 1, meta.BATAM_NUMBER_ID, "6281111", "text", payload, SANDBOX) is None
    assert [r["payload"]["text"]["body"] for r in any_inbox.replies_to("6281111")] == ["Selamat pagi"]


def test_on_postgresql_a_turns_inbox_calls_are_single_statements_without_begin_or_commit(any_inbox):
    """Issue 12 §3: each of these is one statement, atomic alone; on PostgreSQL it goes in
    autocommit mode (no BEGIN, COMMIT or ROLLBACK round trips). SQLite keeps its transactions."""
    any_inbox.store(delivery(meta.text("6281111", "halo")))
    sent = []
    event.listen(any_inbox.engine, "before_cursor_execute",
                 lambda connection, cursor, statement, *_: sent.append((statement.split()[0], _autocommit(cursor))))
    [message] = any_inbox.pending_for("6281111")
    any_inbox.count_attempt(message.id)
    outbox_id = any_inbox.claim_reply(message.id, 1, meta.BATAM_NUMBER_ID, "6281111", "text",
                                      {"type": "text", "text": {"body": "Selamat pagi"}}, "sending")
    any_inbox.reply_sent(outbox_id, "wamid.out1")
    any_inbox.finish(message.id, ANSWERED)
    assert any_inbox.pending_for("6281111") == []
    if any_inbox.engine.dialect.name == "postgresql":
        assert sent == [
            ("SELECT", True), ("UPDATE", True), ("INSERT", True), ("UPDATE", True), ("UPDATE", True), ("SELECT", True)]
    else:
        assert {autocommit for *_, autocommit in sent} == {False}
    assert any_inbox.replies_to("6281111")[0]["status"] == "sent"


def _autocommit(cursor) -> bool:
    # psycopg2's connection says it; sqlite3's never commits by itself here (BEGIN IMMEDIATE, antrean.runtime.db).
    return bool(getattr(cursor.connection, "autocommit", False))


def test_a_messages_flood_position_counts_the_senders_messages_in_the_window_up_to_it(any_inbox):
    any_inbox.store(delivery(meta.text("6281111", "satu"), meta.text("6282222", "lain"), meta.text("6281111", "dua"),
                             meta.text("6281111", "tiga")))
    first, second, third = any_inbox.pending_for("6281111")
    assert any_inbox.flood_position(first, 60) == (1, None)
    any_inbox.finish(second.id, "flooded")
    assert any_inbox.flood_position(third, 60) == (3, "flooded")
