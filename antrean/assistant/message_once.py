"""One turn per WhatsApp message, whichever server feeds it.

A WhatsApp message is fed to Rasa by the worker holding its sender's lease (antrean/whatsapp/worker.py).
A server that stalls mid-turn (a long pause of the machine, a frozen process) stops renewing its
leases; when one runs out another server takes the sender over and feeds the message the stalled
one is still handling. Rasa's lock store serialises the two turns (every turn of a conversation runs
under its lock), but each would still run: the applicant's message twice in the conversation, its
actions twice. The worker's own "already handled?" check reads the conversation before the lock is
taken, so it cannot see a turn that is still running.

Here the check is made where it cannot race: under the lock, on the conversation Rasa has just
loaded for the turn. A message whose id the conversation already holds ends the turn at once with
`MessageAlreadyHandled`, which the worker records as already handled. Only the WhatsApp channel's ids
are checked: they are Meta's message ids, one per message the applicant sent (REST clients may
reuse theirs)."""

from __future__ import annotations

from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.trackers import DialogueStateTracker

from antrean.whatsapp.runtime import holds_message
from antrean.whatsapp.worker import CHANNEL, MessageAlreadyHandled


async def _log_message(self: MessageProcessor, message: UserMessage,
                       should_save_tracker: bool = True) -> DialogueStateTracker:
    # Rasa 3.6's MessageProcessor.log_message, with the check between loading and logging.
    tracker = await self.fetch_tracker_and_update_session(message.sender_id, message.output_channel,
                                                          message.metadata)
    if message.input_channel == CHANNEL and message.message_id and holds_message(tracker, message.message_id):
        raise MessageAlreadyHandled(message.message_id)
    await self._handle_message_with_tracker(message, tracker)
    if should_save_tracker:
        await self.save_tracker(tracker)
    return tracker


def install() -> None:
    MessageProcessor.log_message = _log_message
