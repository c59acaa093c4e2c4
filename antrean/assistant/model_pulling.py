"""Rasa's model pulling (`models:` in the endpoints), loading a new model beside the running one.

Rasa 3.6 pulls the model server every `wait_time_between_pulls` seconds and, when the ETag changed,
calls `agent.load_model` on the event loop: the worker answers nothing while the new model loads
(seconds to a minute on a busy machine), so every conversation on it waits. Here the new model's
`MessageProcessor` is built in a thread; the event loop keeps answering with the old one and the
agent switches to the new one in a single step on the loop once it is ready. A message already
being handled finishes with the processor it started with (Rasa's `handle_message` holds it), so
none is lost or answered twice. At start-up (no model yet) it loads as Rasa does.

The download, the ETag handling and the error policy (log, keep the old model, try again at the next
pull) are Rasa's own (`_pull_model_and_fingerprint`); the speed-ups of speedups.py patch Rasa's
classes, so a processor built later runs with them too (tests/model_registry/test_hot_swap.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

logger = logging.getLogger(__name__)


# While a model loads beside the running one, the loading thread and the event loop share the GIL;
# the loop waits up to the switch interval (5 ms) each time it wants it back, and an answer takes it
# back many times. A shorter interval while loading keeps answers close to their usual time.
LOADING_SWITCH_INTERVAL = 0.0005


def _new_processor(agent, model_directory: str):
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.trackers import DialogueStateTracker

    processor = MessageProcessor(model_path=model_directory, tracker_store=agent.tracker_store,
                                 lock_store=agent.lock_store, action_endpoint=agent.action_endpoint,
                                 generator=agent.nlg, http_interpreter=agent.http_interpreter)
    # The first parse of a model does one-off work (the speed-ups plan its graph, components set
    # themselves up): here, not in an applicant's turn.
    message = UserMessage("halo", sender_id="antrean-model-warm-up")
    processor._parse_message_with_graph(message, DialogueStateTracker.from_events(message.sender_id, []))
    return processor


def switch_to(agent, processor, fingerprint: str) -> None:
    """What Rasa's `Agent.load_model` does after building the processor, all at once on the loop."""
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator

    agent.processor = processor
    agent.domain = processor.domain
    agent._set_fingerprint(fingerprint)
    agent.tracker_store.domain = agent.domain
    if isinstance(agent.nlg, TemplatedNaturalLanguageGenerator):
        agent.nlg.responses = agent.domain.responses if agent.domain else {}


async def update_model_from_server(model_server, agent) -> None:
    from rasa.core import agent as rasa_agent
    from rasa.nlu.utils import is_url
    from rasa.utils.common import TempDirectoryPath, get_temp_dir_name

    if not is_url(model_server.url):
        import aiohttp

        raise aiohttp.InvalidURL(model_server.url)
    with TempDirectoryPath(get_temp_dir_name()) as directory:
        try:
            fingerprint = await rasa_agent._pull_model_and_fingerprint(model_server, agent.fingerprint, directory)
            if not fingerprint:
                return
            previous = agent.fingerprint
            if agent.processor is None:
                agent.load_model(directory, fingerprint)
            else:
                usual = sys.getswitchinterval()
                sys.setswitchinterval(min(usual, LOADING_SWITCH_INTERVAL))
                try:
                    processor = await asyncio.get_running_loop().run_in_executor(None, _new_processor, agent,
                                                                                 directory)
                finally:
                    sys.setswitchinterval(usual)
                switch_to(agent, processor, fingerprint)
            logger.info("worker %d now runs model %s (was %s)", os.getpid(), fingerprint.strip('"')[:12],
                        (previous or "-").strip('"')[:12])
        except Exception:  # Rasa's policy: a model that fails to load leaves the old one in place
            logger.exception("Failed to update model. The previous model will stay loaded instead.")


def install() -> None:
    from rasa.core import agent as rasa_agent

    rasa_agent._update_model_from_server = update_model_from_server
