"""The durable inbox and outbox of the WhatsApp channel (SQLAlchemy Core, blocking calls: the async
code runs them in worker threads).

- A webhook's messages and statuses are stored in one transaction; duplicates (retried deliveries)
  are skipped by the unique WhatsApp ids, so storing the same body twice changes nothing. Each new
  message is filed under its sender's key (antrean/whatsapp/identities.py) in that transaction;
  a system message about a changed number or BSUID updates the sender's identity and is kept as an
  already processed row (nothing to answer).
- The worker reads pending messages of one sender in arrival order (`id`), counts an attempt before
  feeding one to Rasa and marks it processed after Rasa has handled it.
- Every reply is numbered within its inbox message (`seq`); a replayed turn finds its earlier
  replies by (inbox id, seq) and does not send them again.
- Several workers (Rasa processes) may share one inbox: a worker answers a sender only while it
  holds that sender's lease (`whatsapp_sender_leases`), taken with one conditional upsert that the
  database arbitrates (a row lock on PostgreSQL, the write lock on SQLite). A crashed worker's
  leases run out after `lease_seconds`.
- Retention: `purge` deletes processed messages, replies and statuses older than N days (they hold
  phone numbers and texts: personal data)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from antrean.runtime.job_leases import claim
from antrean.runtime.settings import MIN_WHATSAPP_RETENTION_DAYS
from antrean.whatsapp import identities
from antrean.whatsapp.payloads import Webhook
from antrean.whatsapp.schema import whatsapp_inbox, whatsapp_outbox, whatsapp_sender_leases, whatsapp_statuses

# Outcomes of an inbox message, recorded with processed_at.
ANSWERED = "answered"  # handed to Rasa
ALREADY_HANDLED = "already_handled"  # Rasa had it before a crash cut the turn short
UNSUPPORTED = "unsupported"  # audio, video, sticker, location, …: asked for text or a photo
NOT_A_PHOTO = "not_a_photo"  # a PDF or other file: asked for a photo
MEDIA_FAILED = "media_failed"  # the photo could not be fetched or verified: asked to send it again
FLOODED = "flooded"  # beyond the per-sender rate: kept, not answered
FAILED = "failed"  # gave up after repeated errors
IDENTITY_CHANGED = "identity_changed"  # a system message: the sender's number or BSUID changed

SENDING, SENT, SEND_FAILED, SANDBOX = "sending", "sent", "failed", "sandbox"

# Meta retries an unacknowledged notification for up to 7 days: a message id deleted sooner could
# come back and be answered again, so retention never goes below this.
MIN_RETENTION_DAYS = MIN_WHATSAPP_RETENTION_DAYS


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class StoredMessage:
    id: int
    wa_message_id: str
    phone_number_id: str
    wa_id: str  # the sender key
    kind: str
    payload: dict[str, Any]
    received_at: datetime
    attempts: int
    phone: str | None = None  # how this message named its sender
    user_id: str | None = None
    username: str | None = None


class Inbox:
    def __init__(self, engine: Engine):
        self.engine = engine
        # Nearly every call here is one statement, atomic by itself. On PostgreSQL it is sent in
        # autocommit mode: no BEGIN before it and no COMMIT or ROLLBACK after it, two round trips
        # fewer each (issue 12 §3: a turn made some twenty such calls). Calls of several statements
        # that must be atomic (store, renew_leases, purge) keep their transaction. SQLite needs no
        # such thing (no round trips; its BEGIN IMMEDIATE orders the writers).
        self.single = (engine.execution_options(isolation_level="AUTOCOMMIT")
                       if engine.dialect.name == "postgresql" else engine)

    # --- webhook side ---------------------------------------------------------------------------

    def store(self, webhook: Webhook, now: datetime | None = None) -> int:
        """Store every message, identity change and status of one delivery; returns how many
        messages were new."""
        now = now or utcnow()
        messages = list(_unique(webhook.messages, lambda m: m.wa_message_id))
        changes = list(_unique(webhook.identity_changes, lambda c: c.wa_message_id))
        statuses = [{"wa_outgoing_id": s.wa_outgoing_id, "status": s.status, "wa_timestamp": s.wa_timestamp,
                     "error_code": s.error_code, "error_title": s.error_title, "received_at": now}
                    for s in _unique(webhook.statuses, lambda s: (s.wa_outgoing_id, s.status))]
        if not messages and not changes and not statuses:
            return 0
        with self.engine.begin() as connection:
            rows = []
            # A retried identity change must not be applied again over a later one; a retried
            # message resolves to the same sender again (and is then skipped by its unique id).
            known = _known_message_ids(connection, [c.wa_message_id for c in changes])
            for change in changes:
                if change.wa_message_id not in known:
                    sender = identities.apply_change(connection, change, now)
                    rows.append(_inbox_row(change, "system", sender, change.current, now, processed=IDENTITY_CHANGED))
            for message in messages:
                sender = identities.resolve(connection, message.sender, now)
                rows.append(_inbox_row(message, message.kind, sender, message.sender, now))
            stored = _insert_ignoring_duplicates(connection, whatsapp_inbox, [r for r in rows if not r["processed_at"]],
                                                 ["wa_message_id"])
            _insert_ignoring_duplicates(connection, whatsapp_inbox, [r for r in rows if r["processed_at"]],
                                        ["wa_message_id"])
            _insert_ignoring_duplicates(connection, whatsapp_statuses, statuses, ["wa_outgoing_id", "status"])
        return stored

    def address_of(self, wa_id: str) -> dict[str, str]:
        """The `to` or `recipient` field of a message to this sender (identities.address)."""
        with self.single.connect() as connection:
            return identities.address(connection, wa_id)

    # --- worker side ----------------------------------------------------------------------------

    def pending_senders(self, limit: int, exclude: Iterable[str] = (), worker_id: str | None = None,
                        now: datetime | None = None) -> list[str]:
        """Senders with unprocessed messages, the one waiting longest first; with `worker_id`,
        without the senders another worker holds a live lease on."""
        exclude = set(exclude)
        first = func.min(whatsapp_inbox.c.id)
        query = (select(whatsapp_inbox.c.wa_id, first).where(whatsapp_inbox.c.processed_at.is_(None))
                 .group_by(whatsapp_inbox.c.wa_id).order_by(first).limit(limit + len(exclude)))
        if worker_id is not None:
            leased_elsewhere = select(whatsapp_sender_leases.c.wa_id).where(
                whatsapp_sender_leases.c.claimed_by != worker_id,
                whatsapp_sender_leases.c.lease_until > (now or utcnow()))
            query = query.where(whatsapp_inbox.c.wa_id.not_in(leased_elsewhere))
        with self.single.connect() as connection:
            senders = [row.wa_id for row in connection.execute(query)]
        return [s for s in senders if s not in exclude][:limit]

    # --- leases (several workers on one inbox) --------------------------------------------------

    def claim_sender(self, wa_id: str, worker_id: str, seconds: float, now: datetime | None = None) -> bool:
        """Take (or extend) the lease on one sender; False if another worker holds a live one.

        One statement: INSERT … ON CONFLICT DO UPDATE … WHERE the lease is ours or has run out. On
        PostgreSQL the conflicting row is locked and the WHERE re-checked after a concurrent claim
        commits; on SQLite the statement runs under the database's single write lock (BEGIN
        IMMEDIATE). Either way exactly one of two racing workers gets a row count of 1."""
        now = now or utcnow()
        with self.single.begin() as connection:
            return claim(connection, whatsapp_sender_leases, {"wa_id": wa_id}, "claimed_by", worker_id,
                         now + timedelta(seconds=seconds), now)

    def renew_leases(self, wa_ids: Iterable[str], worker_id: str, seconds: float,
                     now: datetime | None = None) -> set[str]:
        """Extend this worker's leases; returns the senders whose lease it still holds."""
        wa_ids = list(wa_ids)
        if not wa_ids:
            return set()
        now = now or utcnow()
        table = whatsapp_sender_leases
        with self.engine.begin() as connection:
            connection.execute(update(table).where(table.c.wa_id.in_(wa_ids), table.c.claimed_by == worker_id)
                               .values(lease_until=now + timedelta(seconds=seconds)))
            held = connection.execute(select(table.c.wa_id).where(table.c.wa_id.in_(wa_ids),
                                                                   table.c.claimed_by == worker_id))
            return {row.wa_id for row in held}

    def holds_lease(self, wa_id: str, worker_id: str, now: datetime | None = None) -> bool:
        table = whatsapp_sender_leases
        with self.single.connect() as connection:
            return connection.execute(select(table.c.wa_id).where(
                table.c.wa_id == wa_id, table.c.claimed_by == worker_id,
                table.c.lease_until > (now or utcnow()))).first() is not None

    def release_sender(self, wa_id: str, worker_id: str) -> None:
        table = whatsapp_sender_leases
        with self.single.begin() as connection:
            connection.execute(delete(table).where(table.c.wa_id == wa_id, table.c.claimed_by == worker_id))

    def pending_for(self, wa_id: str, limit: int = 20) -> list[StoredMessage]:
        query = (select(whatsapp_inbox).where(whatsapp_inbox.c.wa_id == wa_id, whatsapp_inbox.c.processed_at.is_(None))
                 .order_by(whatsapp_inbox.c.id).limit(limit))
        with self.single.connect() as connection:
            return [StoredMessage(id=r.id, wa_message_id=r.wa_message_id, phone_number_id=r.phone_number_id,
                                  wa_id=r.wa_id, kind=r.kind, payload=json.loads(r.payload),
                                  received_at=r.received_at, attempts=r.attempts, phone=r.phone,
                                  user_id=r.user_id, username=r.username)
                    for r in connection.execute(query)]

    def count_attempt(self, inbox_id: int) -> None:
        with self.single.begin() as connection:
            connection.execute(update(whatsapp_inbox).where(whatsapp_inbox.c.id == inbox_id)
                               .values(attempts=whatsapp_inbox.c.attempts + 1))

    def finish(self, inbox_id: int, outcome: str, now: datetime | None = None) -> None:
        with self.single.begin() as connection:
            connection.execute(update(whatsapp_inbox).where(whatsapp_inbox.c.id == inbox_id)
                               .values(processed_at=now or utcnow(), outcome=outcome))

    def flood_position(self, message: StoredMessage, window_seconds: int) -> tuple[int, str | None]:
        """How many messages this sender sent within the window up to and including this one, and
        the outcome of the sender's previous message (to send the flood notice only once)."""
        since = message.received_at - timedelta(seconds=window_seconds)
        same_sender = whatsapp_inbox.c.wa_id == message.wa_id
        count = select(func.count()).select_from(whatsapp_inbox).where(
            same_sender, whatsapp_inbox.c.id <= message.id, whatsapp_inbox.c.received_at > since).scalar_subquery()
        previous = select(whatsapp_inbox.c.outcome).where(
            same_sender, whatsapp_inbox.c.id < message.id, whatsapp_inbox.c.received_at > since).order_by(
            whatsapp_inbox.c.id.desc()).limit(1).scalar_subquery()
        with self.single.connect() as connection:  # one statement (one round trip) for both
            count, previous = connection.execute(select(count, previous)).one()
        return count, previous

    # --- outbox ---------------------------------------------------------------------------------

    def claim_reply(self, inbox_id: int | None, seq: int, phone_number_id: str, wa_id: str, kind: str,
                    payload: dict, status: str, choices: list[str] | None = None) -> int | None:
        """Record a reply about to be sent; None if this turn's reply number `seq` exists already
        (the turn is being replayed after a crash and this reply went out, or may have)."""
        row = {"inbox_id": inbox_id, "seq": seq, "phone_number_id": phone_number_id, "wa_id": wa_id, "kind": kind,
               "payload": json.dumps(payload, ensure_ascii=False), "status": status,
               "choices": json.dumps(choices, ensure_ascii=False) if choices else None, "created_at": utcnow(),
               "sent_at": utcnow() if status == SANDBOX else None}
        if self.single is not self.engine:
            # PostgreSQL: one statement; the unique (inbox_id, seq) refuses a reply recorded before.
            # A reply to no inbox message (inbox_id NULL) never conflicts, as below.
            statement = (postgresql.insert(whatsapp_outbox).values(**row)
                         .on_conflict_do_nothing(index_elements=["inbox_id", "seq"]).returning(whatsapp_outbox.c.id))
            with self.single.begin() as connection:
                return connection.execute(statement).scalar_one_or_none()
        with self.engine.begin() as connection:
            if inbox_id is not None:
                exists = connection.execute(select(whatsapp_outbox.c.id).where(
                    whatsapp_outbox.c.inbox_id == inbox_id, whatsapp_outbox.c.seq == seq)).first()
                if exists:
                    return None
            return connection.execute(whatsapp_outbox.insert().values(**row)).inserted_primary_key[0]

    def reply_sent(self, outbox_id: int, wa_outgoing_id: str | None, payload: dict | None = None) -> None:
        values: dict[str, Any] = {"status": SENT, "wa_outgoing_id": wa_outgoing_id, "sent_at": utcnow()}
        if payload is not None:
            values["payload"] = json.dumps(payload, ensure_ascii=False)
        with self.single.begin() as connection:
            connection.execute(update(whatsapp_outbox).where(whatsapp_outbox.c.id == outbox_id).values(**values))

    def reply_failed(self, outbox_id: int, error_code: int | None) -> None:
        with self.single.begin() as connection:
            connection.execute(update(whatsapp_outbox).where(whatsapp_outbox.c.id == outbox_id)
                               .values(status=SEND_FAILED, error_code=error_code))

    def last_menu(self, wa_id: str) -> list[str] | None:
        """The payloads of the numbered menu in our latest message to this sender, if it was one."""
        query = (select(whatsapp_outbox.c.choices).where(whatsapp_outbox.c.wa_id == wa_id)
                 .order_by(whatsapp_outbox.c.id.desc()).limit(1))
        with self.single.connect() as connection:
            choices = connection.execute(query).scalar_one_or_none()
        return json.loads(choices) if choices else None

    def last_offers(self, wa_id: str) -> list[tuple[dict, list[str] | None]]:
        """Our latest reply to this sender that offered choices (buttons, a list, a numbered menu, a
        template), with the other messages of the same turn that did: (payload, menu payloads)."""
        outbox = whatsapp_outbox
        offering = and_(outbox.c.wa_id == wa_id,
                        or_(outbox.c.kind.in_(("interactive", "template")), outbox.c.choices.is_not(None)))
        with self.single.connect() as connection:
            latest = connection.execute(select(outbox.c.id, outbox.c.inbox_id).where(offering)
                                        .order_by(outbox.c.id.desc()).limit(1)).first()
            if latest is None:
                return []
            same_turn = outbox.c.id == latest.id if latest.inbox_id is None else outbox.c.inbox_id == latest.inbox_id
            rows = connection.execute(select(outbox.c.payload, outbox.c.choices).where(offering, same_turn)
                                      .order_by(outbox.c.id)).all()
        return [(json.loads(row.payload), json.loads(row.choices) if row.choices else None) for row in rows]

    def replies_to(self, wa_id: str) -> list[dict]:
        """Everything sent (or recorded in sandbox mode) to one number, oldest first."""
        query = select(whatsapp_outbox).where(whatsapp_outbox.c.wa_id == wa_id).order_by(whatsapp_outbox.c.id)
        with self.single.connect() as connection:
            return [{**row._mapping, "payload": json.loads(row.payload)} for row in connection.execute(query)]

    def statuses_of(self, wa_outgoing_id: str) -> list[str]:
        query = (select(whatsapp_statuses.c.status).where(whatsapp_statuses.c.wa_outgoing_id == wa_outgoing_id)
                 .order_by(whatsapp_statuses.c.id))
        with self.single.connect() as connection:
            return list(connection.execute(query).scalars())

    def counts(self) -> dict[str, int]:
        with self.single.connect() as connection:
            total = connection.execute(select(func.count()).select_from(whatsapp_inbox)).scalar_one()
            pending = connection.execute(select(func.count()).select_from(whatsapp_inbox).where(
                whatsapp_inbox.c.processed_at.is_(None))).scalar_one()
            replies = connection.execute(select(func.count()).select_from(whatsapp_outbox).where(
                and_(whatsapp_outbox.c.status.in_([SENT, SANDBOX])))).scalar_one()
        return {"messages": total, "pending": pending, "replies": replies}


    # --- retention ------------------------------------------------------------------------------

    def purge(self, days: int, now: datetime | None = None, apply: bool = True) -> dict[str, int]:
        """Delete processed messages, their replies and delivery statuses older than `days` days;
        a message not processed yet is kept whatever its age. Returns counts. `apply=False` runs
        the same statements and rolls them back: a dry run's counts are exactly the real ones."""
        if days < MIN_RETENTION_DAYS:
            raise ValueError(f"retention must be at least {MIN_RETENTION_DAYS} days (Meta retries deliveries "
                             "for up to 7 days; a message forgotten sooner would be answered again)")
        cutoff = (now or utcnow()) - timedelta(days=days)
        inbox, outbox = whatsapp_inbox, whatsapp_outbox
        with self.engine.connect() as connection, connection.begin() as transaction:
            # Replies first: a reply is kept as long as the message it answered is (crash replay).
            replies = connection.execute(delete(outbox).where(
                outbox.c.created_at < cutoff, or_(outbox.c.inbox_id.is_(None), outbox.c.inbox_id.in_(
                    select(inbox.c.id).where(inbox.c.processed_at < cutoff))))).rowcount
            messages = connection.execute(delete(inbox).where(inbox.c.processed_at < cutoff)).rowcount
            statuses = connection.execute(delete(whatsapp_statuses).where(
                whatsapp_statuses.c.received_at < cutoff)).rowcount
            connection.execute(delete(whatsapp_sender_leases).where(whatsapp_sender_leases.c.lease_until < cutoff))
            if not apply:
                transaction.rollback()
        return {"messages": messages, "replies": replies, "statuses": statuses}


def _inbox_row(item, kind: str, sender: str, named, now: datetime, processed: str | None = None) -> dict:
    return {"wa_message_id": item.wa_message_id, "phone_number_id": item.phone_number_id, "wa_id": sender,
            "phone": named.phone, "user_id": named.user_id, "username": named.username, "kind": kind,
            "payload": json.dumps(item.payload, ensure_ascii=False), "wa_timestamp": item.wa_timestamp,
            "received_at": now, "attempts": 0, "processed_at": now if processed else None, "outcome": processed}


def _known_message_ids(connection: Connection, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    return set(connection.execute(select(whatsapp_inbox.c.wa_message_id)
                                  .where(whatsapp_inbox.c.wa_message_id.in_(ids))).scalars())


def _unique(items, key):
    seen = set()
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            yield item


def _insert_ignoring_duplicates(connection: Connection, table, rows: list[dict], keys: list[str]) -> int:
    if not rows:
        return 0
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing(index_elements=keys)
    return sum(connection.execute(statement, row).rowcount for row in rows)
