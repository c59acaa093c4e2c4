"""Webhook payloads of the WhatsApp Cloud API: signature check and parsing, no I/O.

Meta signs every POST with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``.
The check runs on the raw bytes (re-serialised JSON differs, e.g. in how emoji are escaped) before
anything is parsed.

Who wrote. Since 2026 Meta sends a business-scoped user ID (BSUID, `user_id`) with every message,
beside the phone number (`from`, `contacts[].wa_id`) — or instead of it, for a user who adopted a
username and has not shared their number with us. Each of phone, BSUID and username is optional;
a message needs the phone or the BSUID (`Sender`). System messages about a changed number or BSUID
(`user_changed_number`, `user_changed_user_id`; they carry no contacts array) become
`IdentityChange`s, not conversation turns.

Parsing is per item. A body that is not a WhatsApp notification at all is refused whole
(`MalformedWebhook`); inside one, a message, status or change that cannot be understood is set
aside in `Webhook.rejected` (with a reason, no personal data) and the others are kept: one odd
message must not hold back the rest of a batch, which Meta would otherwise retry for days."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any

from antrean.identity.phone import is_bsuid

SIGNATURE_PREFIX = "sha256="
IMAGE_MIME_TYPES = {"image/jpeg", "image/png", "image/webp"}
# In the metadata of a user message from a tapped button: its title (Rasa gets the id, our payload).
BUTTON_TITLE_KEY = "button_title"
MEDIA_KINDS = {"image", "document"}
NUMBER_CHANGED = "user_changed_number"
USER_ID_CHANGED = "user_changed_user_id"
# Older Graph API versions called the number change "customer_changed_number".
IDENTITY_CHANGES = {NUMBER_CHANGED: NUMBER_CHANGED, "customer_changed_number": NUMBER_CHANGED,
                    USER_ID_CHANGED: USER_ID_CHANGED}
_WA_ID = re.compile(r"\+?([0-9]{5,20})")
USERNAME_MAX = 100


class MalformedWebhook(ValueError):
    pass


@dataclass(frozen=True)
class Sender:
    """A WhatsApp user as one message names them: each identifier optional, phone or BSUID present."""

    phone: str | None = None  # wa_id: E.164 digits without "+"
    user_id: str | None = None  # the BSUID, e.g. "ID.1502576394655843"
    parent_user_id: str | None = None  # "ID.ENT.…", only for linked business portfolios
    username: str | None = None

    def __post_init__(self):
        if not self.phone and not self.user_id:
            raise MalformedWebhook("message has neither a phone number nor a user id")


@dataclass(frozen=True)
class InboundMessage:
    wa_message_id: str
    phone_number_id: str
    sender: Sender
    kind: str
    payload: dict[str, Any]  # the message object exactly as WhatsApp sent it
    wa_timestamp: int | None


@dataclass(frozen=True)
class IdentityChange:
    """A user's number or BSUID changed (a system message): `previous` names them as we knew them,
    `current` as they are now."""

    wa_message_id: str
    phone_number_id: str
    kind: str  # NUMBER_CHANGED or USER_ID_CHANGED
    previous: Sender
    current: Sender
    payload: dict[str, Any]
    wa_timestamp: int | None


@dataclass(frozen=True)
class StatusUpdate:
    wa_outgoing_id: str
    status: str
    wa_timestamp: int | None
    error_code: int | None
    error_title: str | None


@dataclass(frozen=True)
class Rejected:
    """An item set aside: where in the body and why (never its content: it may be personal)."""

    where: str
    reason: str


@dataclass
class Webhook:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    identity_changes: list[IdentityChange] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    ignored: int = 0  # understood and deliberately not kept (other system messages)

    @property
    def understood(self) -> int:
        return len(self.messages) + len(self.statuses) + len(self.identity_changes) + self.ignored


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
    for e, entry in enumerate(_list(document, "entry")):
        try:
            changes = _list(_dict(entry, "entry"), "changes")
        except MalformedWebhook as error:
            webhook.rejected.append(Rejected(f"entry[{e}]", str(error)))
            continue
        for c, change in enumerate(changes):
            where = f"entry[{e}].changes[{c}]"
            try:
                _change(_dict(change, "change"), where, webhook)
            except MalformedWebhook as error:
                webhook.rejected.append(Rejected(where, str(error)))
    return webhook


def _change(change: dict, where: str, webhook: Webhook) -> None:
    if change.get("field", "messages") != "messages":
        webhook.ignored += 1  # account and template notifications are not conversations
        return
    value = _dict(change.get("value"), "change.value")
    phone_number_id = _text(_dict(value.get("metadata"), "value.metadata").get("phone_number_id"),
                            "metadata.phone_number_id")
    contacts = [c for c in value.get("contacts") or [] if isinstance(c, dict)]
    for i, message in enumerate(_items(value, "messages")):
        try:
            _message(_dict(message, "message"), phone_number_id, contacts, webhook)
        except MalformedWebhook as error:
            webhook.rejected.append(Rejected(f"{where}.messages[{i}]", str(error)))
    for i, status in enumerate(_items(value, "statuses")):
        try:
            webhook.statuses.append(_status(_dict(status, "status")))
        except MalformedWebhook as error:
            webhook.rejected.append(Rejected(f"{where}.statuses[{i}]", str(error)))


def _message(message: dict, phone_number_id: str, contacts: list[dict], webhook: Webhook) -> None:
    wa_message_id = _text(message.get("id"), "message.id")
    kind = str(message.get("type") or "unknown")[:20]
    if kind == "system":
        change = _identity_change(message, wa_message_id, phone_number_id)
        if change is None:
            webhook.ignored += 1  # e.g. customer_identity_changed (a new security code): nothing to do
        else:
            webhook.identity_changes.append(change)
        return
    webhook.messages.append(InboundMessage(
        wa_message_id=wa_message_id,
        phone_number_id=phone_number_id,
        sender=_sender(message, contacts),
        kind=kind,
        payload=message,
        wa_timestamp=_timestamp(message.get("timestamp")),
    ))


def _sender(message: dict, contacts: list[dict]) -> Sender:
    """The message's own fields first (`from`, `from_user_id`), then its contact: the one naming
    the same phone or BSUID, or the only one."""
    phone = _phone(message.get("from"), "message.from")
    user_id = _bsuid(message.get("from_user_id"), "message.from_user_id")
    matching = [c for c in contacts if (phone and _phone(c.get("wa_id"), "contact.wa_id") == phone)
                or (user_id and c.get("user_id") == user_id)]
    contact = matching[0] if matching else contacts[0] if len(contacts) == 1 else {}
    profile = contact.get("profile") if isinstance(contact.get("profile"), dict) else {}
    username = profile.get("username")
    return Sender(
        phone=phone or _phone(contact.get("wa_id"), "contact.wa_id"),
        user_id=user_id or _bsuid(contact.get("user_id"), "contact.user_id"),
        parent_user_id=(_bsuid(message.get("from_parent_user_id"), "message.from_parent_user_id")
                        or _bsuid(contact.get("parent_user_id"), "contact.parent_user_id")),
        username=username.strip() if isinstance(username, str) and 0 < len(username.strip()) <= USERNAME_MAX
        else None,
    )


def _identity_change(message: dict, wa_message_id: str, phone_number_id: str) -> IdentityChange | None:
    system = _dict(message.get("system"), "message.system")
    kind = IDENTITY_CHANGES.get(str(system.get("type") or ""))
    if kind is None:
        return None
    new_user_id = _bsuid(system.get("user_id"), "system.user_id")
    new_parent = _bsuid(system.get("parent_user_id"), "system.parent_user_id")
    previous_user_id = _bsuid(system.get("previous_user_id"), "system.previous_user_id")
    from_user_id = _bsuid(message.get("from_user_id"), "message.from_user_id")
    if previous_user_id is None and from_user_id != new_user_id:
        previous_user_id = from_user_id
    previous = Sender(phone=_phone(message.get("from") or system.get("customer"), "message.from"),
                      user_id=previous_user_id,
                      parent_user_id=_bsuid(system.get("previous_parent_user_id"), "system.previous_parent_user_id"))
    if kind == NUMBER_CHANGED:
        new_phone = _phone(system.get("wa_id") or system.get("new_wa_id"), "system.wa_id")
        current = Sender(phone=new_phone, user_id=new_user_id, parent_user_id=new_parent)
    else:
        if new_user_id is None:
            raise MalformedWebhook("user_changed_user_id without the new user id")
        # The number, if we know one, does not change with the BSUID: keep it with the user.
        current = Sender(phone=previous.phone, user_id=new_user_id, parent_user_id=new_parent)
    return IdentityChange(wa_message_id, phone_number_id, kind, previous, current, message,
                          _timestamp(message.get("timestamp")))


def _status(status: dict) -> StatusUpdate:
    # Statuses are matched to our messages by their WhatsApp id, whether the message went to a
    # phone number (`recipient_id`) or a BSUID (`recipient_user_id`): neither is needed here.
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


def _items(value: dict, key: str) -> list:
    items = value.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise MalformedWebhook(f"value.{key} is not a list")
    return items


def _phone(value: Any, what: str) -> str | None:
    """A wa_id, or None when absent; present but not a number is malformed."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    match = _WA_ID.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise MalformedWebhook(f"{what} is not a phone number")
    return match.group(1)


def _bsuid(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not is_bsuid(value.strip()):
        raise MalformedWebhook(f"{what} is not a business-scoped user id")
    return value.strip()


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
