"""Retention: personal data is deleted once it is old enough, by one idempotent job.

`python -m antrean retention run [--dry-run]` runs it by hand; the staff console runs it once a day
(`DailyRetention`). No Sanic, no Rasa: the job calls the stores' own purge functions.

What goes, and when (days are settings: antrean.runtime.settings.RetentionSettings):

- **ID photos** (media store): a booking's photo `photo_days` (30) after its appointment day — the
  booking's `photo_ref` is cleared with it; any other photo (an upload that never became a
  booking) `photo_days` after its upload (`MediaStore.purge_older_than`, sparing the photos of
  bookings still inside the period).
- **WhatsApp payloads** (inbox, outbox, statuses): `Inbox.purge(whatsapp_days)` — the same purge
  the WhatsApp worker runs hourly and `python -m antrean whatsapp purge` runs by hand.
- **WhatsApp identities** (a sender's number ↔ BSUID ↔ username): `whatsapp_days` after the sender
  was last heard of, once no message and no booking is filed under them any more (while one is,
  the mapping is what lets the user's next message, however WhatsApp names them, find it).
- **Conversations**: Rasa's tracker-store events older than `conversation_days` (180), and the
  conversation-review read model's conversations that ended before that (their messages, facets,
  tags; NLU-inbox decisions on those messages are handled as an erasure handles them: accepted
  examples stay, anonymised; pending and discarded ones go).
- **Handoff requests** and the staff replies to them, with the conversations (`conversation_days`):
  a request whose asking, answer and every reply are older than that goes, replies first.
- **Bookings**: `booking_days` (365) after the appointment day, a finished booking (served,
  no-show, cancelled) keeps its row — office, day, session, queue number, status, type: the
  statistics — but name, NIK, birth date, address, WhatsApp number, photo and request key are
  overwritten with the placeholders an erasure writes, and `wa:<number>` actors in its history
  are masked. Active bookings are never touched.

Every step selects by age again, so the job is idempotent, and two copies running at once only
find each other's rows gone (deletes and updates with the same conditions; PostgreSQL re-checks
them after a row lock, SQLite runs one writer at a time). The dry run executes the same database
statements and rolls them back, and only counts the photos."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from antrean.booking import store
from antrean.booking.model import ACTIVE_STATUSES
from antrean.booking.schema import booking_events, bookings, sender_quotas
from antrean.handoff.schema import handoff_replies, handoff_requests
from antrean.protection.masking import mask_sender
from antrean.protection.removal import ERASED_NIK, anonymise_bookings, anonymise_nlu_reviews, delete_photo
from antrean.review.schema import review_conversations, review_facets, review_tags, review_user_messages
from antrean.review.tracker import events as tracker_events
from antrean.review.tracker import table_missing
from antrean.runtime import job_leases
from antrean.runtime.periodic import PeriodicJob
from antrean.runtime.settings import RetentionSettings
from antrean.whatsapp.inbox import Inbox
from antrean.whatsapp.schema import whatsapp_identities, whatsapp_inbox

logger = logging.getLogger(__name__)

ACTOR = "retention"
# The daily run's job lease (antrean/runtime/job_leases.py); it is kept (not released) after a
# successful run, which is what makes "once a day" hold across processes and restarts.
LEASE_KEY = "retention:daily"
LEASE_SECONDS = 23 * 3600  # a little under a day, so the hourly check never drifts a day late
CHECK_SECONDS = 3600

COUNTS = ("photos_of_bookings", "photos_other", "whatsapp_messages", "whatsapp_replies", "whatsapp_statuses",
          "tracker_events", "review_conversations", "review_user_messages", "nlu_reviews_anonymised",
          "nlu_reviews_deleted", "handoff_requests", "handoff_replies", "bookings_anonymised", "sender_quotas",
          "whatsapp_identities")


@dataclass
class RetentionReport:
    applied: bool
    settings: RetentionSettings
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        s = self.settings
        lines = [("Removed" if self.applied else "Would remove") + " personal data past its retention period "
                 f"(photos {s.photo_days} d, WhatsApp {s.whatsapp_days} d, conversations "
                 f"{s.conversation_days} d, bookings {s.booking_days} d):"]
        lines += [f"  {name:24} {count}" for name, count in self.counts.items()]
        if not self.applied:
            lines.append("Nothing was changed (dry run).")
        return "\n".join(lines)


def run(engine: Engine, *, now: datetime, settings: RetentionSettings | None = None,
        tracker_engine: Engine | None = None, media=None, apply: bool = True) -> RetentionReport:
    """Apply (or with apply=False count) every retention period. `now` is aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    settings = settings or RetentionSettings()
    report = RetentionReport(apply, settings)
    counts = report.counts
    today = now.astimezone(timezone.utc).date()

    # Photos first, then the rows that name them: a run cut short leaves a reference to a deleted
    # photo (shown as missing), never a photo nobody will delete.
    photo_day = today - timedelta(days=settings.photo_days)
    with engine.connect() as connection:
        old = connection.execute(select(bookings.c.id, bookings.c.photo_ref).where(
            bookings.c.photo_ref.is_not(None), bookings.c.day < photo_day)).all()
        recent = set(connection.execute(select(bookings.c.photo_ref).where(
            bookings.c.photo_ref.is_not(None), bookings.c.day >= photo_day)).scalars())
    if media is not None:
        counts["photos_of_bookings"] = sum(delete_photo(media, row.photo_ref, apply=apply) for row in old)
        # The bookings' old photos were counted just above (a dry run has not removed them).
        counts["photos_other"] = media.purge_older_than(settings.photo_days, now, apply=apply,
                                                        keep=recent | {row.photo_ref for row in old})
    with engine.connect() as connection, connection.begin() as transaction:
        if old:
            connection.execute(update(bookings).where(bookings.c.id.in_([row.id for row in old]))
                               .values(photo_ref=None))
        counts["bookings_anonymised"] = _anonymise_bookings(connection, now, today - timedelta(
            days=settings.booking_days))
        # A number's booking counter at zero says nothing the absence of the row does not (the
        # next booking inserts it again), but it is a phone number: it goes once no booking has it.
        counts["sender_quotas"] = connection.execute(delete(sender_quotas).where(
            sender_quotas.c.active == 0,
            sender_quotas.c.whatsapp_number.not_in(select(bookings.c.whatsapp_number)))).rowcount or 0
        counts["whatsapp_identities"] = _identities(connection, store.to_db_time(
            now - timedelta(days=settings.whatsapp_days)))
        conversations_before = store.to_db_time(now - timedelta(days=settings.conversation_days))
        conversations, messages, anonymised, deleted = _read_model(connection, conversations_before)
        counts.update(review_conversations=conversations, review_user_messages=messages,
                      nlu_reviews_anonymised=anonymised, nlu_reviews_deleted=deleted)
        counts["handoff_requests"], counts["handoff_replies"] = _handoffs(connection, conversations_before)
        if not apply:
            transaction.rollback()

    removed = Inbox(engine).purge(settings.whatsapp_days, now=store.to_db_time(now), apply=apply)
    counts.update(whatsapp_messages=removed["messages"], whatsapp_replies=removed["replies"],
                  whatsapp_statuses=removed["statuses"])
    counts["tracker_events"] = _tracker(tracker_engine, (now - timedelta(days=settings.conversation_days))
                                        .timestamp(), apply)
    return report


