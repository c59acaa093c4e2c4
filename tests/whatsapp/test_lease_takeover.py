"""A sender's lease running out mid-turn (issue 12 §1): a stalled server stops renewing its leases,
another server takes the sender over and feeds the message the stalled one is still handling.
Two workers on one inbox, feeding one trained assistant (Rasa's processor, lock store and tracker
store, as two Rasa servers share a lock store and a tracker store): every message is in the
conversation once, answered once, in order."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from types import SimpleNamespace

import pytest
from rasa.shared.core.events import UserUttered
from sqlalchemy import select

from antrean.assistant.startup import install_speedups
from antrean.whatsapp.graph import GraphClient
from antrean.whatsapp.inbox import ALREADY_HANDLED, ANSWERED
from antrean.whatsapp.runtime import _tracker_has_message
from antrean.whatsapp.schema import whatsapp_inbox, whatsapp_sender_leases
from tests.whatsapp import meta
from tests.whatsapp.test_worker import make_worker, store

pytestmark = pytest.mark.integration

SENDER = "6281200777"


@pytest.fixture(scope="module")
def agent(trained_model):
    from rasa.core.agent import load_agent

    assert install_speedups()
    return asyncio.run(load_agent(model_path=str(trained_model)))


def message_rows(inbox):
    with inbox.engine.connect() as connection:
        return connection.execute(select(whatsapp_inbox.c.wa_message_id, whatsapp_inbox.c.attempts,
                                         whatsapp_inbox.c.processed_at, whatsapp_inbox.c.outcome)
                                  .where(whatsapp_inbox.c.wa_id == SENDER).order_by(whatsapp_inbox.c.id)).all()


def lease_holder(inbox):
    with inbox.engine.connect() as connection:
        return connection.execute(select(whatsapp_sender_leases.c.claimed_by)
                                  .where(whatsapp_sender_leases.c.wa_id == SENDER)).scalar_one_or_none()


async def until(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_a_message_whose_lease_ran_out_mid_turn_is_handled_once(agent, inbox, settings, graph, tmp_path):
    first, second = meta.text(SENDER, "halo"), meta.text(SENDER, "jam buka kantor imigrasi batam?")
    store(inbox, first, second)
    settings = dataclasses.replace(settings, lease_seconds=1)
    app = SimpleNamespace(ctx=SimpleNamespace(agent=agent))

    async def main():
        client = GraphClient(settings)
        workers = {name: make_worker(inbox, settings, client, agent.handle_message, tmp_path, worker_id=name,
                                     already_handled=_tracker_has_message(app)) for name in ("stalled", "other")}
        stalled, other = workers["stalled"], workers["other"]
        # The stalled server is inside the first message's turn, waiting for the conversation's lock
        # (held here), and renews nothing any more.
        async with agent.lock_store.lock(SENDER):
            stalled.start()
            await until(lambda: message_rows(inbox)[0].attempts == 1)
            stalled._renewer.cancel()
            assert lease_holder(inbox) == "stalled"
            await asyncio.sleep(1.5)  # the lease runs out
            other.start()
            # The other server takes the sender over and feeds the same message: its check of the
            # conversation before the turn cannot see a turn that has not ended.
            await until(lambda: message_rows(inbox)[0].attempts == 2)
            assert lease_holder(inbox) == "other"
        await until(lambda: all(row.processed_at for row in message_rows(inbox)))
        await asyncio.gather(*(worker.stop(grace_seconds=5) for worker in workers.values()))
        await client.aclose()

    asyncio.run(main())
    tracker = asyncio.run(agent.tracker_store.retrieve(SENDER))
    said = [event.message_id for event in tracker.events if isinstance(event, UserUttered)]
    assert said == [first["id"], second["id"]]  # each once, in order
    rows = message_rows(inbox)
    assert all(row.outcome in (ANSWERED, ALREADY_HANDLED) for row in rows)
    # Each turn's replies reached the applicant once: as many as the conversation's bot messages.
    bot_messages = sum(1 for event in tracker.events if event.type_name == "bot")
    assert len(graph.sent_to(SENDER)) == bot_messages > 0
