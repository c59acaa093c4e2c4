"""From Rasa's bot messages to WhatsApp messages, and their delivery (or sandbox record).

Formatting is pure (``text_messages``, ``choice_messages``): WhatsApp's limits are 4096 characters
per text, 1024 per interactive body, ≤ 3 reply buttons with titles ≤ 20, lists of ≤ 10 rows with
titles ≤ 24. Beyond that, choices become numbered text and the payloads are remembered so that an
answer such as "2" can be mapped back (see the worker)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel

from antrean.media import ticket
from antrean.runtime.outages import patiently
from antrean.whatsapp.graph import GraphClient, GraphError
from antrean.whatsapp.inbox import SANDBOX, SENDING, Inbox
from antrean.whatsapp.simulated import is_simulator_number

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
BUTTONS_MAX, BUTTON_TITLE_MAX, BUTTON_ID_MAX = 3, 20, 256
ROWS_MAX, ROW_TITLE_MAX, ROW_ID_MAX = 10, 24, 200
LIST_BUTTON_LABEL = "Pilih"
CHOOSE_PROMPT = "Silakan pilih salah satu:"
NUMBERED_HINT = "Balas dengan angka pilihan Anda (misalnya 1)."


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph, line or word where possible."""
    text = text.strip()
    pieces = []
    while len(text) > limit:
        cut = max(text.rfind(sep, 0, limit + 1) for sep in ("\n\n", "\n", " "))
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*pieces, text] if text else pieces


def text_messages(text: str) -> list[dict]:
    return [{"type": "text", "text": {"body": piece, "preview_url": False}} for piece in split_text(text)]


