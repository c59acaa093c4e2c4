"""Questions answered from the office settings, the handoff to staff, and the fallback."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions import wiring
from actions.registration import office_written_to
from antrean.booking import replies
from antrean.handoff.service import request_handoff

ANSWERS = {
    "ask_requirements": replies.requirements_text,
    "ask_hours": replies.hours_text,
    "ask_location": replies.location_text,
    "ask_fee": replies.fees_text,
    "priority_service": replies.walk_in_text,
    "replace_passport": replies.replacement_text,
}


def conversation_office(tracker: Tracker):
    """The office this conversation is about: the slot, the channel's number, or the default."""
    entity_office = next(tracker.get_latest_entity_values("office"), None)
    return (wiring.office(tracker.get_slot("office")) or wiring.office(entity_office)
            or wiring.office(office_written_to(tracker)) or wiring.default_office())


class ActionAnswerQuestion(Action):
    """Answers information questions at any time, including outside the registration window and in
    the middle of the registration form (which then resumes)."""

    def name(self) -> str:
        return "action_answer_question"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list[EventType]:
        intent = tracker.latest_message.get("intent", {}).get("name")
        answer = ANSWERS.get(intent)
        if answer is None:
            dispatcher.utter_message(response="utter_menu")
            return []
        dispatcher.utter_message(text=answer(conversation_office(tracker)))
        return []


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list[EventType]:
        service = wiring.booking()
        office = conversation_office(tracker)
        request_handoff(service.engine, tracker.sender_id, office.id, tracker.latest_message.get("text") or "",
                        service.clock())
        dispatcher.utter_message(response="utter_handoff")
        return []


class ActionFallback(Action):
    """Both kinds of "not understood":

    - the NLU's `nlu_fallback` (a rule runs this action): outside a form, ask to rephrase, and after
      two in a row offer the menu and a person; inside the form, stay silent — the form runs next
      and judges the message as the answer to its question (a name or an address often looks like
      nothing the classifier knows), accepting it or saying what is wrong;
    - the dialogue's core fallback (no rule fits, e.g. the form could not find the answer it asked
      for in "yg baru"): explain the question with an example and hand back to the form, or
      outside a form answer as above and listen. Without the follow-up, the rules would predict the
      fallback again and again until Rasa's circuit breaker silenced the conversation."""

    def name(self) -> str:
        return "action_fallback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list[EventType]:
        nlu_fallback = tracker.latest_message.get("intent", {}).get("name") == "nlu_fallback"
        form, asked = tracker.active_loop_name, tracker.get_slot("requested_slot")
        if form and asked:
            if nlu_fallback:
                return []
            explanation = f"utter_explain_{asked}"
            dispatcher.utter_message(response=explanation if explanation in domain.get("responses", {})
                                     else "utter_rephrase")
            return [FollowupAction(form)]
        if misunderstood_in_a_row(tracker) >= 2:
            dispatcher.utter_message(response="utter_menu")
        else:
            dispatcher.utter_message(response="utter_rephrase")
        return [] if nlu_fallback else [FollowupAction("action_listen")]


def misunderstood_in_a_row(tracker: Tracker) -> int:
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if (event.get("parse_data") or {}).get("intent", {}).get("name") != "nlu_fallback":
            break
        count += 1
    return count
