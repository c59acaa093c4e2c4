"""Crash recovery through the real stack: a stream of signed messages from several applicants,
the Rasa server killed with SIGKILL in the middle of it and started again. Every message the
webhook acknowledged is stored, processed and answered, and no reply reaches WhatsApp twice —
counted from the inbox/outbox tables and the Graph API stand-in's record. (A reply whose send the
kill interrupted is not repeated: at most once.)"""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select

from antrean.runtime.db import make_engine, upgrade_database
from antrean.runtime.serve import Stack
from antrean.whatsapp.inbox import ALREADY_HANDLED, ANSWERED
from antrean.whatsapp.schema import whatsapp_inbox, whatsapp_outbox
from tests.whatsapp import meta
from tests.whatsapp.server import free_port
from tests.whatsapp.standin import GraphStandIn

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SENDERS = [f"6281377700{i:02d}" for i in range(6)]
TEXTS = ["halo", "jam buka kantor imigrasi batam?", "berapa biaya paspor 10 tahun", "syarat paspor baru apa saja",
         "terima kasih"]


def pending_and_total(engine) -> tuple[int, int]:
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(whatsapp_inbox)).scalar_one()
        pending = connection.execute(select(func.count()).select_from(whatsapp_inbox).where(
            whatsapp_inbox.c.processed_at.is_(None))).scalar_one()
    return pending, total


def post(url: str, message: dict) -> None:
    """Like Meta: a delivery that was not acknowledged with 200 is delivered again."""
    body = meta.encode(meta.notification(meta.messages_value(message)))
    for _ in range(60):
        try:
            if httpx.post(url, content=body, headers=meta.signed_headers(body), timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError("a delivery was never acknowledged")


def test_killing_the_rasa_server_mid_stream_loses_nothing_and_answers_nothing_twice(tmp_path, trained_model):
    database = f"sqlite:///{tmp_path / 'bookings.sqlite3'}"
    upgrade_database(database)
    graph = GraphStandIn().start()
    stack = Stack(
        rasa_port=free_port(), actions_port=free_port(), receiver_port=free_port(),
        conversations_url=f"sqlite:///{tmp_path / 'conversations.sqlite3'}", run_dir=tmp_path,
        environment={"ANTREAN_DATABASE_URL": database, "ANTREAN_CLOCK": "2026-12-01T08:00:00+07:00",
                     "ANTREAN_MEDIA_DIR": str(tmp_path / "media"), "ANTREAN_SECRET_KEY": "restart-secret-" * 3,
                     "ANTREAN_WA_VERIFY_TOKEN": meta.VERIFY_TOKEN, "ANTREAN_WA_APP_SECRET": meta.APP_SECRET,
                     "ANTREAN_WA_ACCESS_TOKEN": graph.token, "ANTREAN_WA_GRAPH_URL": graph.url,
                     "ANTREAN_WA_GRAPH_VERSION": graph.version, "ANTREAN_WA_POLL_SECONDS": "0.25",
                     # A stable worker id: the restarted server takes its own leases back at once.
                     "ANTREAN_WA_WORKER_ID": "restart-test-worker"},
    )
    engine = make_engine(database)
    posted: list[str] = []
    stack.start()
    try:
        stack.wait_until_ready(timeout=600)
        messages = [meta.text(sender, text) for text in TEXTS for sender in SENDERS]

        def stream() -> None:
            for message in messages:
                post(stack.whatsapp_webhook_url, message)
                posted.append(message["id"])
                time.sleep(0.4)

        sender_thread = threading.Thread(target=stream)
        sender_thread.start()
        deadline = time.monotonic() + 300
        while True:  # kill once some messages are answered and others still wait
            pending, total = pending_and_total(engine)
            if total - pending >= len(messages) // 4 and pending > 0:
                break
            assert time.monotonic() < deadline, "the stack did not answer"
            time.sleep(0.2)
        stack.restart_rasa(kill=True)
        killed_with = pending_and_total(engine)
        sender_thread.join(300)  # the stream goes on: the receiver stores while Rasa is down
        stack.wait_until_ready(timeout=600)
        deadline = time.monotonic() + 600
        while pending_and_total(engine)[0] > 0:
            assert time.monotonic() < deadline, "messages left unprocessed after the restart"
            time.sleep(1)
        time.sleep(3)  # the last replies of the last turn
    finally:
        stack.stop()
        graph.stop()

    assert killed_with[0] > 0, "the kill should come while messages are waiting"
    assert len(posted) == len(messages)
    with engine.connect() as connection:
        stored = connection.execute(select(whatsapp_inbox)).all()
        replies = connection.execute(select(whatsapp_outbox)).all()
    engine.dispose()
    assert sorted(row.wa_message_id for row in stored) == sorted(posted)  # none lost, none twice
    assert all(row.processed_at is not None for row in stored)
    assert {row.outcome for row in stored} <= {ANSWERED, ALREADY_HANDLED}
    answered = Counter(row.inbox_id for row in replies)
    assert all(answered[row.id] >= 1 for row in stored), "a message without any reply"
    # A reply is claimed (its row written) before it is sent, and a replayed turn never sends a
    # claimed reply again: at most once, as Meta's API has no idempotency key. A reply whose send
    # the kill interrupted stays "sending" — at most one per conversation, as a conversation's
    # replies go out one after the other (loaded machines kill inside that window now and then).
    in_doubt = [row for row in replies if row.status != "sent"]
    assert all(row.status == "sending" for row in in_doubt)
    assert len({row.wa_id for row in in_doubt}) == len(in_doubt) <= len(SENDERS)
    # Never twice at WhatsApp: every reply recorded sent went out once under its own id, and at most
    # the ones in doubt besides.
    wamids = [m["wamid"] for m in graph.sent]
    assert len(wamids) == len(set(wamids))
    assert {row.wa_outgoing_id for row in replies if row.status == "sent"} <= set(wamids)
    for sender in SENDERS:
        rows = [row for row in replies if row.wa_id == sender]
        sent = sum(1 for row in rows if row.status == "sent")
        assert sent <= len(graph.sent_to(sender)) <= len(rows)
