"""Reading and writing bookings with SQLAlchemy Core on one connection (the service owns the
transaction). Every helper here is a single statement or two; the rules live in service.py."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, time, timezone

from sqlalchemy import Date, Time, and_, bindparam, delete, exists, select, text, update
from sqlalchemy.engine import Connection, Row

from antrean.booking.model import ACTIVE_STATUSES, Applicant, ApplicationType, Booking, BookingStatus
from antrean.booking.offices import PRACTICE_PREFIX
from antrean.booking.schema import booking_events, bookings, queue_days, sender_quotas, session_seats

_ACTIVE = [status.value for status in ACTIVE_STATUSES]


def to_db_time(moment: datetime) -> datetime:
    """Timestamps are stored as naive UTC: SQLite keeps no offset, so both backends agree."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def from_db_time(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None else None


def booking_from_row(row: Row) -> Booking:
    return Booking(
        id=row.id,
        office_id=row.office_id,
        day=row.day,
        session_start=row.session_start,
        queue_number=row.queue_number,
        code=row.code,
        applicant=Applicant(
            full_name=row.full_name,
            birth_date=row.birth_date,
            address=row.address,
            nik=row.nik,
            application_type=ApplicationType(row.application_type),
            is_minor=row.is_minor,
        ),
        whatsapp_number=row.whatsapp_number,
        status=BookingStatus(row.status),
        photo_ref=row.photo_ref,
        request_key=row.request_key,
        reschedule_count=row.reschedule_count,
        created_at=from_db_time(row.created_at),
        updated_at=from_db_time(row.updated_at),
        checked_in_at=from_db_time(row.checked_in_at),
        finished_at=from_db_time(row.finished_at),
    )


# --- seats, queue numbers and per-number quotas: the conditional updates -----------------------
# Written once as SQL both SQLite (3.35+) and PostgreSQL run: an upsert whose UPDATE only happens
# below the limit, RETURNING the new count. No row returned = limit reached. One round trip each,
# because these rows are the hot spots every concurrent booking of a day queues behind.

_TAKE_SEAT = text("""
    INSERT INTO session_seats (office_id, day, session_start, booked) VALUES (:office_id, :day, :start, 1)
    ON CONFLICT (office_id, day, session_start) DO UPDATE SET booked = session_seats.booked + 1
    WHERE session_seats.booked < :capacity
    RETURNING booked
""").bindparams(bindparam("day", type_=Date), bindparam("start", type_=Time))

_NEXT_QUEUE_NUMBER = text("""
    INSERT INTO queue_days (office_id, day, last_number) VALUES (:office_id, :day, 1)
    ON CONFLICT (office_id, day) DO UPDATE SET last_number = queue_days.last_number + 1
    RETURNING last_number
""").bindparams(bindparam("day", type_=Date))

_CLAIM_SENDER_SLOT = text("""
    INSERT INTO sender_quotas (whatsapp_number, active) VALUES (:number, 1)
    ON CONFLICT (whatsapp_number) DO UPDATE SET active = sender_quotas.active + 1
    WHERE sender_quotas.active < :limit
    RETURNING active
""")


# PostgreSQL fast path: number quota, seat, queue number, booking and event in ONE statement, so the
# hot rows (a session's seat counter, a day's queue counter) stay locked only for this statement and
# the commit — not across client round trips, which on a busy 2-core machine include waiting for a CPU.
# Each step reads the previous one's RETURNING, so a refused step stops the ones after it.
_BOOK_AT_ONCE = text("""
    WITH sender AS (
        INSERT INTO sender_quotas AS q (whatsapp_number, active) VALUES (:whatsapp_number, 1)
        ON CONFLICT (whatsapp_number) DO UPDATE SET active = q.active + 1 WHERE q.active < :limit
        RETURNING 1
    ), seat AS (
        INSERT INTO session_seats AS s (office_id, day, session_start, booked)
        SELECT :office_id, :day, :session_start, 1 FROM sender
        ON CONFLICT (office_id, day, session_start) DO UPDATE SET booked = s.booked + 1
        WHERE s.booked < :capacity
        RETURNING 1
    ), queue AS (
        INSERT INTO queue_days AS d (office_id, day, last_number) SELECT :office_id, :day, 1 FROM seat
        ON CONFLICT (office_id, day) DO UPDATE SET last_number = d.last_number + 1
        RETURNING last_number
    ), booking AS (
        INSERT INTO bookings (code, office_id, day, session_start, queue_number, full_name, birth_date, address,
                              nik, application_type, is_minor, whatsapp_number, photo_ref, status, request_key,
                              reschedule_count, created_at, updated_at)
        SELECT :code, :office_id, :day, :session_start, last_number, :full_name, :birth_date, :address, :nik,
               :application_type, :is_minor, :whatsapp_number, :photo_ref, :status, :request_key, 0,
               :created_at, :created_at
        FROM queue
        RETURNING id, queue_number
    ), event AS (
        INSERT INTO booking_events (booking_id, at, kind, actor, detail)
        SELECT id, :created_at, 'booked', :actor, json_build_object('queue_number', queue_number)::text FROM booking
    )
    SELECT (SELECT count(*) FROM sender) AS sender_ok, (SELECT count(*) FROM seat) AS seat_ok,
           (SELECT id FROM booking) AS id, (SELECT queue_number FROM booking) AS queue_number
""")


