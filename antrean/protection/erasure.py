"""Erasing (and exporting) one applicant's personal data from every store Antrean keeps.

No Sanic, no Rasa: the CLI (`python -m antrean privacy erase|export`) and the console's admin page
call `erase` / `export` with SQLAlchemy engines and a media store.

An applicant is identified by the WhatsApp number (or another channel's sender id) they wrote from,
or by the business-scoped user ID or @username WhatsApp names them by since 2026: whichever is
given, whatsapp_identities finds the sender key their data is filed under. A NIK and booking codes
add bookings made for them from another number. What erasure does per store:

- **bookings**: the row stays (the office's seat counts, queue numbers and dashboard stay right)
  but name, NIK, birth date, address, WhatsApp number, photo reference and request key are
  overwritten with fixed placeholders (`ERASED_*`). A still active booking is first closed like
  any other — cancelled (seat freed) if its day has not passed, no-show otherwise — and the report
  says which. A booking checked in right now (the applicant is in the office) is refused: finish
  the visit first. No NIK hash is kept: the one-active-booking rule only concerns active bookings,
  and an erased booking never is one.
- **booking_events**: kept (what happened when), `wa:<number>` actors masked; one `erased` event.
- **sender_quotas**, **whatsapp_sender_leases**, **whatsapp_inbox/outbox/statuses**,
  **whatsapp_reminders**, **whatsapp_identities** (phone ↔ BSUID ↔ username), **simulator_media**,
  **handoff_requests/replies**, the conversation-review
  read model (**review_conversations**, **review_user_messages**, facets, tags): deleted.
- **nlu_reviews** of the applicant's messages: an *accepted* example stays as training data, but its
  text is replaced by the anonymised form `nlu export` writes (placeholders for NIKs, numbers,
  addresses, names, plus this applicant's own name and NIK wherever they appear) and it is detached
  from the deleted message; pending or discarded decisions are deleted.
- **audit_log**: entries stay (accountability), any raw number / NIK / name in them is replaced by
  the masked value, and the erasure itself is recorded (masked number, counts).
- **Rasa's tracker store** (`events` table): the sender's events are deleted.
- **media store**: the booking's photos and every photo owned by the sender are deleted.
- **exported stories** (tests/reviewed_stories/): the files of the sender's conversations, and any
  other story naming their number, NIK or a booking's name, are deleted.

Order and failure: the booking database is checked first (a refusal changes nothing), the
erasure job's lease is taken (one erasure at a time, see antrean/runtime/job_leases.py) and the
sender's WhatsApp worker lease (refused while a worker is answering them), then the photos, then the
tracker store (a separate database), the exported stories, and last the booking database in ONE
transaction. Every step selects by the applicant's identifiers and is idempotent, so an erasure
cut short anywhere is completed by running it again; the audit entry is written only with the last
step. Messages the applicant sends *after* the erasure are new data."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

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
from antrean.protection.removal import (
    ERASED_NAME,
    ERASED_NIK,
    anonymise_bookings,
    anonymise_nlu_reviews,
    delete_photo,
    delete_rows,
)
from antrean.review.schema import review_conversations, review_facets, review_tags, review_user_messages
from antrean.review.tracker import events as tracker_events
from antrean.review.tracker import table_missing
from antrean.runtime import job_leases
from antrean.whatsapp.identities import senders_named
from antrean.whatsapp.inbox import Inbox
from antrean.whatsapp.schema import (
    whatsapp_identities,
    whatsapp_inbox,
    whatsapp_outbox,
    whatsapp_reminders,
    whatsapp_sender_leases,
    whatsapp_statuses,
)

# While erasing, the erasure holds the sender's WhatsApp worker lease (whatsapp_sender_leases), so
# no Rasa worker answers (and writes new data for) this sender half-way through.
LEASE_HOLDER = "privacy-erasure"
LEASE_SECONDS = 120
# One erasure at a time (antrean/runtime/job_leases.py): a second one waits this long for the
# first, then is refused. The job's name holds no personal data, so the lease table needs no erasing.
JOB = "privacy-erasure"
JOB_WAIT_SECONDS = 10

# Every table of the booking database, decided: erased here, or holding no applicant data. A test
# fails when a new table is added to the schema without a decision here.
TABLES_ERASED = frozenset({
    "bookings", "booking_events", "sender_quotas", "handoff_requests", "handoff_replies", "nlu_reviews",
    "review_conversations", "review_user_messages", "review_facets", "review_tags", "whatsapp_inbox",
    "whatsapp_outbox", "whatsapp_statuses", "whatsapp_reminders", "whatsapp_sender_leases", "simulator_media",
    "audit_log", "whatsapp_identities",
})
TABLES_WITHOUT_APPLICANT_DATA = {
    "session_seats": "seat counts per office, day and session",
    "queue_days": "the last queue number per office and day",
    "counter_calls": "which booking was called to which counter, when, by whom",
    "staff_users": "staff accounts",
    "staff_sessions": "staff sessions",
    "login_throttle": "failed staff logins per typed username and address, forgotten after a quiet hour",
    "review_saved_filters": "staff members' saved filters of the conversation list",
    "job_leases": "which process runs a named job (retention, erasure) until when",
    "review_sync_state": "the read model's watermark",
    "model_records": "trained models: manifests and evaluations on the test set (its texts are placeholders)",
    "model_promotions": "which staff member made which model live, when",
}

# The stores, in the order the report lists them.
STORES = (
    "bookings", "bookings_closed", "booking_events", "sender_quotas", "photos", "tracker_events",
    "review_conversations", "review_user_messages", "nlu_reviews_anonymised", "nlu_reviews_deleted",
    "handoff_requests", "handoff_replies", "whatsapp_inbox", "whatsapp_outbox", "whatsapp_statuses",
    "whatsapp_reminders", "whatsapp_sender_leases", "whatsapp_identities", "simulator_media", "audit_log_scrubbed",
    "exported_stories",
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
        anything else (a BSUID, an @username, another channel's sender id) is taken as it is and
        looked up among WhatsApp identities by `resolved`."""
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

    def resolved(self, engine: Engine) -> Subject:
        """The same subject with the sender key their WhatsApp data is filed under, when the given
        identifier is a number, BSUID or username WhatsApp named them by (the key itself first)."""
        with engine.connect() as connection:
            keys = senders_named(connection, self.sender_id)
        if not keys or self.sender_id in keys:
            return self
        if len(keys) > 1:
            raise ErasureRefused("Pengenal ini cocok dengan lebih dari satu pengirim WhatsApp. Gunakan nomor "
                                 "WhatsApp atau ID pengguna (BSUID) yang lengkap.")
        return Subject(keys.pop(), self.nik, self.codes)


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
          media=None, offices: dict | None = None, apply: bool = True, remote_addr: str | None = None,
          stories_dir: Path | None = None) -> ErasureReport:
    """Erase (apply=True) or count what would be erased (apply=False). `now` is aware; `offices`
    (id → Office) decides whether an active booking's day has passed (default: its day in UTC);
    `stories_dir`: where the console exports test stories (None: no such folder here)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    subject = subject.resolved(engine)
    report = ErasureReport(subject, applied=apply)
    # 1. The booking database, rolled back: refusals surface before anything is deleted, and the
    #    counts of a dry run are exactly what the real run would do.
    photo_refs = _in_rollback(engine, lambda c: _booking_database(c, subject, report, actor, now, offices, None))
    if not apply:
        report.counts["photos"] = len(photo_refs | set(_owned_refs(media, subject.sender_id)))
        report.counts["tracker_events"] = _tracker(tracker_engine, subject.sender_id, apply=False)
        report.counts["exported_stories"] = len(_exported_stories(engine, stories_dir, subject, apply=False))
        return report
    try:
        with job_leases.held(engine, JOB, LEASE_SECONDS, wait=JOB_WAIT_SECONDS) as holder:
            if not Inbox(engine).claim_sender(subject.sender_id, LEASE_HOLDER, LEASE_SECONDS):
                raise ErasureRefused("Asisten sedang menjawab pesan pemohon ini. Coba lagi sebentar lagi (±1 menit).")
            # 2. Photos (files), 3. the tracker store, the exported stories: idempotent, found again
            #    by the same identifiers.
            report.counts["photos"] = _delete_photos(media, photo_refs, subject.sender_id)
            report.counts["tracker_events"] = _tracker(tracker_engine, subject.sender_id, apply=True)
            report.counts["exported_stories"] = len(_exported_stories(engine, stories_dir, subject, apply=True))
            job_leases.renew(engine, JOB, holder, LEASE_SECONDS)  # a large tracker store may have taken a while
            # 4. The booking database, for real, with the audit entry.
            outside = {name: report.counts[name]
                       for name in ("photos", "tracker_events", "whatsapp_sender_leases", "exported_stories")}
            counted = ErasureReport(subject, applied=True)
            with engine.begin() as connection:
                _booking_database(connection, subject, counted, actor, now, offices, remote_addr, outside=outside)
    except job_leases.JobBusy:
        raise ErasureRefused("Penghapusan data lain sedang berjalan. Coba lagi sebentar lagi.") from None
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


@dataclass
class _Erasing:
    """One pass over the booking database. The bookings come first: they add the names, NIKs and
    numbers the applicant used, which the stores after them look for."""

    connection: Connection
    subject: Subject
    report: ErasureReport
    actor: str
    now: datetime
    offices: dict | None
    booking_ids: list[int] = field(default_factory=list)
    photo_refs: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    niks: set[str] = field(default_factory=set)
    numbers: set[str] = field(default_factory=set)

    @property
    def sender(self) -> str:
        return self.subject.sender_id

    @property
    def counts(self) -> dict[str, int]:
        return self.report.counts


def _booking_database(connection: Connection, subject: Subject, report: ErasureReport, actor: str, now: datetime,
                      offices: dict | None, remote_addr: str | None, outside: dict | None = None) -> set[str]:
    """Every store of the booking database, in one transaction; returns the bookings' photos."""
    erasing = _Erasing(connection, subject, report, actor, now, offices)
    _erase_bookings(erasing)
    _mask_booking_event_actors(erasing)
    _erase_sender_quota(erasing)
    _erase_handoffs(erasing)
    _erase_whatsapp(erasing)
    _erase_identity(erasing)
    _erase_conversation_review(erasing)
    report.counts["audit_log_scrubbed"] = _scrub_audit(connection, erasing.names, erasing.niks, erasing.numbers)
    if outside is not None:
        _record_erasure(erasing, remote_addr, outside)
    return erasing.photo_refs


