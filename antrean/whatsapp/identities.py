"""Who a WhatsApp sender is, whatever WhatsApp calls them today: one stable sender key per user.

Since 2026 WhatsApp names a user by a business-scoped user ID (BSUID) beside the phone number, and
by the BSUID alone (with a username) once they adopt a username and keep their number to
themselves. The conversation (Rasa's sender id), the worker's lease, flood control, the per-number
booking limit, reminders and handoffs all need one key that does not change when the naming does;
`whatsapp_identities` maps phone ↔ BSUID to it:

- a user first seen with a BSUID is filed under the BSUID;
- a user known by their number before BSUIDs existed keeps the number as key: the first message
  carrying number and BSUID links the BSUID to them, and later messages with the BSUID alone (after
  they adopt a username) still continue their conversation and count against their own bookings;
- the same number arriving with a *different* BSUID is someone else (WhatsApp gives a new BSUID
  with a new number, so a recycled number means a new person): a new sender, and the number moves
  to them;
- the system messages about a changed number or BSUID move the new identifiers onto the same
  sender, so the conversation goes on.

Everything runs inside the inbox's store transaction (the webhook's), so a message is filed under
its sender in the same commit that stores it. Racing receivers are settled by the unique keys:
an insert that lost a race is ignored and the winner's row read back.

Replies are addressed as Meta requires (`address`): to the phone number when we know one (`to`,
Meta's recommendation, so that numbers keep appearing in webhooks), otherwise to the BSUID
(`recipient`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from antrean.identity.phone import is_bsuid, mask_msisdn
from antrean.protection.masking import mask_sender
from antrean.whatsapp.payloads import IdentityChange, Sender
from antrean.whatsapp.schema import whatsapp_identities

logger = logging.getLogger(__name__)

table = whatsapp_identities


@dataclass(frozen=True)
class Identity:
    sender: str
    phone: str | None
    user_id: str | None
    parent_user_id: str | None
    username: str | None

    @property
    def label(self) -> str:
        """What staff see: the username the user chose to show, else the masked number, else the
        masked BSUID."""
        if self.username:
            return self.username if self.username.startswith("@") else f"@{self.username}"
        if self.phone:
            return mask_msisdn(self.phone)
        return mask_sender(self.user_id or self.sender)

    @property
    def revealed(self) -> str:
        """Everything WhatsApp names them by, for staff allowed to see personal data."""
        username = f"@{self.username.removeprefix('@')}" if self.username else None
        return " · ".join(value for value in (username, self.phone, self.user_id) if value)


def _identity(row) -> Identity:
    return Identity(row.sender, row.phone, row.user_id, row.parent_user_id, row.username)


def _row(connection: Connection, column, value) -> Identity | None:
    if not value:
        return None
    row = connection.execute(select(table).where(column == value)).first()
    return _identity(row) if row else None


def resolve(connection: Connection, sender: Sender, now: datetime) -> str:
    """The sender key for a message naming its sender this way; records what is new about them."""
    # One query for both identifiers: this runs in the webhook, once per message.
    named = [column == value for column, value in ((table.c.user_id, sender.user_id), (table.c.phone, sender.phone))
             if value]
    rows = [_identity(row) for row in connection.execute(select(table).where(or_(*named)))]
    by_user_id = next((r for r in rows if sender.user_id and r.user_id == sender.user_id), None)
    by_phone = next((r for r in rows if sender.phone and r.phone == sender.phone), None)
    if by_user_id is not None:
        found = by_user_id
    elif by_phone is not None and (by_phone.user_id is None or sender.user_id is None):
        found = by_phone  # known by number (before BSUIDs, or this message has none): the same user
    else:
        return _create(connection, sender, now, phone_taken=by_phone is not None)
    _update(connection, found, sender, now)
    return found.sender


def _create(connection: Connection, sender: Sender, now: datetime, phone_taken: bool) -> str:
    if phone_taken:
        _release_phone(connection, sender.phone, now)  # a recycled number: it is someone else's now
    key = sender.user_id or sender.phone
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    inserted = connection.execute(dialect.insert(table).values(
        sender=key, phone=sender.phone, user_id=sender.user_id, parent_user_id=sender.parent_user_id,
        username=sender.username, first_seen=now, updated_at=now).on_conflict_do_nothing()).rowcount
    if inserted:
        return key
    # Lost a race with another receiver storing the same user (or, for a number only, the key is an
    # earlier user's whose number changed): the row that is there decides.
    winner = _row(connection, table.c.user_id, sender.user_id) or _row(connection, table.c.sender, key)
    return winner.sender if winner is not None else key


def _update(connection: Connection, found: Identity, sender: Sender, now: datetime) -> None:
    changes = {}
    if sender.phone and sender.phone != found.phone:
        _release_phone(connection, sender.phone, now)
        changes["phone"] = sender.phone
    if sender.user_id and sender.user_id != found.user_id:
        changes["user_id"] = sender.user_id
    if sender.parent_user_id and sender.parent_user_id != found.parent_user_id:
        changes["parent_user_id"] = sender.parent_user_id
    if sender.username and sender.username != found.username:
        changes["username"] = sender.username
    if changes:
        connection.execute(update(table).where(table.c.sender == found.sender).values(**changes, updated_at=now))


def _release_phone(connection: Connection, phone: str, now: datetime) -> None:
    connection.execute(update(table).where(table.c.phone == phone).values(phone=None, updated_at=now))


def apply_change(connection: Connection, change: IdentityChange, now: datetime) -> str:
    """A system message: the user named by `change.previous` is now named by `change.current`.
    Returns their sender key (a new one when we had never heard of them)."""
    before = _row(connection, table.c.user_id, change.previous.user_id) or _row(
        connection, table.c.phone, change.previous.phone)
    if before is None:
        return resolve(connection, change.current, now)
    taken = _row(connection, table.c.user_id, change.current.user_id)
    if taken is not None and taken.sender != before.sender:
        # The new BSUID wrote to us before the notice arrived and got a sender of its own: merging two
        # conversations is for a person to decide, so both stay as they are.
        logger.warning("WhatsApp %s for a BSUID already known as another sender: left as it is", change.kind)
        return before.sender
    values = {"updated_at": now, "user_id": change.current.user_id or before.user_id,
              "parent_user_id": change.current.parent_user_id or before.parent_user_id}
    if change.current.phone and change.current.phone != before.phone:
        _release_phone(connection, change.current.phone, now)
        values["phone"] = change.current.phone
    connection.execute(update(table).where(table.c.sender == before.sender).values(**values))
    return before.sender


# --- reading --------------------------------------------------------------------------------------

def identity_of(connection: Connection, sender: str) -> Identity | None:
    return _row(connection, table.c.sender, sender)


def find(engine: Engine, sender: str) -> Identity | None:
    with engine.connect() as connection:
        return identity_of(connection, sender)


def address(connection: Connection, sender: str) -> dict[str, str]:
    """The recipient fields of a message to this sender: `to` (the phone number) or, for a user
    we know no number of, `recipient` (the BSUID). Meta takes `to` when both are present."""
    found = identity_of(connection, sender)
    if found is not None and found.phone:
        return {"to": found.phone}
    if found is not None and found.user_id:
        return {"recipient": found.user_id}
    # Not (yet) in the table, e.g. a row written before identities existed: the key says what it is.
    return {"recipient": sender} if is_bsuid(sender) else {"to": sender}


def labels(engine: Engine, senders: list[str]) -> dict[str, str]:
    """What the console shows for each sender: the username, the masked number or the masked BSUID
    (senders that never wrote over WhatsApp: their masked id)."""
    with engine.connect() as connection:
        return labels_in(connection, senders)


def labels_in(connection: Connection, senders) -> dict[str, str]:
    senders = sorted({s for s in senders if s})
    found: dict[str, str] = {}
    for start in range(0, len(senders), 500):
        chunk = senders[start:start + 500]
        for row in connection.execute(select(table).where(table.c.sender.in_(chunk))):
            found[row.sender] = _identity(row).label
    return {s: found.get(s) or mask_sender(s) for s in senders}


def senders_named(connection: Connection, identifier: str) -> set[str]:
    """The sender keys a phone number (wa_id form), BSUID or username names: for erasure and
    export, where staff type whatever the applicant told them."""
    identifier = identifier.strip()
    username = identifier.removeprefix("@")
    rows = connection.execute(select(table.c.sender).where(or_(
        table.c.sender == identifier, table.c.phone == identifier, table.c.user_id == identifier,
        table.c.parent_user_id == identifier, table.c.username == username,
        table.c.username == f"@{username}"))).scalars()
    return set(rows)
