"""Erasing (and exporting) one applicant's personal data from every store Antrean keeps.

No Sanic, no Rasa: the CLI (`python -m antrean privacy erase|export`) and the console's admin page
call `erase` / `export` with SQLAlchemy engines and a media store.

An applicant is identified by the WhatsApp number (or another channel's sender id) they wrote from;
a NIK and booking codes add bookings made for them from another number. What erasure does per store:

- **bookings**: the row stays (the office's seat counts, queue numbers and dashboard stay right)
  but name, NIK, birth date, address, WhatsApp number, photo reference and request key are
  overwritten with fixed placeholders (`ERASED_*`). A still active booking is first closed like
  any other — cancelled (seat freed) if its day has not passed, no-show otherwise — and the report
  says which. A booking checked in right now (the applicant is in the office) is refused: finish
  the visit first. No NIK hash is kept: the one-active-booking rule only concerns active bookings,
  and an erased booking never is one.
- **booking_events**: kept (what happened when), `wa:<number>` actors masked; one `erased` event.
- **sender_quotas**, **whatsapp_sender_leases**, **whatsapp_inbox/outbox/statuses**,
  **whatsapp_reminders**, **simulator_media**, **handoff_requests/replies**, the conversation-review
  read model (**review_conversations**, **review_user_messages**, facets, tags): deleted.
- **nlu_reviews** of the applicant's messages: an *accepted* example stays as training data, but its
  text is replaced by the anonymised form `nlu export` writes (placeholders for NIKs, numbers,
  addresses, names, plus this applicant's own name and NIK wherever they appear) and it is detached
  from the deleted message; pending or discarded decisions are deleted.
- **audit_log**: entries stay (accountability), any raw number / NIK / name in them is replaced by
  the masked value, and the erasure itself is recorded (masked number, counts).
- **Rasa's tracker store** (`events` table): the sender's events are deleted.
- **media store**: the booking's photos and every photo owned by the sender are deleted.

Order and failure: the booking database is checked first (a refusal changes nothing), the
sender's WhatsApp worker lease is taken (refused while a worker is answering them), then the
photos, then the tracker store (a separate database), and last the booking database in ONE
transaction. Every step selects by the applicant's identifiers and is idempotent, so an erasure
cut short anywhere is completed by running it again; the audit entry is written only with the last
step. Messages the applicant sends *after* the erasure are new data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from antrean.booking import store
from antrean.booking.model import BookingStatus
from antrean.booking.schema import booking_events, bookings, sender_quotas
from antrean.console.schema import audit_log, simulator_media
from antrean.handoff.schema import handoff_replies, handoff_requests
from antrean.identity import IdentityError, mask_nik, normalise_msisdn
from antrean.protection.masking import mask_sender
from antrean.review.schema import review_conversations, review_facets, review_tags, review_user_messages
from antrean.review.tracker import events as tracker_events
from antrean.training.schema import nlu_reviews
from antrean.whatsapp.inbox import Inbox
from antrean.whatsapp.schema import (
    whatsapp_inbox,
    whatsapp_outbox,
    whatsapp_reminders,
    whatsapp_sender_leases,
    whatsapp_statuses,
)

ERASED_NAME = "[dihapus]"
ERASED_ADDRESS = "[dihapus]"
ERASED_NIK = ""
ERASED_NUMBER = ""
ERASED_BIRTH_DATE = date(1900, 1, 1)

# While erasing, the erasure holds the sender's WhatsApp worker lease (whatsapp_sender_leases), so
# no Rasa worker answers (and writes new data for) this sender half-way through.
LEASE_HOLDER = "privacy-erasure"
LEASE_SECONDS = 120

# Every table of the booking database, decided: erased here, or holding no applicant data. A test
# fails when a new table is added to the schema without a decision here.
TABLES_ERASED = frozenset({
    "bookings", "booking_events", "sender_quotas", "handoff_requests", "handoff_replies", "nlu_reviews",
    "review_conversations", "review_user_messages", "review_facets", "review_tags", "whatsapp_inbox",
    "whatsapp_outbox", "whatsapp_statuses", "whatsapp_reminders", "whatsapp_sender_leases", "simulator_media",
    "audit_log",
})
TABLES_WITHOUT_APPLICANT_DATA = {
    "session_seats": "seat counts per office, day and session",
    "queue_days": "the last queue number per office and day",
    "counter_calls": "which booking was called to which counter, when, by whom",
    "staff_users": "staff accounts",
    "staff_sessions": "staff sessions",
    "review_saved_filters": "staff members' saved filters of the conversation list",
    "review_sync_state": "the read model's watermark",
}

# The stores, in the order the report lists them.
STORES = (
    "bookings", "bookings_closed", "booking_events", "sender_quotas", "photos", "tracker_events",
    "review_conversations", "review_user_messages", "nlu_reviews_anonymised", "nlu_reviews_deleted",
    "handoff_requests", "handoff_replies", "whatsapp_inbox", "whatsapp_outbox", "whatsapp_statuses",
    "whatsapp_reminders", "whatsapp_sender_leases", "simulator_media", "audit_log_scrubbed",
)


class ErasureRefused(Exception):
    """The erasure cannot run now; the message is for staff (Indonesian)."""


@dataclass(frozen=True)
class Subject:
    sender_id: str
    nik: str | None = None
    codes: tuple[str, ...] = ()

    @classmethod
    def from_input(cls, number: str, nik: str | None = None, codes: Iterable[str] = ()) -> Subject:
        """A WhatsApp number in any usual spelling (0812…, +62 812…) becomes its wa_id (62812…);
        anything else is taken as another channel's sender id, as it is."""
        number = (number or "").strip()
        if not number:
            raise ErasureRefused("Nomor WhatsApp / ID pengirim wajib diisi.")
        try:
            sender_id = normalise_msisdn(number)
        except IdentityError:
            sender_id = number
        nik = re.sub(r"\D", "", nik or "") or None
        if nik is not None and len(nik) != 16:
            raise ErasureRefused("NIK harus 16 angka.")
        return cls(sender_id, nik, tuple(c.strip().upper() for c in codes if c and c.strip()))

    @property
    def masked(self) -> str:
        return mask_sender(self.sender_id)


