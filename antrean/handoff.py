"""Conversations handed over to staff. The assistant opens a request; the console answers it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from antrean.booking.schema import handoff_requests
from antrean.booking.store import from_db_time, to_db_time


def request_handoff(engine: Engine, sender_id: str, office_id: str | None, last_message: str, now: datetime) -> int:
    """Open a request, or return the one still open for this sender (asking twice queues once)."""
    with engine.begin() as connection:
        existing = connection.execute(
            select(handoff_requests.c.id).where(
                handoff_requests.c.sender_id == sender_id, handoff_requests.c.answered_at.is_(None)
            )
        ).scalar()
        if existing is not None:
            return existing
        return connection.execute(
            handoff_requests.insert().values(
                sender_id=sender_id, office_id=office_id, requested_at=to_db_time(now),
                last_message=last_message[:1000],
            )
        ).inserted_primary_key[0]


def open_requests(engine: Engine) -> list[dict]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(handoff_requests).where(handoff_requests.c.answered_at.is_(None))
            .order_by(handoff_requests.c.requested_at)
        )
        return [{**row._mapping, "requested_at": from_db_time(row.requested_at)} for row in rows]


def mark_answered(engine: Engine, request_id: int, staff: str, now: datetime) -> bool:
    with engine.begin() as connection:
        return connection.execute(
            update(handoff_requests)
            .where(handoff_requests.c.id == request_id, handoff_requests.c.answered_at.is_(None))
            .values(answered_at=to_db_time(now), answered_by=staff)
        ).rowcount == 1