def book_at_once(connection: Connection, booking: Booking, limit: int, capacity: int, actor: str) -> Row:
    """PostgreSQL only. Returns sender_ok, seat_ok, id and queue_number (None when refused)."""
    applicant = booking.applicant
    return connection.execute(_BOOK_AT_ONCE, {
        "whatsapp_number": booking.whatsapp_number, "limit": limit, "capacity": capacity,
        "office_id": booking.office_id, "day": booking.day, "session_start": booking.session_start,
        "code": booking.code, "full_name": applicant.full_name, "birth_date": applicant.birth_date,
        "address": applicant.address, "nik": applicant.nik, "application_type": applicant.application_type.value,
        "is_minor": applicant.is_minor, "photo_ref": booking.photo_ref, "status": booking.status.value,
        "request_key": booking.request_key, "created_at": to_db_time(booking.created_at), "actor": actor,
    }).one()


def take_seat(connection: Connection, office_id: str, day: date, start: time, capacity: int) -> bool:
    """Atomically take one seat if fewer than `capacity` are taken. The row is created on first use."""
    if capacity < 1:
        return False
    row = connection.execute(_TAKE_SEAT, {"office_id": office_id, "day": day, "start": start, "capacity": capacity})
    return row.first() is not None


def release_seat(connection: Connection, office_id: str, day: date, start: time) -> None:
    connection.execute(
        update(session_seats)
        .where(
            session_seats.c.office_id == office_id,
            session_seats.c.day == day,
            session_seats.c.session_start == start,
            session_seats.c.booked > 0,
        )
        .values(booked=session_seats.c.booked - 1)
    )


def next_queue_number(connection: Connection, office_id: str, day: date) -> int:
    """Numbers only ever grow per office and day, so a cancelled number is never handed out again."""
    return connection.execute(_NEXT_QUEUE_NUMBER, {"office_id": office_id, "day": day}).scalar_one()


def claim_sender_slot(connection: Connection, whatsapp_number: str, limit: int) -> bool:
    return connection.execute(_CLAIM_SENDER_SLOT, {"number": whatsapp_number, "limit": limit}).first() is not None


def release_sender_slot(connection: Connection, whatsapp_number: str) -> None:
    connection.execute(
        update(sender_quotas)
        .where(sender_quotas.c.whatsapp_number == whatsapp_number, sender_quotas.c.active > 0)
        .values(active=sender_quotas.c.active - 1)
    )


def seats_taken(connection: Connection, office_id: str, days: Iterable[date]) -> dict[tuple[date, time], int]:
    rows = connection.execute(
        select(session_seats.c.day, session_seats.c.session_start, session_seats.c.booked).where(
            session_seats.c.office_id == office_id, session_seats.c.day.in_(list(days))
        )
    )
    return {(row.day, row.session_start): row.booked for row in rows}


# --- bookings -----------------------------------------------------------------------------------

_INSERT_BOOKING = bookings.insert()
_INSERT_EVENT = booking_events.insert()


def insert_booking(connection: Connection, booking: Booking) -> int:
    applicant = booking.applicant
    result = connection.execute(
        _INSERT_BOOKING,
        dict(
            code=booking.code,
            office_id=booking.office_id,
            day=booking.day,
            session_start=booking.session_start,
            queue_number=booking.queue_number,
            full_name=applicant.full_name,
            birth_date=applicant.birth_date,
            address=applicant.address,
            nik=applicant.nik,
            application_type=applicant.application_type.value,
            is_minor=applicant.is_minor,
            whatsapp_number=booking.whatsapp_number,
            photo_ref=booking.photo_ref,
            status=booking.status.value,
            request_key=booking.request_key,
            reschedule_count=booking.reschedule_count,
            created_at=to_db_time(booking.created_at),
            updated_at=to_db_time(booking.updated_at),
        ),
    )
    return result.inserted_primary_key[0]


