"""An outage inside a custom action fails the whole turn, instead of being swallowed.

Rasa 3.6 runs every action inside `MessageProcessor._run_action`, which catches any error an action
raises, logs "Bot will continue, but the actions events are lost" and goes on with the turn. For a
bug that keeps the conversation going; for a database (or Redis) that is briefly unreachable it is
the worst outcome: a form's validation or question fails, the turn ends without its question, and
the tracker is saved with the applicant's message in it. The applicant waits for an answer that
never comes, and the WhatsApp worker, seeing a turn that ended normally, marks the message handled
(the PostgreSQL failure drill left an applicant so).

Here an error from a custom action that `outage()` recognises is noted for the turn, and once
Rasa's `_run_action` has returned, the turn is ended with `ActionOutage`, caused by that error.
Nothing of the turn is saved; the lock is released; the WhatsApp worker waits the outage out and
feeds the message again (its replies already sent are not sent twice: they are numbered per
message), and the REST channel answers 503 so the client sends it again. Any other error in an
action is left to Rasa as before. The actions must run in process (`actions_module:`, as every
endpoints file of ours says): an action server answers Rasa a 500 for a bug and for an outage alike."""

from __future__ import annotations

from contextvars import ContextVar

from rasa.core.actions.action import RemoteAction
from rasa.core.processor import MessageProcessor

from antrean.runtime.outages import outage

# The outages met by the custom actions of the action Rasa is running (None outside one).
_outages_met: ContextVar[list[BaseException] | None] = ContextVar("antrean_outages_met", default=None)

_rasa_remote_run = RemoteAction.run
_rasa_run_action = MessageProcessor._run_action


class ActionOutage(Exception):
    """A custom action could not reach what it needs; the turn did not happen."""


async def _remote_run(self: RemoteAction, *args, **kwargs):
    try:
        return await _rasa_remote_run(self, *args, **kwargs)
    except Exception as error:
        met = _outages_met.get()
        if met is not None and outage(error):
            met.append(error)
        raise


async def _run_action(self: MessageProcessor, action, tracker, *args, **kwargs) -> bool:
    met: list[BaseException] = []
    token = _outages_met.set(met)
    try:
        go_on = await _rasa_run_action(self, action, tracker, *args, **kwargs)
    finally:
        _outages_met.reset(token)
    if met:
        raise ActionOutage(f"action {action.name()!r} could not reach {outage(met[0])}") from met[0]
    return go_on


def install() -> None:
    RemoteAction.run = _remote_run
    MessageProcessor._run_action = _run_action
