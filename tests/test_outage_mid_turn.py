"""The booking database lost in the middle of a turn (issue 12 §2, the PostgreSQL drill), and the
REST channel while the database or Redis is out.

Rasa swallows any error a custom action raises ("Bot will continue, but the actions events are
lost"): a form's validation or question that cannot reach the database would leave the turn saved
with the applicant's message and no question after it, and the applicant waiting for an answer
that never comes. An outage is no fault of the message: the turn must fail, so that the WhatsApp
worker keeps the message and feeds it again when the database is back. Driven through the trained
assistant (NLU, policies, the real custom actions in process) on a real PostgreSQL database, made
unreachable the way the drill does it."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.events import UserUttered
from rasa.utils.endpoints import EndpointConfig

from actions import wiring
from antrean.assistant.rest_channel import AntreanRestInput
from antrean.assistant.startup import install_speedups
from antrean.booking.service import BookingService
from antrean.media.contract import ingest_photo, photo_message_text, photo_metadata
from antrean.media.photo_store import MediaStore
from antrean.runtime.db import make_engine
from antrean.runtime.outages import outage
from tests.actions.conftest import card_photo
from tests.conftest import PostgresSwitch
from tests.whatsapp.server import free_port, served

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def agent(trained_model):
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig

    assert install_speedups()
    endpoints = AvailableEndpoints(action=EndpointConfig.from_dict({"actions_module": "actions"}))
    return asyncio.run(load_agent(model_path=str(trained_model), endpoints=endpoints))


@pytest.fixture
def chat(agent, postgres_server_url, postgres_database, offices, clock, codes, tmp_path):
    engine = make_engine(postgres_database)
    service = BookingService(engine, offices, clock, codes)
    store = MediaStore(tmp_path / "media")
    wiring.use(service, store)
    switch = PostgresSwitch(postgres_server_url, postgres_database)
    sender = f"62812888{uuid.uuid4().int % 10**5:05d}"

    def say(text: str = "", photo: bytes | None = None) -> str:
        metadata = {"office_id": "batam"}
        if photo is not None:
            ref, check = ingest_photo(store, photo, sender)
            metadata.update(photo_metadata(ref, check))
            text = photo_message_text(text or None)
        out = CollectingOutputChannel()
        asyncio.run(agent.handle_message(UserMessage(text, out, sender_id=sender, metadata=metadata,
                                                     message_id=uuid.uuid4().hex)))
        return "\n".join(m.get("text") or "" for m in out.messages)

    try:
        yield say, switch, sender
    finally:
        switch.dispose()
        wiring.use(None, None)
        engine.dispose()


NIK = "2171031708900001"


def reach_the_nik_question(say) -> None:
    """The `#` text and the e-KTP photo: the assistant asks for the NIK, whose turn needs the database."""
    say("mau perpanjang paspor, Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12 Tiban Baru")
    assert "NIK" in say(photo=card_photo())


def user_messages(agent, sender: str) -> list[str]:
    tracker = asyncio.run(agent.tracker_store.retrieve(sender))
    return [event.text for event in tracker.events if isinstance(event, UserUttered)] if tracker else []


def test_an_outage_inside_an_action_fails_the_turn_so_the_message_is_fed_again(agent, chat):
    say, switch, sender = chat
    reach_the_nik_question(say)
    before = user_messages(agent, sender)

    switch.close()  # the NIK's turn validates it and asks the day: both need the booking database
    with pytest.raises(Exception) as raised:
        say(NIK)
    assert outage(raised.value) == "the database"  # what the worker waits out, keeping the message
    assert user_messages(agent, sender) == before  # the failed turn was not saved

    switch.open()
    assert "hari kedatangan" in say(NIK)  # fed again: the turn the applicant expected
    assert user_messages(agent, sender) == [*before, NIK]


def test_the_rest_channel_asks_for_the_message_again_while_the_database_is_out(agent, chat):
    say, switch, sender = chat
    reach_the_nik_question(say)
    body = {"sender": sender, "message": NIK, "metadata": {"office_id": "batam"}}

    with served(AntreanRestInput(token=None), agent.handle_message) as base:
        switch.close()
        refused = httpx.post(f"{base}/webhook", json=body, timeout=60)
        # Not a 200 with no question in it: the client knows the message was not handled.
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert refused.json() == {"error": "the database is unreachable: the message was not handled, send it again"}

        switch.open()
        answered = httpx.post(f"{base}/webhook", json=body, timeout=60)
    assert answered.status_code == 200
    assert "hari kedatangan" in "\n".join(m.get("text", "") for m in answered.json())
    assert user_messages(agent, sender)[-1] == NIK
    assert user_messages(agent, sender).count(NIK) == 1


def test_a_streamed_answer_ends_with_the_error_instead_of_hanging(agent, chat):
    say, switch, sender = chat
    reach_the_nik_question(say)
    body = {"sender": sender, "message": NIK, "metadata": {"office_id": "batam"}}

    with served(AntreanRestInput(token=None), agent.handle_message) as base:
        switch.close()
        # Rasa's own stream never ended after an error: the client waited until its timeout.
        refused = httpx.post(f"{base}/webhook?stream=true", json=body, timeout=30)
        switch.open()
        answered = httpx.post(f"{base}/webhook?stream=true", json=body, timeout=30)
    assert [json.loads(line) for line in refused.text.splitlines()] == [
        {"error": "the database is unreachable: the message was not handled, send it again"}]
    assert "hari kedatangan" in "\n".join(json.loads(line).get("text", "") for line in answered.text.splitlines())
    assert user_messages(agent, sender).count(NIK) == 1


def test_the_rest_channel_asks_for_the_message_again_while_redis_is_out(agent):
    """Several Rasa servers share Redis for the conversations' locks: without it no turn may start
    (two servers could run one conversation at once), and the client is told to send again."""
    from antrean.assistant.redis_lock_store import RedisMutexLockStore

    sender = f"62812889{uuid.uuid4().int % 10**5:05d}"
    rasas_own = agent.lock_store
    agent.lock_store = RedisMutexLockStore(EndpointConfig(url="127.0.0.1", port=free_port()))  # nothing listens
    try:
        with served(AntreanRestInput(token=None), agent.handle_message) as base:
            refused = httpx.post(f"{base}/webhook", json={"sender": sender, "message": "halo"}, timeout=60)
    finally:
        agent.lock_store = rasas_own
    assert refused.status_code == 503
    assert refused.json() == {"error": "Redis is unreachable: the message was not handled, send it again"}
    assert user_messages(agent, sender) == []  # no turn