def update_booking(connection: Connection, booking_id: int, expected_status: BookingStatus, **values) -> bool:
    """Change a booking only if it is still in the status we read (no lost updates between readers)."""
    for key in ("updated_at", "checked_in_at", "finished_at"):
        if isinstance(values.get(key), datetime):
            values[key] = to_db_time(values[key])
    result = connection.execute(
        update(bookings)
        .where(bookings.c.id == booking_id, bookings.c.status == expected_status.value)
        .values(**values)
    )
    return result.rowcount == 1


def record_event(connection: Connection, booking_id: int, at: datetime, kind: str, actor: str, **detail) -> None:
    connection.execute(
        _INSERT_EVENT,
        dict(
            booking_id=booking_id,
            at=to_db_time(at),
            kind=kind,
            actor=actor,
            detail=json.dumps(detail, default=str, ensure_ascii=False) if detail else None,
        ),
    )


def find_one(connection: Connection, *conditions, lock: bool = False) -> Booking | None:
    query = select(bookings).where(*conditions)
    if lock:
        query = query.with_for_update()  # PostgreSQL row lock; SQLite already holds the write lock
    row = connection.execute(query).first()
    return booking_from_row(row) if row else None


def by_code(connection: Connection, code: str, lock: bool = False) -> Booking | None:
    return find_one(connection, bookings.c.code == code, lock=lock)


def by_request_key(connection: Connection, request_key: str) -> Booking | None:
    return find_one(connection, bookings.c.request_key == request_key)


def _practice(office_id_column):
    return office_id_column.like(PRACTICE_PREFIX + "%")


def active_by_nik(connection: Connection, nik: str) -> Booking | None:
    """The NIK's active real booking (practice bookings hold no NIK, see antrean.booking.practice)."""
    return find_one(connection, bookings.c.nik == nik, bookings.c.status.in_(_ACTIVE),
                    ~_practice(bookings.c.office_id))


def list_bookings(connection: Connection, *conditions, order_by=None) -> list[Booking]:
    query = select(bookings).where(*conditions).order_by(*(order_by or (bookings.c.created_at, bookings.c.id)))
    return [booking_from_row(row) for row in connection.execute(query)]


def by_whatsapp_number(connection: Connection, whatsapp_number: str, active_only: bool) -> list[Booking]:
    conditions = [bookings.c.whatsapp_number == whatsapp_number]
    if active_only:
        conditions.append(bookings.c.status.in_(_ACTIVE))
    return list_bookings(connection, *conditions, order_by=(bookings.c.day, bookings.c.queue_number))


def day_list(connection: Connection, office_id: str, day: date) -> list[Booking]:
    return list_bookings(
        connection, bookings.c.office_id == office_id, bookings.c.day == day, order_by=(bookings.c.queue_number,)
    )


def events_of(connection: Connection, booking_id: int) -> list[dict]:
    rows = connection.execute(
        select(booking_events).where(booking_events.c.booking_id == booking_id).order_by(booking_events.c.id)
    )
    return [dict(row._mapping) for row in rows]


def purge_practice(connection: Connection, made_before: datetime) -> list[str | None]:
    """Practice bookings made before `made_before` go, with their events (counter calls and reminders
    follow by ON DELETE CASCADE); active ones give back their practice seat and the number's quota
    first. A practice day without bookings left loses its seat and queue counters: the next
    practice that day starts at queue number 1. Returns the deleted bookings' photo references
    (None where there was no photo): the files are the caller's to remove."""
    rows = connection.execute(select(bookings.c.id, bookings.c.office_id, bookings.c.day, bookings.c.session_start,
                                     bookings.c.whatsapp_number, bookings.c.status, bookings.c.photo_ref).where(
        _practice(bookings.c.office_id), bookings.c.created_at < to_db_time(made_before))).all()
    for row in rows:
        if row.status in _ACTIVE:
            release_seat(connection, row.office_id, row.day, row.session_start)
            release_sender_slot(connection, row.whatsapp_number)
    ids = [row.id for row in rows]
    if ids:
        connection.execute(delete(booking_events).where(booking_events.c.booking_id.in_(ids)))
        connection.execute(delete(bookings).where(bookings.c.id.in_(ids)))
    for counters in (session_seats, queue_days):
        left = exists().where(bookings.c.office_id == counters.c.office_id, bookings.c.day == counters.c.day)
        connection.execute(delete(counters).where(and_(_practice(counters.c.office_id), ~left)))
    return [row.photo_ref for row in rows]
