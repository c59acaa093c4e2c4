"""One conversation as staff read it: its events straight from the tracker store (one indexed
range of one sender), shaped for the page. Personal data is masked unless `revealed`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from antrean.identity import mask_nik
from antrean.media.contract import SEND_PHOTO_TEXT, media_from_metadata
from antrean.protection.masking import KnownValues, mask_text
from antrean.review import tracker
from antrean.review.derive import PERSONAL_SLOTS, SESSION_METADATA_SLOT, user_message, utc
from antrean.review.work import ConversationInfo
from antrean.whatsapp.payloads import BUTTON_TITLE_KEY

HIDDEN_ACTIONS = frozenset({"action_listen", "action_session_start"})  # "sesi dimulai" says it
HIDDEN_SLOTS = frozenset({"requested_slot", SESSION_METADATA_SLOT})  # the metadata holds the WhatsApp number
PERSONAL_ENTITIES = frozenset({"person_name", "birth_date", "address", "nik"})


@dataclass
class Item:
    kind: str  # user | bot | action | slot | loop | session
    at: datetime
    event_id: int
    text: str = ""
    intent: str | None = None
    confidence: float | None = None
    entities: list[dict] = field(default_factory=list)  # {entity, value}
    runners_up: list[dict] = field(default_factory=list)  # {name, confidence}
    buttons: list[dict] = field(default_factory=list)  # {title, payload}
    payload: str | None = None  # a tapped button's payload, when `text` is its title
    image: str | None = None
    photo_ref: str | None = None  # an ID photo the applicant sent (user messages)
    photo_problem: str | None = None
    name: str | None = None  # action, slot or loop name
    value: str | None = None  # slot value as shown
    flagged: bool = False


def transcript(tracker_engine: Engine, conversation: ConversationInfo, revealed: bool) -> list[Item]:
    with tracker_engine.connect() as connection:
        events = tracker.sender_events(connection, conversation.sender_id, conversation.first_event_id,
                                       conversation.last_event_id)
    known = None if revealed else known_values(events)
    items = []
    offered: dict[str, str] = {}  # payload → title of the buttons the assistant showed last
    for event in events:
        item = _item(event, known)
        if item is None:
            continue
        item.flagged = event.id in conversation.flagged
        if item.kind == "bot" and item.buttons:
            offered = {b["payload"]: b["title"] for b in item.buttons if b["payload"]}
        elif item.kind == "user":
            _as_the_applicant_saw_it(item, event, offered)
        items.append(item)
    return items


def _as_the_applicant_saw_it(item: Item, event: tracker.TrackerEvent, offered: dict[str, str]) -> None:
    """A tapped button reaches Rasa as its payload (`/inform{"application_type":"new"}`); the
    applicant saw its title: from the WhatsApp channel's metadata, else from the buttons the
    assistant had just offered (a numbered menu answered with "2", the REST channel). A photo
    without a caption reaches Rasa as `/send_photo`; the applicant saw only the photo."""
    metadata = event.data.get("metadata") if isinstance(event.data.get("metadata"), dict) else {}
    sent = user_message(event).text  # as Rasa got it (item.text may be masked)
    title = metadata.get(BUTTON_TITLE_KEY)
    if not (isinstance(title, str) and title) and sent.startswith("/"):
        title = offered.get(sent)
    if isinstance(title, str) and title:
        item.payload, item.text = item.text, title
    elif sent == SEND_PHOTO_TEXT and (item.photo_ref or item.photo_problem):
        item.text = ""


def known_values(events: list[tracker.TrackerEvent]) -> KnownValues:
    """The personal values this conversation gave anywhere (slots, entities): masked in every text
    of it, also where they come back without a recognisable shape (the confirmation summary)."""
    known = KnownValues()
    for event in events:
        if event.type_name == "slot":
            known.add(event.name, event.data.get("value"))
        elif event.type_name == "user":
            for entity in user_message(event).entities:
                known.add(entity.get("entity"), entity.get("value"))
    return known


def _shown(text: str, known: KnownValues | None, at: datetime, entities: list[dict] = ()) -> str:
    return text if known is None else mask_text(text, known, entities, at.date())


def _item(event: tracker.TrackerEvent, known: KnownValues | None) -> Item | None:
    """One event as shown; `known` is None when the staff member may see everything."""
    revealed = known is None
    data = event.data
    at = utc(event.timestamp)
    if event.type_name == "user":
        message = user_message(event)
        media = media_from_metadata(data.get("metadata"))
        return Item(
            "user", at, event.id, text=_shown(message.text, known, at, message.entities), intent=message.intent,
            confidence=message.confidence,
            entities=[{"entity": e.get("entity"), "value": _entity_value(e, revealed)} for e in message.entities],
            runners_up=message.ranking[1:4],
            photo_ref=media.ref if media else None, photo_problem=media.problem if media else None,
        )
    if event.type_name == "bot":
        extra = data.get("data") if isinstance(data.get("data"), dict) else {}
        buttons = [{"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                   for b in (extra.get("buttons") or []) if isinstance(b, dict)]
        image = extra.get("image") if isinstance(extra.get("image"), str) else None
        return Item("bot", at, event.id, text=_shown(data.get("text") or "", known, at), buttons=buttons,
                    image=image)
    if event.type_name == "action" and event.name not in HIDDEN_ACTIONS:
        return Item("action", at, event.id, name=event.name)
    if event.type_name == "slot" and event.name not in HIDDEN_SLOTS:
        return Item("slot", at, event.id, name=event.name, value=_slot_value(event.name, data.get("value"), revealed))
    if event.type_name == "active_loop":
        return Item("loop", at, event.id, name=data.get("name"))
    if event.type_name == "session_started":
        return Item("session", at, event.id)
    return None


def _entity_value(entity: dict, revealed: bool) -> str:
    value = str(entity.get("value", ""))
    if revealed or entity.get("entity") not in PERSONAL_ENTITIES:
        return value
    return mask_nik(value) if entity.get("entity") == "nik" else "•••"


def _slot_value(name: str, value: object, revealed: bool) -> str:
    if value is None:
        return "—"
    if name in PERSONAL_SLOTS and not revealed:
        if name == "nik":
            return mask_nik(str(value))
        return "(foto)" if name.endswith("photo") else "•••"
    return str(value).lower() if isinstance(value, bool) else str(value)
