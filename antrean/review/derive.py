"""What one conversation amounts to, from its tracker events alone (pure: no database).

Outcome, in this order of precedence, from the names this assistant really uses (domain.yml,
actions/registration.py, actions/conversation.py):
- booked: the bot sent a QR ticket (`…/tiket/<code>.png`, ActionSubmitRegistration) — gives the code;
- refused: `registration_blocked` was set (window closed, quota full, NIK already booked), or the
  booking was submitted confirmed and no ticket followed (the core refused it);
- handoff: `action_handoff` ran or the applicant asked for a person (`human_handoff`);
- abandoned: the registration form started but ended in none of the above;
- information: everything else (questions answered, greetings)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from antrean.booking.offices import Office, office_from_metadata, real_office_id
from antrean.media.ticket import code_in_reference
from antrean.protection.masking import mask_sender, mask_text
from antrean.review.tracker import TrackerEvent

SESSION_START_ACTION = "action_session_start"
SESSION_METADATA_SLOT = "session_started_metadata"
FORM = "registration_form"
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTION = "action_fallback"
HANDOFF_ACTION = "action_handoff"
HANDOFF_INTENT = "human_handoff"
SUBMIT_ACTION = "action_submit_registration"
# Set when the assistant refused an e-KTP as someone else's (nik / birth_date / name / guardian): a
# code, stored as a slot facet like any other, which the console shows as a flag and counts.
CARD_MISMATCH_SLOT = "card_mismatch"
# Slots whose values identify a person: the slot filter may ask whether they were set, never for a value.
PERSONAL_SLOTS = frozenset({"person_name", "birth_date", "address", "nik", "id_photo", "guardian_photo"})
# Listening and session bookkeeping run in every conversation; filtering on them finds everything.
ROUTINE_ACTIONS = frozenset({"action_listen", SESSION_START_ACTION})
WORD = re.compile(r"\w{2,40}")
WORDS_LIMIT = 200
FACET_VALUE_LIMIT = 200


@dataclass
class UserMessage:
    event_id: int
    at: datetime
    text: str
    intent: str | None
    confidence: float | None
    entities: list
    ranking: list


@dataclass
class Conversation:
    sender_id: str
    first_event_id: int
    last_event_id: int
    started_at: datetime  # aware UTC
    ended_at: datetime
    office_id: str | None = None
    channel: str | None = None
    outcome: str = "information"
    min_confidence: float | None = None
    fallback: bool = False
    booking_code: str | None = None
    messages: list[UserMessage] = field(default_factory=list)
    facets: set[tuple[str, str, str]] = field(default_factory=set)

    @property
    def turns(self) -> int:
        return len(self.messages)

    @property
    def sender_masked(self) -> str:
        return mask_sender(self.sender_id)

    @property
    def words(self) -> set[str]:
        """The words of the applicant's messages for the free-text filter (masked first: a NIK is
        never a searchable word)."""
        return words_of(" ".join(m.text for m in self.messages if m.text))


def words_of(text: str) -> set[str]:
    found: set[str] = set()
    for word in WORD.findall(mask_text(text).lower()):
        if len(found) >= WORDS_LIMIT:
            break
        found.add(word)
    return found


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp or 0.0, timezone.utc)


def starts_session(event: TrackerEvent, previous: TrackerEvent | None) -> bool:
    """Rasa writes `action_session_start` then `session_started`; either begins a conversation. When
    the message that starts it carries metadata (every message of the REST and WhatsApp channels
    does), Rasa first sets the `session_started_metadata` slot (MessageProcessor._update_tracker_session):
    that slot begins the conversation, or it would make one of its own, with no message, office or channel."""
    if is_metadata_slot(event):
        return True
    if event.type_name == "action" and event.name == SESSION_START_ACTION:
        return not is_metadata_slot(previous)
    return event.type_name == "session_started" and not (
        previous is not None and previous.type_name == "action" and previous.name == SESSION_START_ACTION)


def is_metadata_slot(event: TrackerEvent | None) -> bool:
    return event is not None and event.type_name == "slot" and event.name == SESSION_METADATA_SLOT


def split_sessions(events: Iterable[TrackerEvent]) -> Iterator[list[TrackerEvent]]:
    """One sender's events in id order → one list per conversation."""
    current: list[TrackerEvent] = []
    previous = None
    for event in events:
        if current and starts_session(event, previous):
            yield current
            current = []
        current.append(event)
        previous = event
    if current:
        yield current


def summarise(events: list[TrackerEvent], offices: dict[str, Office]) -> Conversation:
    first, last = events[0], events[-1]
    reading = Reading(Conversation(first.sender_id, first.id, last.id, utc(first.timestamp), utc(last.timestamp)),
                      offices)
    for event in events:
        handler = EVENT_HANDLERS.get(event.type_name)
        if handler is not None:
            handler(reading, event)
    return reading.finish()


