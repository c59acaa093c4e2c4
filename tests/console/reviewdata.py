"""Rows of helper A's conversation read model (review_conversations / review_user_messages), written
directly: what antrean.review.sync would derive from Rasa's tracker store."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta

from sqlalchemy import insert

from antrean.review.schema import review_conversations, review_user_messages

_events = itertools.count(1000)


def add_conversation(engine, sender_id: str = "6281234567890", office_id: str | None = "batam",
                     messages: list[tuple] = (), started: datetime | None = None, outcome: str = "information",
                     fallback: bool = False, booking_code: str | None = None) -> list[int]:
    """messages: (text, intent, confidence[, entities]) tuples; returns the message ids."""
    started = started or datetime(2026, 12, 1, 1, 0)
    first = next(_events)
    with engine.begin() as connection:
        conversation = connection.execute(insert(review_conversations).values(
            sender_id=sender_id, sender_masked=sender_id[:4] + "…", sender_reversed=sender_id[::-1],
            first_event_id=first, last_event_id=first + 50,
            started_at=started, ended_at=started + timedelta(minutes=5), office_id=office_id, channel="whatsapp",
            turns=len(messages), outcome=outcome, fallback=fallback, booking_code=booking_code,
            min_confidence=min((m[2] for m in messages), default=None))).inserted_primary_key[0]
        ids = []
        for n, message in enumerate(messages):
            text, intent, confidence = message[:3]
            entities = message[3] if len(message) > 3 else []
            ranking = [{"name": intent, "confidence": confidence}, {"name": "out_of_scope", "confidence": 0.05}]
            ids.append(connection.execute(insert(review_user_messages).values(
                conversation_id=conversation, event_id=next(_events), sender_id=sender_id,
                at=started + timedelta(seconds=30 * n), text=text, intent=intent, confidence=confidence,
                entities=json.dumps(entities), ranking=json.dumps(ranking), office_id=office_id,
                flagged=False)).inserted_primary_key[0])
    return ids