def _identities(connection: Connection, before: datetime) -> int:
    """After the bookings' anonymisation (same transaction); messages count as the inbox purge
    below will leave them (unprocessed, or processed since `before`)."""
    table, inbox = whatsapp_identities, whatsapp_inbox
    kept = select(inbox.c.wa_id).where(or_(inbox.c.processed_at.is_(None), inbox.c.processed_at >= before))
    return connection.execute(delete(table).where(
        table.c.updated_at < before, table.c.sender.not_in(kept),
        table.c.sender.not_in(select(bookings.c.whatsapp_number)))).rowcount or 0


def _handoffs(connection: Connection, before) -> tuple[int, int]:
    """Requests asked, answered and replied to before ``before``; their replies go first (not left
    to ON DELETE CASCADE, which SQLite applies only with foreign keys switched on)."""
    recent_reply = select(handoff_replies.c.id).where(handoff_replies.c.request_id == handoff_requests.c.id,
                                                      handoff_replies.c.sent_at >= before).exists()
    old = select(handoff_requests.c.id).where(
        handoff_requests.c.requested_at < before,
        or_(handoff_requests.c.answered_at.is_(None), handoff_requests.c.answered_at < before), ~recent_reply)
    ids = connection.execute(old.with_for_update()).scalars().all()
    if not ids:
        return 0, 0
    replies = connection.execute(delete(handoff_replies).where(handoff_replies.c.request_id.in_(ids))).rowcount
    requests = connection.execute(delete(handoff_requests).where(handoff_requests.c.id.in_(ids))).rowcount
    return requests or 0, replies or 0