def _bookings_of(subject: Subject):
    """The sender's bookings, the NIK's, the named codes'; already erased ones are left alone."""
    matches = [bookings.c.whatsapp_number == subject.sender_id]
    if subject.nik:
        matches.append(bookings.c.nik == subject.nik)
    if subject.codes:
        matches.append(bookings.c.code.in_(subject.codes))
    return select(bookings).where(or_(*matches), bookings.c.nik != ERASED_NIK).order_by(bookings.c.id)


def _erase_bookings(erasing: _Erasing) -> None:
    """bookings: closed if still active, then anonymised; each gets an `erased` event."""
    connection, now = erasing.connection, erasing.now
    rows = connection.execute(_bookings_of(erasing.subject).with_for_update()).all()
    if any(row.status == BookingStatus.CHECKED_IN.value for row in rows):
        raise ErasureRefused("Pemohon sedang berada di kantor (sudah check-in). Selesaikan kunjungannya "
                             "(dilayani / tidak hadir) dulu, lalu hapus datanya.")
    erasing.booking_ids = [row.id for row in rows]
    erasing.photo_refs = {row.photo_ref for row in rows if row.photo_ref}
    erasing.names = {row.full_name for row in rows}
    erasing.niks = {row.nik for row in rows} | ({erasing.subject.nik} if erasing.subject.nik else set())
    erasing.numbers = {row.whatsapp_number for row in rows} | {erasing.sender}
    for row in rows:
        if row.status == BookingStatus.BOOKED.value:
            _close_booking(erasing, row)
    if erasing.booking_ids:
        anonymise_bookings(connection, erasing.booking_ids, now)
        for booking_id in erasing.booking_ids:
            store.record_event(connection, booking_id, now, "erased", erasing.actor)
        erasing.counts["bookings"] = len(erasing.booking_ids)


