"""Webhook payloads of the WhatsApp Cloud API: signature check and parsing, no I/O.

Meta signs every POST with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``.
The check runs on the raw bytes (re-serialised JSON differs, e.g. in how emoji are escaped) before
anything is parsed. Parsing is all-or-nothing: a body whose structure is wrong is refused whole, so
a half-understood delivery never leaves half its messages stored."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

SIGNATURE_PREFIX = "sha256="
IMAGE_MIME_TYPES = {"image/jpeg", "image/png", "image/webp"}
# In the metadata of a user message from a tapped button: its title (Rasa gets the id, our payload).
BUTTON_TITLE_KEY = "button_title"
MEDIA_KINDS = {"image", "document"}


class MalformedWebhook(ValueError):
    pass


@dataclass(frozen=True)
class InboundMessage:
    wa_message_id: str
    phone_number_id: str
    wa_id: str
    kind: str
    payload: dict[str, Any]  # the message object exactly as WhatsApp sent it
    wa_timestamp: int | None


@dataclass(frozen=True)
class StatusUpdate:
    wa_outgoing_id: str
    status: str
    wa_timestamp: int | None
    error_code: int | None
    error_title: str | None


@dataclass
class Webhook:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)


def signature_is_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    given = header[len(SIGNATURE_PREFIX):].strip().lower()
    # compare_digest on ASCII strings: the time taken does not reveal how many characters matched.
    return hmac.compare_digest(expected, given) if given.isascii() else False


def sign(app_secret: str, body: bytes) -> str:
    """The header value Meta would send for this body (tests, the benchmark, the stand-in)."""
    return SIGNATURE_PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def parse_webhook(body: bytes) -> Webhook:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedWebhook("body is not JSON") from error
    if not isinstance(document, dict) or document.get("object") != "whatsapp_business_account":
        raise MalformedWebhook("not a WhatsApp Business Account notification")
    webhook = Webhook()
    for entry in _list(document, "entry"):
        for change in _list(_dict(entry, "entry"), "changes"):
            change = _dict(change, "change")
            if change.get("field", "messages") != "messages":
                continue  # account and template notifications are not conversations
            value = _dict(change.get("value"), "change.value")
            phone_number_id = _text(_dict(value.get("metadata"), "value.metadata").get("phone_number_id"),
                                     "metadata.phone_number_id")
            contacts = [c for c in value.get("contacts") or [] if isinstance(c, dict)]
            fallback_sender = contacts[0].get("wa_id") if len(contacts) == 1 else None
            for message in value.get("messages") or []:
                webhook.messages.append(_message(_dict(message, "message"), phone_number_id, fallback_sender))
            for status in value.get("statuses") or []:
                webhook.statuses.append(_status(_dict(status, "status")))
    return webhook


def _message(message: dict, phone_number_id: str, fallback_sender: Any) -> InboundMessage:
    sender = message.get("from") or fallback_sender
    return InboundMessage(
        wa_message_id=_text(message.get("id"), "message.id"),
        phone_number_id=phone_number_id,
        wa_id=_text(sender, "message.from"),
        kind=str(message.get("type") or "unknown")[:20],
        payload=message,
        wa_timestamp=_timestamp(message.get("timestamp")),
    )


def _status(status: dict) -> StatusUpdate:
    errors = status.get("errors") if isinstance(status.get("errors"), list) else []
    error = errors[0] if errors and isinstance(errors[0], dict) else {}
    code = error.get("code")
    return StatusUpdate(
        wa_outgoing_id=_text(status.get("id"), "status.id"),
        status=_text(status.get("status"), "status.status")[:16],
        wa_timestamp=_timestamp(status.get("timestamp")),
        error_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        error_title=str(error.get("title"))[:200] if error.get("title") else None,
    )


# --- what a stored message means to the worker --------------------------------------------------

@dataclass(frozen=True)
class TextInput:
    text: str
    # A reply button, list row or template button: `text` is the choice's id, which a modified
    # client can set to anything, so the worker takes it only if we offered it (else `title`).
    from_button: bool = False
    title: str | None = None  # what the applicant saw on the button


@dataclass(frozen=True)
class PhotoInput:
    media_id: str
    mime_type: str | None
    sha256: str | None
    caption: str | None


@dataclass(frozen=True)
class NotAPhoto:
    """A document that is not an image (a PDF scan): we ask for a photo instead."""


@dataclass(frozen=True)
class Unsupported:
    """Audio, video, stickers, locations, contacts, reactions and anything unknown."""


def interpret(kind: str, message: dict[str, Any]) -> TextInput | PhotoInput | NotAPhoto | Unsupported:
    body = message.get(kind) if isinstance(message.get(kind), dict) else {}
    if kind == "text" and isinstance(body.get("body"), str) and body["body"].strip():
        return TextInput(body["body"])
    if kind == "interactive":
        reply = body.get(body.get("type")) if isinstance(body.get("type"), str) else None
        if isinstance(reply, dict) and isinstance(reply.get("id"), str) and reply["id"]:
            return TextInput(reply["id"], from_button=True, title=_optional_text(reply.get("title")))
    if kind == "button":  # a quick-reply button of a template message
        payload = body.get("payload") or body.get("text")
        if isinstance(payload, str) and payload:
            return TextInput(payload, from_button=True, title=_optional_text(body.get("text")))
    if kind in MEDIA_KINDS and isinstance(body.get("id"), str) and body["id"]:
        mime = str(body.get("mime_type") or "").split(";")[0].strip().lower() or None
        if kind == "image" or mime in IMAGE_MIME_TYPES:
            caption = body.get("caption") if isinstance(body.get("caption"), str) else None
            return PhotoInput(body["id"], mime, body.get("sha256") if isinstance(body.get("sha256"), str) else None,
                              caption)
        return NotAPhoto()
    return Unsupported()


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def shown_text(kind: str, message: dict[str, Any]) -> str:
    """What the applicant's message shows in their own chat: the text, the title of the button or
    list row they tapped (its id is our payload, which they never see), a photo's caption."""
    body = message.get(kind) if isinstance(message.get(kind), dict) else {}
    if kind == "text":
        value = body.get("body")
    elif kind == "interactive":
        reply = body.get(body.get("type")) if isinstance(body.get("type"), str) else None
        value = reply.get("title") if isinstance(reply, dict) else None
    elif kind == "button":  # a template's quick-reply button: `text` is its label
        value = body.get("text")
    else:
        value = body.get("caption")
    return value if isinstance(value, str) else ""


def _list(document: dict, key: str) -> list:
    value = document.get(key)
    if not isinstance(value, list):
        raise MalformedWebhook(f"{key} is not a list")
    return value


def _dict(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise MalformedWebhook(f"{what} is not an object")
    return value


def _text(value: Any, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 128:
        raise MalformedWebhook(f"{what} is missing or not an id")
    return value.strip()


def _timestamp(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
