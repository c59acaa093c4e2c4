"""What the console's simulator and staff replies need from the WhatsApp channel, outside the
Rasa process: simulator numbers, the simulator's media store, and sending one staff text.

Simulator numbers (antrean.whatsapp.simulated): a staff member chatting with the assistant in the
console appears to it as a WhatsApp sender 6280000…; replies to them are only recorded.

Simulator media. Meta keeps a received photo until the worker downloads it; in the simulator the
console keeps the upload in `simulator_media` and the worker takes it from there."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from antrean.console.schema import simulator_media
from antrean.media.ticket import code_in_reference
from antrean.runtime.settings import Settings, WhatsAppSettings, resolve
from antrean.whatsapp.graph import GraphClient, GraphError
from antrean.whatsapp.inbox import SANDBOX, SENDING, Inbox, utcnow
from antrean.whatsapp.outbound import offered_choices, text_messages
from antrean.whatsapp.payloads import parse_webhook, shown_text
from antrean.whatsapp.schema import whatsapp_inbox, whatsapp_outbox
from antrean.whatsapp.simulated import SIMULATOR_MEDIA_PREFIX, SIMULATOR_PREFIX, is_simulator_number

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)
OUTSIDE_WINDOW_CODE = 131047  # Meta: more than 24 hours since the customer's last message
MEDIA_KEPT = timedelta(hours=1)


def simulator_number(staff_id: int, conversation: int) -> str:
    """13 digits, like an Indonesian mobile number: 6280000 + staff (3) + conversation (3)."""
    return f"{SIMULATOR_PREFIX}{staff_id % 1000:03d}{conversation % 1000:03d}"


class SimulatorMedia:
    def __init__(self, engine: Engine):
        self.engine = engine

    def put(self, data: bytes, mime_type: str, now: datetime | None = None) -> tuple[str, str]:
        """Keeps an upload; returns its media id and SHA-256 (hex), as Meta's webhook gives them."""
        now = now or utcnow()
        media_id = SIMULATOR_MEDIA_PREFIX + secrets.token_hex(16)
        with self.engine.begin() as connection:
            # Uploads nobody fetched (the assistant was down) are not kept beyond an hour.
            connection.execute(delete(simulator_media).where(simulator_media.c.created_at < now - MEDIA_KEPT))
            connection.execute(simulator_media.insert().values(media_id=media_id, mime_type=mime_type[:40],
                                                               data=data, created_at=now))
        return media_id, hashlib.sha256(data).hexdigest()

    def take(self, media_id: str) -> bytes | None:
        """The upload's bytes, removed from the table (the media store keeps what passes its check)."""
        with self.engine.begin() as connection:
            data = connection.execute(select(simulator_media.c.data).where(
                simulator_media.c.media_id == media_id)).scalar_one_or_none()
            connection.execute(delete(simulator_media).where(simulator_media.c.media_id == media_id))
        return bytes(data) if data is not None else None


def outbound_settings(environ: Settings | Mapping[str, str]) -> WhatsAppSettings:
    """What sending needs (the console never receives webhooks, so it needs no verify token or app
    secret); without ANTREAN_WA_ACCESS_TOKEN this is sandbox mode, as in the channel."""
    return resolve(environ).whatsapp


class SendFailed(RuntimeError):
    def __init__(self, code: int | None):
        super().__init__(f"WhatsApp refused the message (error code {code})")
        self.code = code


