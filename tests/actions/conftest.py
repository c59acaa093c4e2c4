"""Action tests: real booking service on a temporary SQLite database, a real media store in a temp
folder, rasa-sdk trackers built with Tracker.from_dict and a CollectingDispatcher."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import wiring
from antrean.booking.service import BookingService
from antrean.media.contract import ingest_photo, photo_metadata
from antrean.media.photo_store import MediaStore
from antrean.runtime.db import make_engine

DOMAIN_SLOTS = ["office", "application_type", "person_name", "birth_date", "address", "id_photo", "nik",
                "guardian_photo", "visit_date", "confirmed"]


@pytest.fixture
def wired(sqlite_url, offices, clock, codes, tmp_path):
    engine = make_engine(sqlite_url)
    service = BookingService(engine, offices, clock, codes)
    store = MediaStore(tmp_path / "media")
    wiring.use(service, store)
    yield service, store
    wiring.use(None, None)
    engine.dispose()


@pytest.fixture
def dispatcher():
    return CollectingDispatcher()


def make_tracker(slots=None, text="", intent="inform", entities=None, metadata=None, sender="6281234567890",
                 active_loop=None, requested_slot=None, events=None) -> Tracker:
    slots = dict(slots or {})
    if requested_slot:
        slots["requested_slot"] = requested_slot
    return Tracker.from_dict({
        "sender_id": sender,
        "slots": slots,
        "latest_message": {"text": text, "intent": {"name": intent, "confidence": 1.0},
                           "entities": entities or [], "metadata": metadata or {}, "message_id": "m1"},
        "events": events or [],
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action_name": "action_listen",
    })


def card_photo(width=1200, height=760) -> bytes:
    """A sharp, evenly lit card-like image that passes the photo checks."""
    image = Image.new("RGB", (width, height), (200, 210, 225))
    draw = ImageDraw.Draw(image)
    for row in range(12):
        y = 60 + row * 55
        for col in range(0, width - 200, 38):
            draw.rectangle([80 + col, y, 80 + col + 22, y + 26], fill=(20, 20, 30))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def stored_photo_metadata(store, owner="6281234567890", data=None) -> dict:
    ref, check = ingest_photo(store, data or card_photo(), owner)
    assert check.ok, check
    return photo_metadata(ref, check)