def _close_booking(erasing: _Erasing, row) -> None:
    """As staff would: cancelled (seat freed) if its day is still to come, a no-show otherwise."""
    connection, now = erasing.connection, erasing.now
    passed = row.day < _today(row.office_id, now, erasing.offices)
    outcome = BookingStatus.NO_SHOW if passed else BookingStatus.CANCELLED
    store.update_booking(connection, row.id, BookingStatus.BOOKED, status=outcome.value, finished_at=now,
                         updated_at=now)
    if outcome is BookingStatus.CANCELLED:
        store.release_seat(connection, row.office_id, row.day, row.session_start)
    store.release_sender_slot(connection, row.whatsapp_number)
    store.record_event(connection, row.id, now, outcome.value, erasing.actor, reason="personal data erased")
    erasing.report.closed.append((row.code, outcome.value))
    erasing.counts["bookings_closed"] += 1


def _mask_booking_event_actors(erasing: _Erasing) -> None:
    """booking_events: kept (what happened when), but `wa:<number>` no longer names the number."""
    wa_actors = [f"wa:{n}" for n in erasing.numbers if n]
    erasing.counts["booking_events"] = erasing.connection.execute(
        update(booking_events).where(booking_events.c.actor.in_(wa_actors))
        .values(actor="wa:" + erasing.subject.masked)).rowcount or 0