async def send_staff_text(inbox: Inbox, settings: WhatsAppSettings, phone_number_id: str, wa_id: str,
                          text: str) -> tuple[str, int]:
    """Sends a staff member's free text (recorded only in sandbox mode or to a simulator number),
    through the outbox like every assistant reply. Returns (outbox status, id of the last piece);
    raises SendFailed when the Graph API refuses it."""
    import asyncio

    sandbox = settings.sandbox or is_simulator_number(wa_id)
    graph = None if sandbox else GraphClient(settings)
    status, outbox_id = SANDBOX, 0
    try:
        for seq, payload in enumerate(text_messages(text), start=1):
            outbox_id = await asyncio.to_thread(inbox.claim_reply, None, seq, phone_number_id, wa_id,
                                                payload["type"], payload, SANDBOX if sandbox else SENDING)
            if graph is None:
                continue
            try:
                address = await asyncio.to_thread(inbox.address_of, wa_id)
                wamid = await graph.send_message(phone_number_id, {**address, **payload})
            except GraphError as error:
                await asyncio.to_thread(inbox.reply_failed, outbox_id, error.code)
                raise SendFailed(error.code) from error
            await asyncio.to_thread(inbox.reply_sent, outbox_id, wamid)
            status = "sent"
    finally:
        if graph is not None:
            await graph.aclose()
    return status, outbox_id


# --- the console's simulator ------------------------------------------------------------------------

def simulated_message(phone_number_id: str, wa_id: str, kind: str, body: dict) -> bytes:
    """A webhook body shaped like Meta's for one message of a simulator number. It goes through the
    same parser and inbox as a real delivery, so the worker cannot tell the difference."""
    message = {"from": wa_id, "id": f"wamid.sim.{secrets.token_hex(12)}", "timestamp": str(int(time.time())),
               "type": kind, kind: body}
    document = {"object": "whatsapp_business_account", "entry": [{"id": "simulator", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "simulator", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Simulator"}, "wa_id": wa_id}],
            "messages": [message]}}]}]}
    return json.dumps(document, ensure_ascii=False).encode()


def store_simulated(inbox: Inbox, body: bytes) -> int:
    return inbox.store(parse_webhook(body))


def simulator_log(engine: Engine, wa_id: str, limit: int = 80) -> tuple[list[dict], bool]:
    """The simulator's chat, oldest first, and whether the assistant is still to answer the last
    message. Items: {"at", "who": applicant|assistant, "text", "choices": [(title, payload)],
    "ticket": booking code or None, "photo": bool}."""
    with engine.connect() as connection:
        inbound = connection.execute(
            select(whatsapp_inbox).where(whatsapp_inbox.c.wa_id == wa_id)
            .order_by(whatsapp_inbox.c.id.desc()).limit(limit)).all()
        outbound = connection.execute(
            select(whatsapp_outbox).where(whatsapp_outbox.c.wa_id == wa_id)
            .order_by(whatsapp_outbox.c.id.desc()).limit(limit)).all()
    items = []
    for row in inbound:
        payload = json.loads(row.payload)
        items.append({"at": row.received_at, "order": (row.id, 0, 0), "who": "applicant",
                      "text": _inbound_text(row.kind, payload), "choices": [], "ticket": None,
                      "photo": row.kind == "image"})
    for row in outbound:
        payload = json.loads(row.payload)
        text, choices, ticket = _outbound_parts(payload)
        # A reply belongs right after the message it answers, whatever the clocks say.
        order = (row.inbox_id, 1, row.seq) if row.inbox_id is not None else (10**12, 1, row.id)
        items.append({"at": row.created_at, "order": order, "who": "assistant", "text": text, "choices": choices,
                      "ticket": ticket, "photo": False})
    items.sort(key=lambda item: item["order"])
    waiting = bool(inbound) and inbound[0].processed_at is None
    return items[-limit:], waiting


def _inbound_text(kind: str, payload: dict) -> str:
    if kind in {"text", "interactive", "button", "image"}:
        return shown_text(kind, payload)
    return f"[{kind}]"


def _outbound_parts(payload: dict) -> tuple[str, list[tuple[str, str]], str | None]:
    kind = payload.get("type")
    if kind == "text":
        return str(payload.get("text", {}).get("body", "")), [], None
    if kind == "interactive":
        return str(payload.get("interactive", {}).get("body", {}).get("text", "")), offered_choices(payload), None
    if kind == "image":
        image = payload.get("image", {})
        return str(image.get("caption", "")), [], code_in_reference(str(image.get("link", "")))
    return f"[{kind}]", [], None
