"""Custom actions run inside the Rasa server (antrean/assistant/actions_in_process.py) behave as they do
behind an action server: same events and messages, same errors, and Rasa's event loop never waits
for an action that blocks."""

from __future__ import annotations

import asyncio
import time

import pytest
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig

from antrean.assistant.startup import install_speedups
from antrean.runtime.db import REPO_ROOT


@pytest.fixture(autouse=True, scope="module")
def installed():
    assert install_speedups()  # the in-process endpoint, as every Rasa worker of ours installs it at start-up


DOMAIN = Domain.load(str(REPO_ROOT / "domain.yml"))
SAMPLES = "tests.in_process.sample_actions"


def tracker_after(intent: str) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("6281234567890", [
        ActionExecuted("action_listen"), UserUttered("jam buka?", {"name": intent, "confidence": 0.97})],
        DOMAIN.slots)


def run(action_name: str, package: str, tracker: DialogueStateTracker | None = None) -> list:
    action = RemoteAction(action_name, EndpointConfig.from_dict({"actions_module": package}))
    return asyncio.run(action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(DOMAIN.responses),
                                  tracker or tracker_after("ask_hours"), DOMAIN))


def test_an_action_of_the_project_answers_in_process():
    events = run("action_answer_question", "actions")

    assert len(events) == 1 and isinstance(events[0], BotUttered)
    assert "Senin" in events[0].text  # the opening hours, by day


def test_events_come_back_as_rasa_events():
    events = run("test_action_slow", SAMPLES)

    assert [type(event) for event in events] == [BotUttered, SlotSet]
    assert (events[0].text, events[1].key, events[1].value) == ("selesai", "office", "batam")


def test_a_rejection_reaches_rasa_as_from_an_action_server():
    with pytest.raises(ActionExecutionRejection):
        run("test_action_rejecting", SAMPLES)


def test_an_unknown_action_fails_as_with_an_action_server():
    with pytest.raises(RasaException, match="Failed to execute custom action 'action_no_such_thing'"):
        run("action_no_such_thing", SAMPLES)


def test_what_json_cannot_carry_is_refused_as_it_would_be_on_the_wire():
    with pytest.raises(TypeError, match="not JSON serializable"):
        run("test_action_not_json", SAMPLES)


def test_rasas_event_loop_keeps_running_while_an_action_blocks():
    action = RemoteAction("test_action_slow", EndpointConfig.from_dict({"actions_module": SAMPLES}))
    ticks = []

    async def ticker():
        started = time.monotonic()
        while time.monotonic() - started < 0.25:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def both():
        await asyncio.gather(action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(DOMAIN.responses),
                                        tracker_after("ask_hours"), DOMAIN), ticker())

    asyncio.run(both())
    # ~25 ticks on an idle machine; a loop blocked by the action would have ticked once or twice.
    assert len(ticks) >= 4


def test_an_endpoint_with_a_url_still_calls_the_action_server():
    action = RemoteAction("action_answer_question", EndpointConfig(url="http://127.0.0.1:9/webhook"))
    with pytest.raises(RasaException, match="Couldn't connect"):
        asyncio.run(action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(DOMAIN.responses),
                               tracker_after("ask_hours"), DOMAIN))