def choice_messages(text: str, buttons: list[dict]) -> list[tuple[dict, list[str] | None]]:
    """The WhatsApp messages for a text with choices, each with the payloads of a numbered menu
    (None when the choices are real buttons or list rows)."""
    choices = [(str(b.get("title") or b.get("payload") or "").strip(), str(b.get("payload") or b.get("title") or ""))
               for b in buttons if isinstance(b, dict)]
    choices = [(title, payload) for title, payload in choices if title and payload]
    if not choices:
        return [(m, None) for m in text_messages(text)]
    lead: list[tuple[dict, list[str] | None]] = []
    body = text.strip()
    if not body or len(body) > INTERACTIVE_BODY_LIMIT:
        lead = [(m, None) for m in text_messages(body)]
        body = CHOOSE_PROMPT
    if len(choices) <= BUTTONS_MAX and all(len(t) <= BUTTON_TITLE_MAX and len(p) <= BUTTON_ID_MAX for t, p in choices):
        interactive = {"type": "button", "body": {"text": body}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": payload, "title": title}} for title, payload in choices]}}
        return [*lead, ({"type": "interactive", "interactive": interactive}, None)]
    if len(choices) <= ROWS_MAX and all(len(t) <= ROW_TITLE_MAX and len(p) <= ROW_ID_MAX for t, p in choices):
        interactive = {"type": "list", "body": {"text": body}, "action": {
            "button": LIST_BUTTON_LABEL,
            "sections": [{"title": "Pilihan",
                          "rows": [{"id": payload, "title": title} for title, payload in choices]}]}}
        return [*lead, ({"type": "interactive", "interactive": interactive}, None)]
    menu = "\n".join(f"{number}. {title}" for number, (title, _) in enumerate(choices, start=1))
    numbered = f"{text.strip()}\n\n{menu}\n\n{NUMBERED_HINT}".strip()
    pieces = text_messages(numbered)
    payloads = [payload for _, payload in choices]
    # The menu travels with the last piece: that is the message the applicant answers.
    return [(m, payloads if i == len(pieces) - 1 else None) for i, m in enumerate(pieces)]


def offered_choices(payload: dict) -> list[tuple[str, str]]:
    """(title, id) of every choice one of our messages offers: its reply buttons or list rows, or
    the quick-reply payloads of a template (their titles are in the approved template, not here)."""
    choices: list[tuple[str, str]] = []
    if payload.get("type") == "interactive":
        action = (payload.get("interactive") or {}).get("action") or {}
        choices += [(str(b["reply"].get("title", "")), str(b["reply"].get("id", "")))
                    for b in action.get("buttons") or [] if isinstance(b.get("reply"), dict)]
        choices += [(str(r.get("title", "")), str(r.get("id", "")))
                    for section in action.get("sections") or [] for r in section.get("rows") or []]
    elif payload.get("type") == "template":
        for component in (payload.get("template") or {}).get("components") or []:
            if component.get("type") == "button":
                choices += [("", str(p.get("payload", ""))) for p in component.get("parameters") or []
                            if p.get("type") == "payload"]
    return [(title, choice_id) for title, choice_id in choices if choice_id]


RECORD_PATIENCE_SECONDS = 60  # a PostgreSQL restart takes seconds


class Deliverer:
    """Sends (or, in sandbox mode, records) replies, each claimed in the outbox first so that a turn
    replayed after a crash does not send it twice."""

    def __init__(self, inbox: Inbox, graph: GraphClient | None, render_ticket: Callable[[str], bytes | None]):
        self.inbox = inbox
        self.graph = graph  # None: sandbox mode
        self.render_ticket = render_ticket

    @property
    def sandbox(self) -> bool:
        return self.graph is None

    def records_only(self, wa_id: str) -> bool:
        # The console's simulator talks to the assistant as 6280000…: never sent, even when live.
        return self.graph is None or is_simulator_number(wa_id)

    async def deliver(self, turn: tuple[int | None, int], phone_number_id: str, wa_id: str, payload: dict,
                      choices: list[str] | None = None) -> None:
        # Everything read from the database comes before the claim: once a reply is claimed, a
        # replayed turn never sends it again, so an outage between the claim and the send would lose it.
        to = None if self.records_only(wa_id) else await self.address(wa_id)
        outbox_id = await self._claim(turn, phone_number_id, wa_id, payload, choices)
        if outbox_id is None or to is None:
            return
        try:
            wamid = await self.graph.send_message(phone_number_id, {**to, **payload})
        except GraphError as error:
            await self._record(self.inbox.reply_failed, outbox_id, error.code)
            return
        await self._record(self.inbox.reply_sent, outbox_id, wamid)

    async def deliver_image(self, turn: tuple[int | None, int], phone_number_id: str, wa_id: str, url: str) -> None:
        # Our own ticket is drawn here and uploaded, never fetched from its URL.
        code = ticket.code_in_reference(url)
        local = code is None or self.records_only(wa_id)
        image: dict[str, Any] = {"link": url} if local else {"caption": ticket.MESSAGE_CAPTION}
        if code is not None:
            image["caption"] = ticket.MESSAGE_CAPTION
        payload = {"type": "image", "image": image}
        # As in `deliver`: the address and the ticket (the booking) are read before the claim.
        to = None if self.records_only(wa_id) else await self.address(wa_id)
        png = await asyncio.to_thread(self.render_ticket, code) if to is not None and code is not None else None
        outbox_id = await self._claim(turn, phone_number_id, wa_id, payload, None)
        if outbox_id is None or to is None:
            return
        try:
            if code is not None:
                if png is None:
                    logger.error("QR ticket for a booking code we sent could not be rendered")
                    await self._record(self.inbox.reply_failed, outbox_id, None)
                    return
                image["id"] = await self.graph.upload_media(phone_number_id, png, "image/png", "tiket.png")
            wamid = await self.graph.send_message(phone_number_id, {**to, **payload})
        except GraphError as error:
            await self._record(self.inbox.reply_failed, outbox_id, error.code)
            return
        await self._record(self.inbox.reply_sent, outbox_id, wamid, payload)

    @staticmethod
    async def _record(write: Callable[..., None], *args) -> None:
        # The reply has gone to Meta (or failed there): what is left is writing that down, and an
        # outage now must not fail the turn. It would be fed again and this reply skipped as claimed,
        # but its row would stay "sending", without the id Meta's delivery statuses refer to.
        await patiently(lambda: asyncio.to_thread(write, *args), "WhatsApp reply's result", RECORD_PATIENCE_SECONDS)

    async def address(self, wa_id: str) -> dict[str, str]:
        """`to` or `recipient`: read per message sent, so a number the user shares (or a BSUID
        change) between two replies is used from then on."""
        return await asyncio.to_thread(self.inbox.address_of, wa_id)

    async def _claim(self, turn, phone_number_id, wa_id, payload, choices) -> int | None:
        inbox_id, seq = turn
        return await asyncio.to_thread(self.inbox.claim_reply, inbox_id, seq, phone_number_id, wa_id,
                                       payload["type"], payload, SANDBOX if self.records_only(wa_id) else SENDING,
                                       choices)


class WhatsAppOutput(OutputChannel):
    """Rasa's output channel for one inbox message: replies are numbered in the order Rasa sends them."""

    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    def __init__(self, deliverer: Deliverer, phone_number_id: str, inbox_id: int | None = None):
        self.deliverer = deliverer
        self.phone_number_id = phone_number_id
        self.inbox_id = inbox_id
        self.seq = 0

    def _next_turn(self) -> tuple[int | None, int]:
        self.seq += 1
        return self.inbox_id, self.seq

    async def _send(self, recipient_id: str, payload: dict, choices: list[str] | None = None) -> None:
        await self.deliverer.deliver(self._next_turn(), self.phone_number_id, recipient_id, payload, choices)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for payload in text_messages(text):
            await self._send(recipient_id, payload)

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict], **kwargs: Any) -> None:
        for payload, choices in choice_messages(text or "", buttons):
            await self._send(recipient_id, payload, choices)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.deliverer.deliver_image(self._next_turn(), self.phone_number_id, recipient_id, image)

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, str(attachment))

    async def send_custom_json(self, recipient_id: str, json_message: dict, **kwargs: Any) -> None:
        # A custom response shaped like a Cloud API message (e.g. an approved template) goes as is.
        if isinstance(json_message, dict) and json_message.get("type") in {"template", "text", "interactive", "image"}:
            await self._send(recipient_id, json_message)
        else:
            logger.warning("custom response without a WhatsApp message type ignored")