@dataclass
class Reading:
    """A conversation while its events are read in order: the summary so far, and what the outcome
    and office are decided from once every event has been seen."""

    conversation: Conversation
    offices: dict[str, Office]
    slots: dict[str, object] = field(default_factory=dict)
    form_started: bool = False
    refused: bool = False
    handoff: bool = False
    submitted_unbooked: bool = False
    metadata_office: str | None = None

    def finish(self) -> Conversation:
        conversation = self.conversation
        # An office the applicant chose (the `office` slot) wins over the one the channel named.
        conversation.office_id = conversation.office_id or self.metadata_office
        conversation.outcome = self.outcome()
        return conversation

    def outcome(self) -> str:
        if self.conversation.booking_code:
            return "booked"
        if self.refused or self.submitted_unbooked:
            return "refused"
        if self.handoff:
            return "handoff"
        if self.form_started:
            return "abandoned"
        return "information"


def on_user(reading: Reading, event: TrackerEvent) -> None:
    """The applicant's message: its intent and confidence, the channel and office it came through."""
    conversation = reading.conversation
    message = user_message(event)
    conversation.messages.append(message)
    if message.intent:
        conversation.facets.add(("intent", message.intent, ""))
    if message.confidence is not None and (conversation.min_confidence is None
                                           or message.confidence < conversation.min_confidence):
        conversation.min_confidence = message.confidence
    conversation.fallback |= message.intent == FALLBACK_INTENT
    reading.handoff |= message.intent == HANDOFF_INTENT
    conversation.channel = conversation.channel or _text(event.data.get("input_channel"))
    reading.metadata_office = reading.metadata_office or office_from_metadata(event.data.get("metadata"),
                                                                              reading.offices)


def on_action(reading: Reading, event: TrackerEvent) -> None:
    """An action the bot ran: fallback, handoff, the form, or a confirmed submission (which is
    refused unless a ticket follows)."""
    conversation = reading.conversation
    name = event.name or ""
    if name and name not in ROUTINE_ACTIONS:
        conversation.facets.add(("action", name, ""))
    conversation.fallback |= name == FALLBACK_ACTION
    reading.handoff |= name == HANDOFF_ACTION
    reading.form_started |= name == FORM
    slots = reading.slots
    if name == SUBMIT_ACTION and slots.get("confirmed") is True and not slots.get("registration_blocked"):
        reading.submitted_unbooked = conversation.booking_code is None


def on_active_loop(reading: Reading, event: TrackerEvent) -> None:
    reading.form_started |= event.name == FORM


def on_slot(reading: Reading, event: TrackerEvent) -> None:
    """A slot set: remembered for the submission, a facet (personal slots without their value)."""
    if not event.name:
        return
    value = event.data.get("value")
    if event.name == SESSION_METADATA_SLOT:
        # The channel's metadata (a WhatsApp number among it): it names the office, it is no facet.
        reading.metadata_office = reading.metadata_office or office_from_metadata(value, reading.offices)
        return
    reading.slots[event.name] = value
    reading.refused |= event.name == "registration_blocked" and value is True
    if event.name == "office" and isinstance(value, str) and real_office_id(value) in reading.offices:
        reading.conversation.office_id = value
    if value is not None and event.name != "requested_slot":
        shown = "" if event.name in PERSONAL_SLOTS else _facet_value(value)
        reading.conversation.facets.add(("slot", event.name, shown))


def on_bot(reading: Reading, event: TrackerEvent) -> None:
    """A bot message: a QR ticket in it means the booking was made."""
    data = event.data
    image = (data.get("data") or {}).get("image") if isinstance(data.get("data"), dict) else None
    if isinstance(image, str) and (code := code_in_reference(image)):
        reading.conversation.booking_code = code
        reading.submitted_unbooked = False


# One handler per kind of tracker event; the other kinds (session_started, user_featurization, …)
# change nothing in a summary.
EVENT_HANDLERS: dict[str, Callable[[Reading, TrackerEvent], None]] = {
    "user": on_user,
    "action": on_action,
    "active_loop": on_active_loop,
    "slot": on_slot,
    "bot": on_bot,
}


def user_message(event: TrackerEvent) -> UserMessage:
    data = event.data
    parse = data.get("parse_data") if isinstance(data.get("parse_data"), dict) else {}
    intent = parse.get("intent") if isinstance(parse.get("intent"), dict) else {}
    confidence = intent.get("confidence")
    ranking = [{"name": r.get("name"), "confidence": r.get("confidence")}
               for r in (parse.get("intent_ranking") or []) if isinstance(r, dict)][:10]
    entities = [e for e in (parse.get("entities") or []) if isinstance(e, dict)]
    return UserMessage(
        event_id=event.id, at=utc(event.timestamp), text=_text(data.get("text")) or "",
        intent=_text(intent.get("name")),
        confidence=float(confidence) if isinstance(confidence, (int, float)) else None,
        entities=entities, ranking=ranking,
    )


def _facet_value(value: object) -> str:
    text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return text[:FACET_VALUE_LIMIT]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