def _anonymise_bookings(connection: Connection, now: datetime, before) -> int:
    active = [status.value for status in ACTIVE_STATUSES]
    rows = connection.execute(select(bookings.c.id, bookings.c.whatsapp_number).where(
        bookings.c.day < before, bookings.c.status.not_in(active), bookings.c.nik != ERASED_NIK)
        .with_for_update()).all()
    if not rows:
        return 0
    ids = [row.id for row in rows]
    anonymise_bookings(connection, ids, now)
    for number in {row.whatsapp_number for row in rows if row.whatsapp_number}:
        connection.execute(update(booking_events).where(
            booking_events.c.booking_id.in_(ids), booking_events.c.actor == f"wa:{number}")
            .values(actor="wa:" + mask_sender(number)))
    for booking_id in ids:
        store.record_event(connection, booking_id, now, "anonymised", ACTOR)
    return len(ids)


def _read_model(connection: Connection, before: datetime) -> tuple[int, int, int, int]:
    conversation_ids = connection.execute(select(review_conversations.c.id).where(
        review_conversations.c.ended_at < before)).scalars().all()
    if not conversation_ids:
        return 0, 0, 0, 0
    message_ids = connection.execute(select(review_user_messages.c.id).where(
        review_user_messages.c.conversation_id.in_(conversation_ids))).scalars().all()
    anonymised, deleted = anonymise_nlu_reviews(connection, message_ids, set(), set())
    # Explicit deletes: SQLite does not enforce the ON DELETE CASCADE of the foreign keys.
    for table in (review_facets, review_tags):
        connection.execute(delete(table).where(table.c.conversation_id.in_(conversation_ids)))
    # Counted by what was deleted, not selected: a concurrent run may have taken them meanwhile.
    messages = connection.execute(delete(review_user_messages).where(
        review_user_messages.c.conversation_id.in_(conversation_ids))).rowcount or 0
    conversations = connection.execute(delete(review_conversations).where(
        review_conversations.c.id.in_(conversation_ids))).rowcount or 0
    return conversations, messages, anonymised, deleted


def _tracker(tracker_engine: Engine | None, before: float, apply: bool) -> int:
    if tracker_engine is None:
        return 0
    try:
        with tracker_engine.connect() as connection, connection.begin() as transaction:
            removed = connection.execute(delete(tracker_events).where(tracker_events.c.timestamp < before)).rowcount
            if not apply:
                transaction.rollback()
            return removed or 0
    except (OperationalError, ProgrammingError) as error:
        if table_missing(error):  # Rasa has not written anything yet
            return 0
        raise


class DailyRetention(PeriodicJob):
    """Runs `run` once a day from a long-running process (the staff console). It checks hourly and
    takes the day's lease first: of several processes (or restarts) only one runs per day."""

    def __init__(self, engine: Engine, job: Callable[[], RetentionReport], check_seconds: float = CHECK_SECONDS):
        self.engine = engine
        self.daily_job = job
        super().__init__(self.run_if_due, check_seconds, "retention run")

    def run_if_due(self) -> RetentionReport | None:
        # A fresh holder id per attempt: acquire also extends a lease its holder already has.
        holder = job_leases.new_holder()
        if not job_leases.acquire(self.engine, LEASE_KEY, holder, LEASE_SECONDS):
            return None
        try:
            report = self.daily_job()
        except Exception:
            job_leases.release(self.engine, LEASE_KEY, holder)  # failed: let the next check try again
            raise
        logger.info("retention: removed %d items (%s)", report.total,
                    ", ".join(f"{k} {v}" for k, v in report.counts.items() if v) or "nothing due")
        return report
