"""Actions for tests/in_process: one that blocks, one that rejects, one that returns what JSON cannot carry."""

import time
from datetime import date

from rasa_sdk import Action
from rasa_sdk.events import SlotSet
from rasa_sdk.interfaces import ActionExecutionRejection


class SlowAction(Action):
    def name(self) -> str:
        return "test_action_slow"

    def run(self, dispatcher, tracker, domain):
        time.sleep(0.3)  # a synchronous database call, say
        dispatcher.utter_message(text="selesai")
        return [SlotSet("office", "batam")]


class RejectingAction(Action):
    def name(self) -> str:
        return "test_action_rejecting"

    def run(self, dispatcher, tracker, domain):
        raise ActionExecutionRejection("test_action_rejecting", "not now")


class NotJsonAction(Action):
    def name(self) -> str:
        return "test_action_not_json"

    def run(self, dispatcher, tracker, domain):
        return [SlotSet("visit_date", date(2026, 12, 2))]
