"""Conversations handed over to staff. The assistant opens a request; the console answers it:
staff read the transcript and reply through the applicant's channel (WhatsApp, within its 24-hour
window; for the REST channel the reply is recorded here and fetched by the client)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from antrean.booking.store import from_db_time, to_db_time
from antrean.handoff.schema import handoff_replies, handoff_requests
from antrean.whatsapp.payloads import shown_text
from antrean.whatsapp.schema import whatsapp_inbox, whatsapp_outbox


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


def get_request(engine: Engine, request_id: int) -> dict | None:
    with engine.connect() as connection:
        row = connection.execute(select(handoff_requests).where(handoff_requests.c.id == request_id)).first()
    if row is None:
        return None
    return {**row._mapping, "requested_at": from_db_time(row.requested_at),
            "answered_at": from_db_time(row.answered_at)}


@dataclass(frozen=True)
class WhatsAppContact:
    phone_number_id: str  # the office number the applicant wrote to: replies come from it
    last_inbound_at: datetime  # aware UTC; WhatsApp's 24-hour window runs from here


def whatsapp_contact(engine: Engine, sender_id: str) -> WhatsAppContact | None:
    """The WhatsApp side of a conversation, or None when the sender never wrote over WhatsApp
    (the REST channel, whose sender ids are not in the inbox)."""
    # A system message (a changed number or BSUID) is not the user writing: it opens no window.
    query = (select(whatsapp_inbox.c.phone_number_id, whatsapp_inbox.c.received_at)
             .where(whatsapp_inbox.c.wa_id == sender_id, whatsapp_inbox.c.kind != "system")
             .order_by(whatsapp_inbox.c.id.desc()).limit(1))
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return WhatsAppContact(row.phone_number_id, from_db_time(row.received_at)) if row else None


def record_reply(engine: Engine, request_id: int, sender_id: str, channel: str, text: str, status: str,
                 outbox_id: int | None, staff: str, now: datetime) -> int:
    with engine.begin() as connection:
        return connection.execute(handoff_replies.insert().values(
            request_id=request_id, sender_id=sender_id, channel=channel, text=text, status=status,
            outbox_id=outbox_id, sent_by=staff, sent_at=to_db_time(now))).inserted_primary_key[0]


def replies_for(engine: Engine, sender_id: str, after_id: int = 0) -> list[dict]:
    """Staff replies to one sender, oldest first (the REST client asks for those after the last it saw)."""
    query = (select(handoff_replies).where(handoff_replies.c.sender_id == sender_id, handoff_replies.c.id > after_id)
             .order_by(handoff_replies.c.id))
    with engine.connect() as connection:
        return [{"id": r.id, "text": r.text, "sent_at": from_db_time(r.sent_at).isoformat()}
                for r in connection.execute(query)]


def transcript(engine: Engine, sender_id: str, limit: int = 60) -> list[dict]:
    """The latest turns of a WhatsApp conversation, oldest first: what the applicant sent (inbox),
    what the assistant and staff sent (outbox). Each item: {"at", "who": applicant|assistant|staff, "text"}."""
    with engine.connect() as connection:
        inbound = connection.execute(select(whatsapp_inbox.c.received_at, whatsapp_inbox.c.kind,
                                            whatsapp_inbox.c.payload)
                                     .where(whatsapp_inbox.c.wa_id == sender_id, whatsapp_inbox.c.kind != "system")
                                     .order_by(whatsapp_inbox.c.id.desc()).limit(limit)).all()
        outbound = connection.execute(select(whatsapp_outbox.c.id, whatsapp_outbox.c.created_at,
                                             whatsapp_outbox.c.payload)
                                      .where(whatsapp_outbox.c.wa_id == sender_id)
                                      .order_by(whatsapp_outbox.c.id.desc()).limit(limit)).all()
        replies = handoff_replies.c
        staff = connection.execute(select(replies.sent_at, replies.text, replies.outbox_id)
                                   .where(handoff_replies.c.sender_id == sender_id)
                                   .order_by(handoff_replies.c.id.desc()).limit(limit)).all()
    items = [{"at": from_db_time(r.received_at), "who": "applicant",
              "text": inbound_text(r.kind, json.loads(r.payload))} for r in inbound]
    # Staff texts sent through WhatsApp are in the outbox too; they are taken from handoff_replies
    # (which also holds the REST ones), everything else in the outbox is the assistant's.
    staff_outbox = {r.outbox_id for r in staff if r.outbox_id}
    items += [{"at": from_db_time(r.created_at), "who": "assistant", "text": outbound_text(json.loads(r.payload))}
              for r in outbound if r.id not in staff_outbox]
    items += [{"at": from_db_time(r.sent_at), "who": "staff", "text": r.text} for r in staff]
    items.sort(key=lambda item: item["at"])
    return items[-limit:]


def inbound_text(kind: str, payload: dict) -> str:
    shown = shown_text(kind, payload)
    if kind == "text":
        return shown
    if kind in {"interactive", "button"}:
        return f"[pilih] {shown}" if shown else "[pilihan]"
    if kind == "image":
        return "[foto]" + (f" {shown}" if shown else "")
    return f"[{kind}]"


def outbound_text(payload: dict) -> str:
    kind = payload.get("type")
    if kind == "text":
        return str(payload.get("text", {}).get("body", ""))
    if kind == "interactive":
        interactive = payload.get("interactive", {})
        action = interactive.get("action", {})
        titles = [b.get("reply", {}).get("title", "") for b in action.get("buttons", [])]
        titles += [r.get("title", "") for s in action.get("sections", []) for r in s.get("rows", [])]
        return f"{interactive.get('body', {}).get('text', '')} [{' | '.join(titles)}]"
    if kind == "image":
        return "[gambar] " + str(payload.get("image", {}).get("caption", ""))
    return f"[{kind}]"


def latest_conversation_id(engine: Engine, sender_id: str) -> int | None:
    """The sender's latest conversation in the review read model (its full Rasa transcript)."""
    from antrean.review.schema import review_conversations

    query = (select(review_conversations.c.id).where(review_conversations.c.sender_id == sender_id)
             .order_by(review_conversations.c.started_at.desc()).limit(1))
    with engine.connect() as connection:
        return connection.execute(query).scalar_one_or_none()