def _erase_sender_quota(erasing: _Erasing) -> None:
    erasing.counts["sender_quotas"] = delete_rows(erasing.connection, sender_quotas,
                                                  sender_quotas.c.whatsapp_number == erasing.sender)


def _erase_handoffs(erasing: _Erasing) -> None:
    """handoff_requests and the staff's replies: to them, or to the requests being deleted."""
    connection, sender = erasing.connection, erasing.sender
    request_ids = connection.execute(select(handoff_requests.c.id)
                                     .where(handoff_requests.c.sender_id == sender)).scalars().all()
    erasing.counts["handoff_replies"] = delete_rows(connection, handoff_replies, or_(
        handoff_replies.c.sender_id == sender, handoff_replies.c.request_id.in_(request_ids)))
    erasing.counts["handoff_requests"] = delete_rows(connection, handoff_requests,
                                                     handoff_requests.c.id.in_(request_ids))


def _erase_whatsapp(erasing: _Erasing) -> None:
    """whatsapp_inbox/outbox/statuses/reminders, the simulator's copies of the media the applicant
    sent, and the sender's worker lease."""
    connection, sender, counts = erasing.connection, erasing.sender, erasing.counts
    inbox_rows = connection.execute(select(whatsapp_inbox.c.id, whatsapp_inbox.c.payload)
                                    .where(whatsapp_inbox.c.wa_id == sender)).all()
    inbox_ids = [row.id for row in inbox_rows]
    media_ids = sorted({m for row in inbox_rows for m in _media_ids(row.payload)})
    outbox_match = or_(whatsapp_outbox.c.wa_id == sender, whatsapp_outbox.c.inbox_id.in_(inbox_ids))
    outbox_rows = connection.execute(select(whatsapp_outbox.c.id, whatsapp_outbox.c.wa_outgoing_id)
                                     .where(outbox_match)).all()
    outgoing = [row.wa_outgoing_id for row in outbox_rows if row.wa_outgoing_id]
    counts["whatsapp_statuses"] = delete_rows(connection, whatsapp_statuses,
                                              whatsapp_statuses.c.wa_outgoing_id.in_(outgoing))
    counts["whatsapp_reminders"] = delete_rows(connection, whatsapp_reminders, or_(
        whatsapp_reminders.c.booking_id.in_(erasing.booking_ids),
        whatsapp_reminders.c.outbox_id.in_([row.id for row in outbox_rows])))
    counts["whatsapp_outbox"] = delete_rows(connection, whatsapp_outbox, outbox_match)
    counts["whatsapp_inbox"] = delete_rows(connection, whatsapp_inbox, whatsapp_inbox.c.id.in_(inbox_ids))
    # The real run holds the lease itself (taken over from a worker whose lease ran out): the dry
    # pass's count says whether there was one.
    counts["whatsapp_sender_leases"] = delete_rows(connection, whatsapp_sender_leases, and_(
        whatsapp_sender_leases.c.wa_id == sender, whatsapp_sender_leases.c.claimed_by != LEASE_HOLDER))
    delete_rows(connection, whatsapp_sender_leases, whatsapp_sender_leases.c.wa_id == sender)
    counts["simulator_media"] = delete_rows(connection, simulator_media, simulator_media.c.media_id.in_(media_ids))


