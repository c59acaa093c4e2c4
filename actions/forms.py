"""A form-validation base that counts failed answers per slot and, after two, explains with an
example (`utter_explain_<slot>`), as RasaHQ/financial-demo does."""

from __future__ import annotations

import abc
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher

FAILURES_BEFORE_EXPLAINING = 2


class CountingFormValidationAction(FormValidationAction, metaclass=abc.ABCMeta):
    """Subclasses call `accept` and `reject` from their `validate_<slot>` methods."""

    @abc.abstractmethod
    def name(self) -> str:
        """Abstract, so the action server does not register this base class itself."""

    @staticmethod
    def _failures(tracker: Tracker) -> dict[str, int]:
        value = tracker.get_slot("failed_validations")
        return dict(value) if isinstance(value, dict) else {}

    def accept(self, tracker: Tracker, slot: str, value: Any, **more: Any) -> dict[str, Any]:
        failures = self._failures(tracker)
        failures.pop(slot, None)
        return {slot: value, "failed_validations": failures, **more}

    def reject(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, message: str | None = None,
        response: str | None = None,
    ) -> dict[str, Any]:
        failures = self._failures(tracker)
        failures[slot] = failures.get(slot, 0) + 1
        if message:
            dispatcher.utter_message(text=message)
        elif response:
            dispatcher.utter_message(response=response)
        if failures[slot] >= FAILURES_BEFORE_EXPLAINING:
            dispatcher.utter_message(response=f"utter_explain_{slot}")
        return {slot: None, "failed_validations": failures}
