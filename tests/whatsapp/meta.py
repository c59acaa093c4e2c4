"""Webhook bodies shaped like the examples in Meta's WhatsApp Cloud API webhook reference, signed
the way Meta signs them (X-Hub-Signature-256 over the exact bytes sent).

Senders come in Meta's three shapes: the phone number only (`from`, `contacts[].wa_id`: before
2026), phone and business-scoped user ID (`from_user_id`, `contacts[].user_id`), and, for a user
who adopted a username, the BSUID and `contacts[].profile.username` without any phone number
(`by_user`). System messages about a changed number or BSUID carry no contacts array."""

from __future__ import annotations

import itertools
import json

from antrean.whatsapp.payloads import sign

BATAM_NUMBER_ID = "106540352242922"  # config/offices.yml: batam
APP_SECRET = "test-app-secret-0123456789abcdef"
VERIFY_TOKEN = "test-verify-token"
_ids = itertools.count(1)


def wamid() -> str:
    return f"wamid.HBgLNjI4MTIzNDU2Nzg5FQIAEhgUM0E{next(_ids):08d}AA=="


def notification(*changes_values: dict, entries: int = 1) -> dict:
    """One or more entries, each holding change values (messages or statuses)."""
    values = list(changes_values)
    per_entry = max(1, -(-len(values) // entries))
    return {"object": "whatsapp_business_account", "entry": [
        {"id": "102290129340398", "changes": [{"value": value, "field": "messages"}
                                              for value in values[i:i + per_entry]]}
        for i in range(0, len(values), per_entry)]}


def messages_value(*messages: dict, phone_number_id: str = BATAM_NUMBER_ID,
                   usernames: dict[str, str] | None = None) -> dict:
    """One contact per sender, as Meta builds it: profile (name, the username if the user has one),
    wa_id when the number is shared, user_id when the message carries a BSUID. System messages
    have no contact."""
    usernames = usernames or {}
    contacts = []
    for phone, user_id in sorted({(m.get("from"), m.get("from_user_id")) for m in messages if m["type"] != "system"},
                                 key=str):
        profile = {"name": "Pelamar"}
        if user_id in usernames:
            profile["username"] = usernames[user_id]
        contact = {"profile": profile}
        if phone:
            contact["wa_id"] = phone
        if user_id:
            contact["user_id"] = user_id
        contacts.append(contact)
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
             "messages": list(messages)}
    if contacts:
        value["contacts"] = contacts
    return value


def statuses_value(*statuses: dict, phone_number_id: str = BATAM_NUMBER_ID) -> dict:
    return {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "statuses": list(statuses)}


def _message(sender: str, kind: str, body: dict, message_id: str | None = None) -> dict:
    return {"from": sender, "id": message_id or wamid(), "timestamp": "1764550800", "type": kind, kind: body}


def text(sender: str, body: str, message_id: str | None = None) -> dict:
    return _message(sender, "text", {"body": body}, message_id)


def image(sender: str, media_id: str, sha256: str = "", caption: str | None = None, mime="image/jpeg") -> dict:
    body = {"mime_type": mime, "sha256": sha256, "id": media_id}
    if caption is not None:
        body["caption"] = caption
    return _message(sender, "image", body)


def document(sender: str, media_id: str, mime: str, filename: str = "ktp.pdf") -> dict:
    return _message(sender, "document", {"filename": filename, "mime_type": mime, "sha256": "", "id": media_id})


def button_reply(sender: str, payload: str, title: str) -> dict:
    return _message(sender, "interactive", {"type": "button_reply", "button_reply": {"id": payload, "title": title}})


def list_reply(sender: str, payload: str, title: str) -> dict:
    return _message(sender, "interactive", {"type": "list_reply",
                                            "list_reply": {"id": payload, "title": title, "description": ""}})


def template_button(sender: str, payload: str, text_: str) -> dict:
    return _message(sender, "button", {"payload": payload, "text": text_})


def audio(sender: str) -> dict:
    return _message(sender, "audio", {"mime_type": "audio/ogg; codecs=opus", "sha256": "x", "id": "1234",
                                      "voice": True})


def sticker(sender: str) -> dict:
    return _message(sender, "sticker", {"mime_type": "image/webp", "sha256": "x", "id": "5678", "animated": False})


def location(sender: str) -> dict:
    return _message(sender, "location", {"latitude": 1.1301, "longitude": 104.0529, "name": "Batam Centre"})


def reaction(sender: str, to: str) -> dict:
    return _message(sender, "reaction", {"message_id": to, "emoji": "\U0001f44d"})


def by_user(message: dict, user_id: str, phone: bool = True) -> dict:
    """The message as Meta sends it since 2026: with the sender's BSUID, and without their phone
    number when `phone` is False (a user who adopted a username)."""
    message = {**message, "from_user_id": user_id}
    if not phone:
        del message["from"]
    return message


def user_id_changed(previous_user_id: str, new_user_id: str, phone: str | None = None) -> dict:
    """The system message sent when a user's BSUID changes (no phone number in it unless shared)."""
    message = {"from_user_id": previous_user_id, "id": wamid(), "timestamp": "1764550900", "type": "system",
               "system": {"body": "User Pelamar changed their user ID", "type": "user_changed_user_id",
                          "user_id": new_user_id, "previous_user_id": previous_user_id}}
    if phone:
        message["from"] = phone
    return message


def number_changed(old_phone: str, new_phone: str, previous_user_id: str | None = None,
                   new_user_id: str | None = None) -> dict:
    """The system message sent when a user changes their number (which gives them a new BSUID)."""
    system = {"body": f"User Pelamar changed from {old_phone} to {new_phone}", "wa_id": new_phone,
              "type": "user_changed_number"}
    if new_user_id:
        system.update(user_id=new_user_id, previous_user_id=previous_user_id)
    return {"from": old_phone, "id": wamid(), "timestamp": "1764550900", "type": "system", "system": system}


def status(message_id: str, state: str, recipient: str | None = "6281234567890", error_code: int | None = None,
           recipient_user_id: str | None = None) -> dict:
    """A delivery status: `recipient_id` is the phone number (absent when the message went to a
    BSUID and the number is not shared), `recipient_user_id` the BSUID."""
    value = {"id": message_id, "status": state, "timestamp": "1764550860"}
    if recipient:
        value["recipient_id"] = recipient
    if recipient_user_id:
        value["recipient_user_id"] = recipient_user_id
    if error_code:
        value["errors"] = [{"code": error_code, "title": "Message undeliverable"}]
    return value


def encode(document_: dict) -> bytes:
    # ensure_ascii=False: real bodies carry raw UTF-8 (emoji), which is exactly what must be signed.
    return json.dumps(document_, ensure_ascii=False).encode()


def signed_headers(body: bytes, secret: str = APP_SECRET) -> dict:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)}