def _erase_identity(erasing: _Erasing) -> None:
    """whatsapp_identities: the sender's number, BSUIDs and username (also scrubbed from the audit
    log, like the numbers of the bookings)."""
    table = whatsapp_identities
    row = erasing.connection.execute(select(table).where(table.c.sender == erasing.sender)).first()
    if row is not None:
        erasing.numbers |= {value for value in (row.phone, row.user_id, row.parent_user_id) if value}
    erasing.counts["whatsapp_identities"] = delete_rows(erasing.connection, table, table.c.sender == erasing.sender)


def _erase_conversation_review(erasing: _Erasing) -> None:
    """The conversation-review read model (conversations, messages, facets, tags) and the NLU
    decisions on its messages."""
    connection, sender, counts = erasing.connection, erasing.sender, erasing.counts
    conversation_ids = connection.execute(select(review_conversations.c.id)
                                          .where(review_conversations.c.sender_id == sender)).scalars().all()
    message_ids = connection.execute(select(review_user_messages.c.id).where(or_(
        review_user_messages.c.sender_id == sender, review_user_messages.c.conversation_id.in_(conversation_ids))
    )).scalars().all()
    counts["nlu_reviews_anonymised"], counts["nlu_reviews_deleted"] = anonymise_nlu_reviews(
        connection, message_ids, erasing.names, erasing.niks)
    delete_rows(connection, review_facets, review_facets.c.conversation_id.in_(conversation_ids))
    delete_rows(connection, review_tags, review_tags.c.conversation_id.in_(conversation_ids))
    counts["review_user_messages"] = delete_rows(connection, review_user_messages,
                                                 review_user_messages.c.id.in_(message_ids))
    counts["review_conversations"] = delete_rows(connection, review_conversations,
                                                 review_conversations.c.id.in_(conversation_ids))


def _record_erasure(erasing: _Erasing, remote_addr: str | None, outside: dict) -> None:
    """audit_log: the erasure itself, with the counts of the stores outside this database too."""
    detail = {**erasing.report.as_dict()}
    detail["counts"] = {**detail["counts"], **{k: v for k, v in outside.items() if v}}
    erasing.connection.execute(insert(audit_log).values(
        at=store.to_db_time(erasing.now), actor=erasing.actor[:40], action="privacy.erased",
        target=erasing.subject.masked[:100], office_id=None, detail=json.dumps(detail, ensure_ascii=False),
        remote_addr=remote_addr))


def _today(office_id: str, now: datetime, offices: dict | None) -> date:
    office = (offices or {}).get(office_id)
    zone = getattr(office, "zone", None) or timezone.utc
    return now.astimezone(zone).date()


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


def _scrub_audit(connection: Connection, names: set[str], niks: set[str], numbers: set[str]) -> int:
    """audit_log: entries stay (accountability), with any raw number, NIK or name masked."""
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


def _tracker(tracker_engine: Engine | None, sender_id: str, apply: bool) -> int:
    """Rasa's tracker store (another database): the sender's events."""
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
        if table_missing(error):  # Rasa has not written anything yet
            return 0
        raise


def _owned_refs(media, sender_id: str) -> list[str]:
    return media.refs_owned_by(sender_id) if media is not None else []


def _delete_photos(media, refs: set[str], sender_id: str) -> int:
    """The media store: the bookings' photos and every photo the sender sent."""
    if media is None:
        return 0
    return sum(delete_photo(media, ref) for ref in sorted(refs)) + media.delete_owned_by(sender_id)