@dataclass
class ErasureReport:
    subject: Subject
    applied: bool
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STORES, 0))
    closed: list[tuple[str, str]] = field(default_factory=list)  # (booking code, "cancelled" | "no_show")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        head = ("Erased" if self.applied else "Would erase") + f" personal data of {self.subject.masked}:"
        lines = [head] + [f"  {name:24} {count}" for name, count in self.counts.items()]
        for code, outcome in self.closed:
            done = "cancelled, seat freed" if outcome == "cancelled" else "marked no-show"
            lines.append(f"  booking {code} was active: {done}" + ("" if self.applied else " (would be)"))
        if not self.applied:
            lines.append("Nothing was changed. Run again with --yes to erase.")
        elif self.total == 0:
            lines.append("Nothing was stored (any more) about this applicant.")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"counts": {k: v for k, v in self.counts.items() if v}, "closed": [list(c) for c in self.closed]}


# --- erasure -------------------------------------------------------------------------------------

def erase(engine: Engine, subject: Subject, *, actor: str, now: datetime, tracker_engine: Engine | None = None,
          media=None, offices: dict | None = None, apply: bool = True, remote_addr: str | None = None) -> ErasureReport:
    """Erase (apply=True) or count what would be erased (apply=False). `now` is aware; `offices`
    (id → Office) decides whether an active booking's day has passed (default: its day in UTC)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    report = ErasureReport(subject, applied=apply)
    # 1. The booking database, rolled back: refusals surface before anything is deleted, and the
    #    counts of a dry run are exactly what the real run would do.
    photo_refs = _in_rollback(engine, lambda c: _booking_database(c, subject, report, actor, now, offices, None))
    if not apply:
        report.counts["photos"] = len(photo_refs | set(_owned_refs(media, subject.sender_id)))
        report.counts["tracker_events"] = _tracker(tracker_engine, subject.sender_id, apply=False)
        return report
    if not Inbox(engine).claim_sender(subject.sender_id, LEASE_HOLDER, LEASE_SECONDS):
        raise ErasureRefused("Asisten sedang menjawab pesan pemohon ini. Coba lagi sebentar lagi (±1 menit).")
    # 2. Photos (files), 3. the tracker store: idempotent, found again by the same identifiers.
    report.counts["photos"] = _delete_photos(media, photo_refs, subject.sender_id)
    report.counts["tracker_events"] = _tracker(tracker_engine, subject.sender_id, apply=True)
    # 4. The booking database, for real, with the audit entry.
    outside = {name: report.counts[name] for name in ("photos", "tracker_events", "whatsapp_sender_leases")}
    counted = ErasureReport(subject, applied=True)
    with engine.begin() as connection:
        _booking_database(connection, subject, counted, actor, now, offices, remote_addr, outside=outside)
    for name in STORES:
        if name not in outside:
            report.counts[name] = counted.counts[name]
    report.closed = counted.closed
    return report


def _in_rollback(engine: Engine, work):
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            return work(connection)
        finally:
            transaction.rollback()


def _booking_database(connection: Connection, subject: Subject, report: ErasureReport, actor: str, now: datetime,
                      offices: dict | None, remote_addr: str | None, outside: dict | None = None) -> set[str]:
    counts = report.counts
    sender = subject.sender_id
    naive_now = store.to_db_time(now)

    # Bookings: the sender's, the NIK's, the named codes'; already erased ones are left alone.
    matches = [bookings.c.whatsapp_number == sender]
    if subject.nik:
        matches.append(bookings.c.nik == subject.nik)
    if subject.codes:
        matches.append(bookings.c.code.in_(subject.codes))
    rows = connection.execute(select(bookings).where(or_(*matches), bookings.c.nik != ERASED_NIK)
                              .order_by(bookings.c.id).with_for_update()).all()
    if any(row.status == BookingStatus.CHECKED_IN.value for row in rows):
        raise ErasureRefused("Pemohon sedang berada di kantor (sudah check-in). Selesaikan kunjungannya "
                             "(dilayani / tidak hadir) dulu, lalu hapus datanya.")
    photo_refs = {row.photo_ref for row in rows if row.photo_ref}
    names = {row.full_name for row in rows}
    niks = {row.nik for row in rows} | ({subject.nik} if subject.nik else set())
    numbers = {row.whatsapp_number for row in rows} | {sender}
    for row in rows:
        if row.status == BookingStatus.BOOKED.value:
            passed = row.day < _today(row.office_id, now, offices)
            outcome = BookingStatus.NO_SHOW if passed else BookingStatus.CANCELLED
            store.update_booking(connection, row.id, BookingStatus.BOOKED, status=outcome.value, finished_at=now,
                                 updated_at=now)
            if outcome is BookingStatus.CANCELLED:
                store.release_seat(connection, row.office_id, row.day, row.session_start)
            store.release_sender_slot(connection, row.whatsapp_number)
            store.record_event(connection, row.id, now, outcome.value, actor, reason="personal data erased")
            report.closed.append((row.code, outcome.value))
            counts["bookings_closed"] += 1
    booking_ids = [row.id for row in rows]
    if booking_ids:
        connection.execute(update(bookings).where(bookings.c.id.in_(booking_ids)).values(
            full_name=ERASED_NAME, birth_date=ERASED_BIRTH_DATE, address=ERASED_ADDRESS, nik=ERASED_NIK,
            whatsapp_number=ERASED_NUMBER, photo_ref=None, request_key=None, updated_at=naive_now))
        for booking_id in booking_ids:
            store.record_event(connection, booking_id, now, "erased", actor)
        counts["bookings"] = len(booking_ids)
        counts["whatsapp_reminders"] += _delete(connection, whatsapp_reminders,
                                                whatsapp_reminders.c.booking_id.in_(booking_ids))
    wa_actors = [f"wa:{n}" for n in numbers if n]
    counts["booking_events"] = _count_update(connection, booking_events, booking_events.c.actor.in_(wa_actors),
                                             actor="wa:" + subject.masked)
    counts["sender_quotas"] = _delete(connection, sender_quotas, sender_quotas.c.whatsapp_number == sender)

    # Handoff.
    request_ids = connection.execute(select(handoff_requests.c.id)
                                     .where(handoff_requests.c.sender_id == sender)).scalars().all()
    counts["handoff_replies"] = _delete(connection, handoff_replies, or_(
        handoff_replies.c.sender_id == sender, handoff_replies.c.request_id.in_(request_ids)))
    counts["handoff_requests"] = _delete(connection, handoff_requests, handoff_requests.c.id.in_(request_ids))

    # WhatsApp.
    inbox_rows = connection.execute(select(whatsapp_inbox.c.id, whatsapp_inbox.c.payload)
                                    .where(whatsapp_inbox.c.wa_id == sender)).all()
    inbox_ids = [row.id for row in inbox_rows]
    media_ids = sorted({m for row in inbox_rows for m in _media_ids(row.payload)})
    outbox_match = or_(whatsapp_outbox.c.wa_id == sender, whatsapp_outbox.c.inbox_id.in_(inbox_ids))
    outbox_rows = connection.execute(select(whatsapp_outbox.c.id, whatsapp_outbox.c.wa_outgoing_id)
                                     .where(outbox_match)).all()
    outgoing = [row.wa_outgoing_id for row in outbox_rows if row.wa_outgoing_id]
    counts["whatsapp_statuses"] = _delete(connection, whatsapp_statuses,
                                          whatsapp_statuses.c.wa_outgoing_id.in_(outgoing))
    counts["whatsapp_reminders"] += _delete(connection, whatsapp_reminders, whatsapp_reminders.c.outbox_id.in_(
        [row.id for row in outbox_rows]))
    counts["whatsapp_outbox"] = _delete(connection, whatsapp_outbox, outbox_match)
    counts["whatsapp_inbox"] = _delete(connection, whatsapp_inbox, whatsapp_inbox.c.id.in_(inbox_ids))
    # The real run holds the lease itself (taken over from a worker whose lease ran out): the dry
    # pass's count says whether there was one.
    counts["whatsapp_sender_leases"] = _delete(connection, whatsapp_sender_leases, and_(
        whatsapp_sender_leases.c.wa_id == sender, whatsapp_sender_leases.c.claimed_by != LEASE_HOLDER))
    _delete(connection, whatsapp_sender_leases, whatsapp_sender_leases.c.wa_id == sender)
    counts["simulator_media"] = _delete(connection, simulator_media, simulator_media.c.media_id.in_(media_ids))

    # The conversation-review read model and the NLU decisions on its messages.
    conversation_ids = connection.execute(select(review_conversations.c.id)
                                          .where(review_conversations.c.sender_id == sender)).scalars().all()
    message_ids = connection.execute(select(review_user_messages.c.id).where(or_(
        review_user_messages.c.sender_id == sender, review_user_messages.c.conversation_id.in_(conversation_ids))
    )).scalars().all()
    anonymised, deleted = _nlu_reviews(connection, message_ids, names, niks)
    counts["nlu_reviews_anonymised"], counts["nlu_reviews_deleted"] = anonymised, deleted
    _delete(connection, review_facets, review_facets.c.conversation_id.in_(conversation_ids))
    _delete(connection, review_tags, review_tags.c.conversation_id.in_(conversation_ids))
    counts["review_user_messages"] = _delete(connection, review_user_messages,
                                             review_user_messages.c.id.in_(message_ids))
    counts["review_conversations"] = _delete(connection, review_conversations,
                                             review_conversations.c.id.in_(conversation_ids))

    # The audit log keeps its entries, masked; then records this erasure.
    counts["audit_log_scrubbed"] = _scrub_audit(connection, names, niks, numbers)
    if outside is not None:
        detail = {**report.as_dict()}
        detail["counts"] = {**detail["counts"], **{k: v for k, v in outside.items() if v}}
        connection.execute(insert(audit_log).values(
            at=naive_now, actor=actor[:40], action="privacy.erased", target=subject.masked[:100], office_id=None,
            detail=json.dumps(detail, ensure_ascii=False), remote_addr=remote_addr))
    return photo_refs


def _today(office_id: str, now: datetime, offices: dict | None) -> date:
    office = (offices or {}).get(office_id)
    zone = getattr(office, "zone", None) or timezone.utc
    return now.astimezone(zone).date()


def _delete(connection: Connection, table, condition) -> int:
    return connection.execute(delete(table).where(condition)).rowcount or 0


def _count_update(connection: Connection, table, condition, **values) -> int:
    return connection.execute(update(table).where(condition).values(**values)).rowcount or 0


def _media_ids(payload: str) -> list[str]:
    try:
        message = json.loads(payload)
    except ValueError:
        return []
    found = []
    for kind in ("image", "document", "sticker", "audio", "video"):
        body = message.get(kind) if isinstance(message, dict) else None
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            found.append(body["id"])
    return found


def _nlu_reviews(connection: Connection, message_ids: list[int], names: set[str], niks: set[str]) -> tuple[int, int]:
    if not message_ids:
        return 0, 0
    from antrean.protection.scrubbing import Placeholders, Span, scrub
    from antrean.training.data import fingerprint
    from antrean.training.nlu_inbox import ACCEPTED

    rows = connection.execute(select(nlu_reviews).where(nlu_reviews.c.message_id.in_(message_ids))).all()
    anonymised = deleted = 0
    for row in rows:
        if row.status != ACCEPTED or not row.text:
            deleted += _delete(connection, nlu_reviews, nlu_reviews.c.id == row.id)
            continue
        try:
            entities = json.loads(row.entities or "[]")
        except ValueError:
            entities = []
        placeholders = Placeholders()
        # The applicant's own name and NIK, wherever they are, count as personal entities too.
        own = [Span(m.start(), m.end(), "person_name") for name in names if name and name != ERASED_NAME
               for m in re.finditer(re.escape(name), row.text, re.IGNORECASE)]
        own += [Span(m.start(), m.end(), "nik") for nik in niks if nik for m in re.finditer(re.escape(nik), row.text)]
        entities = [e for e in entities if isinstance(e, dict) and {"start", "end", "entity"} <= e.keys()]
        spans = [Span(int(e["start"]), int(e["end"]), str(e["entity"])) for e in entities]
        spans_all = spans + [s for s in own if not any(s.start < o.end and o.start < s.end for o in spans)]
        clean, moved = scrub(row.text, spans_all, placeholders)
        kept = moved[:len(spans)]
        new_entities = [{**e, "start": s.start, "end": s.end, "value": clean[s.start:s.end]}
                        for e, s in zip(entities, kept, strict=True)]
        connection.execute(update(nlu_reviews).where(nlu_reviews.c.id == row.id).values(
            # Detached from the deleted message: a negative id can never be a read-model row.
            message_id=-row.id, text=clean, normalised=fingerprint(clean),
            entities=json.dumps(new_entities, ensure_ascii=False)))
        anonymised += 1
    return anonymised, deleted


def _scrub_audit(connection: Connection, names: set[str], niks: set[str], numbers: set[str]) -> int:
    replacements = [(n, mask_nik(n)) for n in niks if n]
    replacements += [(n, mask_sender(n)) for n in numbers if n]
    replacements += [(n, ERASED_NAME) for n in names if n and n != ERASED_NAME]
    if not replacements:
        return 0
    conditions = []
    for value, _ in replacements:
        conditions += [audit_log.c.target.contains(value, autoescape=True),
                       audit_log.c.detail.contains(value, autoescape=True)]
    scrubbed = 0
    for row in connection.execute(select(audit_log.c.id, audit_log.c.target, audit_log.c.detail)
                                  .where(or_(*conditions))).all():
        target, detail = row.target, row.detail
        for value, masked in replacements:
            target = target.replace(value, masked) if target else target
            detail = detail.replace(value, masked) if detail else detail
        if (target, detail) != (row.target, row.detail):
            connection.execute(update(audit_log).where(audit_log.c.id == row.id).values(target=target, detail=detail))
            scrubbed += 1
    return scrubbed


def _missing_table(error: Exception) -> bool:
    text = str(error).lower()
    return "no such table" in text or "does not exist" in text


def _tracker(tracker_engine: Engine | None, sender_id: str, apply: bool) -> int:
    if tracker_engine is None:
        return 0
    try:
        with tracker_engine.begin() as connection:
            if apply:
                return connection.execute(delete(tracker_events).where(
                    tracker_events.c.sender_id == sender_id)).rowcount or 0
            return connection.execute(select(func.count()).select_from(tracker_events).where(
                tracker_events.c.sender_id == sender_id)).scalar_one()
    except (OperationalError, ProgrammingError) as error:
        if _missing_table(error):  # Rasa has not written anything yet
            return 0
        raise


def _owned_refs(media, sender_id: str) -> list[str]:
    return media.refs_owned_by(sender_id) if media is not None else []


def _delete_photos(media, refs: set[str], sender_id: str) -> int:
    if media is None:
        return 0
    removed = 0
    for ref in sorted(refs):
        try:
            removed += media.delete(ref)
        except ValueError:  # not a well-formed reference: nothing on disk to remove
            continue
    return removed + media.delete_owned_by(sender_id)


# --- right of access -----------------------------------------------------------------------------

def export(engine: Engine, subject: Subject, *, tracker_engine: Engine | None = None, media=None) -> dict:
    """Everything stored about the applicant, as JSON-ready data (photos listed by reference, not
    embedded). The caller records the export in the audit log."""
    sender = subject.sender_id
    matches = [bookings.c.whatsapp_number == sender]
    if subject.nik:
        matches.append(bookings.c.nik == subject.nik)
    if subject.codes:
        matches.append(bookings.c.code.in_(subject.codes))
    with engine.connect() as connection:
        booking_rows = connection.execute(select(bookings).where(or_(*matches), bookings.c.nik != ERASED_NIK)
                                          .order_by(bookings.c.id)).all()
        ids = [row.id for row in booking_rows]
        found = {
            "sender_id": sender,
            "bookings": [_plain(row) for row in booking_rows],
            "booking_events": _rows(connection, booking_events, booking_events.c.booking_id.in_(ids)),
            "handoff_requests": _rows(connection, handoff_requests, handoff_requests.c.sender_id == sender),
            "handoff_replies": _rows(connection, handoff_replies, handoff_replies.c.sender_id == sender),
            "whatsapp_messages_received": _rows(connection, whatsapp_inbox, whatsapp_inbox.c.wa_id == sender),
            "whatsapp_messages_sent": _rows(connection, whatsapp_outbox, whatsapp_outbox.c.wa_id == sender),
            "conversation_messages": _rows(connection, review_user_messages,
                                           review_user_messages.c.sender_id == sender),
        }
    found["photos"] = sorted({row.photo_ref for row in booking_rows if row.photo_ref}
                             | set(_owned_refs(media, sender)))
    found["conversation_events"] = []
    if tracker_engine is not None:
        try:
            with tracker_engine.connect() as connection:
                found["conversation_events"] = [
                    {"id": row.id, "type": row.type_name, "timestamp": row.timestamp,
                     "data": json.loads(row.data) if row.data else None}
                    for row in connection.execute(select(tracker_events).where(
                        tracker_events.c.sender_id == sender).order_by(tracker_events.c.id))]
        except (OperationalError, ProgrammingError) as error:
            if not _missing_table(error):
                raise
    return found


def _rows(connection: Connection, table, condition) -> list[dict]:
    return [_plain(row) for row in connection.execute(select(table).where(condition).order_by(*table.primary_key))]


def _plain(row) -> dict:
    out = {}
    for key, value in row._mapping.items():
        if isinstance(value, (datetime, date)) or hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = f"<{len(value)} bytes>"
        out[key] = value
    return out
