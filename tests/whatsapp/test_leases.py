"""Several workers (Rasa processes) on one inbox, on SQLite and PostgreSQL: a sender is answered by
one worker at a time and in arrival order, a crashed worker's lease runs out, and retention deletes
old processed messages (personal data) but never pending ones."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import update

from antrean.media.photo_store import MediaStore
from antrean.runtime.db import make_engine
from antrean.runtime.settings import WhatsAppSettings
from antrean.whatsapp.graph import GraphClient
from antrean.whatsapp.inbox import Inbox, utcnow
from antrean.whatsapp.outbound import Deliverer
from antrean.whatsapp.payloads import parse_webhook
from antrean.whatsapp.schema import whatsapp_inbox, whatsapp_outbox
from antrean.whatsapp.worker import MediaFetcher, Worker
from tests.whatsapp import meta

pytestmark = pytest.mark.integration


@pytest.fixture
def engines(database_url):
    made = []

    def build() -> Inbox:
        engine = make_engine(database_url)
        made.append(engine)
        return Inbox(engine)

    yield build
    for engine in made:
        engine.dispose()


def store(inbox, *messages):
    inbox.store(parse_webhook(meta.encode(meta.notification(meta.messages_value(*messages)))))


def test_only_one_of_many_racing_workers_gets_a_sender_and_an_expired_lease_can_be_taken(engines):
    inboxes = [engines() for _ in range(8)]
    barrier = threading.Barrier(len(inboxes))
    results = {}

    def claim(index: int) -> None:
        barrier.wait()
        results[index] = inboxes[index].claim_sender("6281300001", f"worker-{index}", 30)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(inboxes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [winner] = [i for i, won in results.items() if won]
    loser = (winner + 1) % len(inboxes)
    inbox = inboxes[0]
    assert inbox.claim_sender("6281300001", f"worker-{winner}", 30)  # its own lease: extended
    assert not inbox.claim_sender("6281300001", f"worker-{loser}", 30)
    assert inbox.holds_lease("6281300001", f"worker-{winner}")
    later = utcnow() + timedelta(seconds=31)
    assert inbox.claim_sender("6281300001", f"worker-{loser}", 30, now=later)  # the winner died
    assert inbox.renew_leases(["6281300001"], f"worker-{winner}", 30, now=later) == set()
    inbox.release_sender("6281300001", f"worker-{loser}")
    assert inbox.claim_sender("6281300001", f"worker-{winner}", 30)


def test_a_sender_leased_by_another_worker_is_not_offered(engines):
    inbox = engines()
    store(inbox, meta.text("6281300002", "a"), meta.text("6281300003", "b"))
    assert inbox.claim_sender("6281300002", "worker-a", 30)
    assert inbox.pending_senders(10, worker_id="worker-b") == ["6281300003"]
    assert inbox.pending_senders(10, worker_id="worker-a") == ["6281300002", "6281300003"]


def worker_for(inbox, settings, client, handle, tmp_path, worker_id):
    return Worker(inbox, Deliverer(inbox, client, lambda code: None), handle, settings,
                  media=MediaFetcher(client), media_store=lambda: MediaStore(tmp_path / "media"),
                  poll_seconds=0.1, worker_id=worker_id)


def test_two_workers_share_the_inbox_without_ever_answering_one_sender_twice_at_once(engines, graph, tmp_path):
    settings = WhatsAppSettings(meta.VERIFY_TOKEN, meta.APP_SECRET, graph.token, graph.url, graph.version,
                                concurrent_senders=4, lease_seconds=5)
    senders = [f"62813100{i:03d}" for i in range(10)]
    first = engines()
    for round_ in range(5):
        store(first, *[meta.text(s, f"{s}-{round_}") for s in senders])
    in_turn: dict[str, str] = {}
    overlaps, seen, by_worker = [], defaultdict(list), defaultdict(int)

    def handler(name):
        async def handle(message):
            if message.sender_id in in_turn:
                overlaps.append((message.sender_id, in_turn[message.sender_id], name))
            in_turn[message.sender_id] = name
            by_worker[name] += 1
            await asyncio.sleep(0.02)  # a turn takes time: the other worker gets every chance to interfere
            seen[message.sender_id].append(message.text)
            await message.output_channel.send_text_message(message.sender_id, f"ok {message.text}")
            del in_turn[message.sender_id]
        return handle

    async def main():
        clients = [GraphClient(settings), GraphClient(settings)]
        workers = [worker_for(engines(), settings, clients[i], handler(f"w{i}"), tmp_path, f"w{i}") for i in (0, 1)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 180  # generous: a busy CI machine; returns as soon as done
        while await asyncio.to_thread(lambda: first.counts()["pending"]) > 0:
            assert time.monotonic() < deadline, "the workers did not finish"
            await asyncio.sleep(0.05)
        for worker in workers:
            await worker.stop(grace_seconds=0)
        for client in clients:
            await client.aclose()

    asyncio.run(main())
    assert overlaps == []
    assert by_worker["w0"] > 0 and by_worker["w1"] > 0  # both took part
    for sender in senders:
        assert seen[sender] == [f"{sender}-{r}" for r in range(5)]
        assert [m["text"]["body"] for m in graph.sent_to(sender)] == [f"ok {sender}-{r}" for r in range(5)]


def test_a_crashed_workers_sender_waits_for_its_lease_to_run_out_then_is_answered(engines, graph, tmp_path):
    settings = WhatsAppSettings(meta.VERIFY_TOKEN, meta.APP_SECRET, graph.token, graph.url, graph.version,
                                lease_seconds=3)
    inbox = engines()
    sender = "6281300099"
    store(inbox, meta.text(sender, "halo"))
    assert inbox.claim_sender(sender, "crashed-worker", 2)  # it died holding the lease
    answered_at = []

    async def handle(message):
        answered_at.append(time.monotonic())
        await message.output_channel.send_text_message(sender, "jawaban")

    async def main():
        client = GraphClient(settings)
        worker = worker_for(inbox, settings, client, handle, tmp_path, "survivor")
        started = time.monotonic()
        worker.start()
        while await asyncio.to_thread(lambda: inbox.counts()["pending"]) > 0:
            assert time.monotonic() - started < 20
            await asyncio.sleep(0.1)
        await worker.stop(grace_seconds=0)
        await client.aclose()
        return started

    started = asyncio.run(main())
    assert answered_at[0] - started >= 1.0  # not before the dead worker's lease ran out
    assert [m["text"]["body"] for m in graph.sent_to(sender)] == ["jawaban"]


def test_retention_deletes_old_processed_messages_and_replies_but_keeps_pending_and_recent_ones(engines):
    inbox = engines()
    now = utcnow()
    old = now - timedelta(days=40)
    store(inbox, meta.text("6281300050", "lama"), meta.text("6281300051", "belum diproses"))
    [processed] = inbox.pending_for("6281300050")
    [pending] = inbox.pending_for("6281300051")
    inbox.claim_reply(processed.id, 1, meta.BATAM_NUMBER_ID, "6281300050", "text",
                      {"type": "text", "text": {"body": "jawaban lama"}}, "sandbox")
    inbox.finish(processed.id, "answered", now=old)
    with inbox.engine.begin() as connection:  # both written 40 days ago
        connection.execute(update(whatsapp_inbox).values(received_at=old))
        connection.execute(update(whatsapp_outbox).values(created_at=old))
    store(inbox, meta.text("6281300052", "baru"))
    [recent] = inbox.pending_for("6281300052")
    inbox.finish(recent.id, "answered")

    with pytest.raises(ValueError, match="at least 8 days"):
        inbox.purge(3)
    assert inbox.purge(30) == {"messages": 1, "replies": 1, "statuses": 0}
    assert inbox.replies_to("6281300050") == []
    assert [m.id for m in inbox.pending_for("6281300051")] == [pending.id]
    assert inbox.counts()["messages"] == 2
    assert inbox.purge(30) == {"messages": 0, "replies": 0, "statuses": 0}



def test_the_purge_command_uses_the_retention_setting_and_refuses_too_short_a_period(database_url, monkeypatch,
                                                                                   capsys):
    from antrean import cli

    monkeypatch.setenv("ANTREAN_DATABASE_URL", database_url)
    monkeypatch.setenv("ANTREAN_WA_RETENTION_DAYS", "45")
    assert cli.main(["whatsapp", "purge"]) == 0
    assert "older than 45 days" in capsys.readouterr().out
    assert cli.main(["whatsapp", "purge", "--days", "3"]) == 2
    assert "at least 8 days" in capsys.readouterr().err