def _exported_stories(engine: Engine, stories_dir: Path | None, subject: Subject, apply: bool) -> list[Path]:
    """The test stories exported from the sender's conversations (`percakapan_<id>.yml`), and any
    story that names their number, NIK or a booking's name (stories exported before free text was
    masked kept them); deleted when `apply`. Runs before the read model is erased, which holds
    the conversation ids."""
    if stories_dir is None or not stories_dir.is_dir():
        return []
    with engine.connect() as connection:
        conversation_ids = connection.execute(select(review_conversations.c.id).where(
            review_conversations.c.sender_id == subject.sender_id)).scalars().all()
        rows = connection.execute(_bookings_of(subject)).all()
    names = {f"percakapan_{conversation_id}.yml" for conversation_id in conversation_ids}
    needles = {subject.sender_id, subject.nik, *(row.nik for row in rows)} - {None, ""}
    name_pattern = [re.compile(rf"(?<!\w){re.escape(row.full_name)}(?!\w)", re.IGNORECASE)
                    for row in rows if row.full_name and row.full_name != ERASED_NAME]
    found = []
    for path in sorted(stories_dir.glob("*.yml")):
        if path.name not in names:
            text = path.read_text(encoding="utf-8", errors="replace")
            if not any(n in text for n in needles) and not any(p.search(text) for p in name_pattern):
                continue
        found.append(path)
        if apply:
            path.unlink(missing_ok=True)
    return found


# --- right of access -----------------------------------------------------------------------------

# What an export lists besides the bookings, their history, photos and conversation events: the
# rows of these tables whose column holds the sender's id.
EXPORTED_BY_SENDER = (
    ("handoff_requests", handoff_requests.c.sender_id),
    ("handoff_replies", handoff_replies.c.sender_id),
    ("whatsapp_identity", whatsapp_identities.c.sender),
    ("whatsapp_messages_received", whatsapp_inbox.c.wa_id),
    ("whatsapp_messages_sent", whatsapp_outbox.c.wa_id),
    ("conversation_messages", review_user_messages.c.sender_id),
)


def export(engine: Engine, subject: Subject, *, tracker_engine: Engine | None = None, media=None,
           stories_dir: Path | None = None) -> dict:
    """Everything stored about the applicant, as JSON-ready data (photos listed by reference, not
    embedded). The caller records the export in the audit log."""
    subject = subject.resolved(engine)
    sender = subject.sender_id
    with engine.connect() as connection:
        booking_rows = connection.execute(_bookings_of(subject)).all()
        found = {
            "sender_id": sender,
            "bookings": [_plain(row) for row in booking_rows],
            "booking_events": _rows(connection, booking_events,
                                    booking_events.c.booking_id.in_([row.id for row in booking_rows])),
        }
        for name, column in EXPORTED_BY_SENDER:
            found[name] = _rows(connection, column.table, column == sender)
    found["photos"] = sorted({row.photo_ref for row in booking_rows if row.photo_ref}
                             | set(_owned_refs(media, sender)))
    # What was read from an e-KTP photo and is still kept beside it (until booked, or the photo goes).
    found["photo_readings"] = _photo_readings(media, found["photos"])
    found["exported_stories"] = [{"file": path.name, "text": path.read_text(encoding="utf-8", errors="replace")}
                                 for path in _exported_stories(engine, stories_dir, subject, apply=False)]
    found["conversation_events"] = _exported_tracker_events(tracker_engine, sender)
    return found


def _photo_readings(media, refs: list[str]) -> dict[str, dict]:
    if media is None:
        return {}
    readings = {}
    for ref in refs:
        for photo in ref.split():  # a minor's booking holds two photos
            with contextlib.suppress(ValueError, OSError):
                if (reading := media.card_reading(photo)) is not None:
                    readings[photo] = reading
    return readings


def _exported_tracker_events(tracker_engine: Engine | None, sender_id: str) -> list[dict]:
    if tracker_engine is None:
        return []
    try:
        with tracker_engine.connect() as connection:
            return [{"id": row.id, "type": row.type_name, "timestamp": row.timestamp,
                     "data": json.loads(row.data) if row.data else None}
                    for row in connection.execute(select(tracker_events).where(
                        tracker_events.c.sender_id == sender_id).order_by(tracker_events.c.id))]
    except (OperationalError, ProgrammingError) as error:
        if not table_missing(error):
            raise
        return []


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
