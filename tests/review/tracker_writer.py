"""Writes genuine tracker-store content: Rasa's own SQLTrackerStore saving DialogueStateTrackers
updated with Rasa's event classes, turn by turn, as the Rasa server does after each message."""

from __future__ import annotations

import asyncio
import concurrent.futures
from datetime import datetime

from sqlalchemy.engine import make_url

WHATSAPP = "whatsapp"


def tracker_store(url: str, domain=None):
    from rasa.core.tracker_store import SQLTrackerStore

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SQLTrackerStore(domain, dialect="sqlite", db=parsed.database)
    return SQLTrackerStore(domain, dialect="postgresql", host=parsed.host, port=parsed.port or 5432,
                           db=parsed.database, username=parsed.username, password=parsed.password)


def _run(coroutine) -> None:
    """asyncio.run, also where a loop is already running in this thread (Playwright's sync API)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


class TrackerWriter:
    def __init__(self, url: str, start: datetime):
        from rasa.shared.core.domain import Domain

        self.domain = Domain.load("domain.yml")
        self.store = tracker_store(url, self.domain)
        self.clock = start.timestamp()

    def tick(self, seconds: float = 5.0) -> float:
        self.clock += seconds
        return self.clock

    def at(self, moment: datetime) -> None:
        self.clock = moment.timestamp()

    def save(self, sender_id: str, *events) -> None:
        """Append events (built by the helpers below, timestamps from this writer) and save."""
        from rasa.shared.core.trackers import DialogueStateTracker

        # Like the Rasa server: the tracker as the store gives it back (its latest session), then
        # saved with the new events. A tracker kept in memory instead would also hold what came
        # before the session started (the metadata slot), and Rasa's save would write some events twice.
        found = []
        _run(self._retrieve(sender_id, found))
        tracker = found[0] or DialogueStateTracker(sender_id, self.domain.slots)
        for make in events:
            for event in make(self):
                tracker.update(event)
        _run(self.store.save(tracker))

    async def _retrieve(self, sender_id: str, found: list) -> None:
        found.append(await self.store.retrieve(sender_id))

    def close(self) -> None:
        self.store.engine.dispose()


# Each helper returns a function of the writer, so timestamps follow the writer's clock.

def session_start(metadata: dict | None = None):
    """What Rasa writes when a message starts a session; when the message carries metadata (every
    REST and WhatsApp message does), Rasa sets the `session_started_metadata` slot first
    (MessageProcessor._update_tracker_session; tests/review/test_sync.py checks the order against it)."""
    from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet

    def make(w):
        first = [SlotSet("session_started_metadata", metadata, timestamp=w.tick(0.1))] if metadata else []
        return [*first, ActionExecuted("action_session_start", timestamp=w.tick(0.1)),
                SessionStarted(timestamp=w.tick(0.1)), ActionExecuted("action_listen", timestamp=w.tick(0.1))]

    return make


def user(text: str, intent: str, confidence: float = 0.95, entities=(), runner_up: str | None = "inform",
         metadata: dict | None = None, channel: str = WHATSAPP):
    from rasa.shared.core.events import UserUttered

    def make(w):
        ranking = [{"name": intent, "confidence": confidence}]
        if runner_up:
            ranking.append({"name": runner_up, "confidence": round((1 - confidence) * 0.8, 4)})
        parse_data = {"intent": {"name": intent, "confidence": confidence}, "entities": list(entities),
                      "intent_ranking": ranking, "text": text}
        return [UserUttered(text, intent=parse_data["intent"], entities=list(entities), parse_data=parse_data,
                            timestamp=w.tick(), input_channel=channel, metadata=metadata or {},
                            message_id=f"m{int(w.clock * 1000)}")]

    return make


def bot(text: str | None = None, buttons=None, image: str | None = None):
    from rasa.shared.core.events import BotUttered

    return lambda w: [BotUttered(text, data={"buttons": buttons, "image": image}, timestamp=w.tick(0.5))]


def action(name: str):
    from rasa.shared.core.events import ActionExecuted

    return lambda w: [ActionExecuted(name, timestamp=w.tick(0.2))]


def slot(name: str, value):
    from rasa.shared.core.events import SlotSet

    return lambda w: [SlotSet(name, value, timestamp=w.tick(0.1))]


def loop(name: str | None):
    from rasa.shared.core.events import ActiveLoop

    return lambda w: [ActiveLoop(name, timestamp=w.tick(0.1))]


def listen():
    return action("action_listen")


NIK = "2171035708900001"


def booked_conversation(w: TrackerWriter, sender: str, code: str = "ABCD2345EFGH", office: str = "batam") -> None:
    """A whole registration that ends with a QR ticket, turn by turn."""
    w.save(sender, session_start({"office_id": office}), user("halo", "greet", 0.98, metadata={"office_id": office}),
           action("utter_greet"), bot("Halo! 👋", buttons=[{"title": "Daftar antrean", "payload": "/register"}]),
           listen())
    w.save(sender, user("mau daftar paspor", "register", 0.91), action("registration_form"), loop("registration_form"),
           slot("office", office), slot("requested_slot", "person_name"), bot("Siapa nama lengkap pemohon?"), listen())
    nik_entity = {"entity": "nik", "value": NIK, "start": 9, "end": 25, "extractor": "RegexEntityExtractor"}
    w.save(sender, user(f"NIK saya {NIK}", "inform", 0.42, runner_up="register", entities=[nik_entity]),
           action("registration_form"), slot("nik", NIK), slot("person_name", "Budi Santoso"),
           slot("confirmed", True), loop(None), action("action_submit_registration"),
           bot("Antrean Anda: A-001"), bot(image=f"http://localhost:5005/webhooks/antrean/tiket/{code}.png"), listen())
