"""Tables of the booking core (SQLAlchemy Core): bookings, seats, queue numbers and per-sender quotas.
Other areas keep their own tables beside their code, on the same MetaData (antrean/runtime/tables.py).

Core rather than ORM mapping: the decisive statements are conditional UPDATEs whose row counts say
whether a seat was won, and the database — not Python — must be the referee under concurrency:
- `session_seats.booked` only grows through `UPDATE … WHERE booked < capacity` (row lock / write lock);
- `queue_days.last_number` hands out queue numbers, and (office, day, number) is unique;
- a partial unique index allows one active booking per NIK across all offices;
- `sender_quotas.active` caps active bookings per WhatsApp number the same way as seats."""

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    text,
)

from antrean.runtime.tables import metadata

# Active bookings, but not those of practice offices (antrean.booking.practice): they are left out of
# the one-active-booking-per-NIK rule, so practising with a NIK never blocks its owner's registration.
ACTIVE_REAL_SQL = text("status IN ('booked', 'checked_in') AND office_id NOT LIKE 'latihan-%'")

bookings = Table(
    "bookings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    Column("office_id", String(40), nullable=False),
    Column("day", Date, nullable=False),
    Column("session_start", Time, nullable=False),
    Column("queue_number", Integer, nullable=False),
    Column("full_name", String(100), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("address", String(200), nullable=False),
    Column("nik", String(16), nullable=False),
    Column("application_type", String(16), nullable=False),
    Column("is_minor", Boolean, nullable=False),
    Column("whatsapp_number", String(140), nullable=False),
    Column("photo_ref", String(200)),
    Column("status", String(16), nullable=False),
    Column("request_key", String(100), unique=True),
    Column("reschedule_count", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("checked_in_at", DateTime),
    Column("finished_at", DateTime),
    UniqueConstraint("office_id", "day", "queue_number", name="uq_bookings_queue_number"),
    Index("ix_bookings_office_day", "office_id", "day"),
    Index("ix_bookings_whatsapp_number", "whatsapp_number"),
    Index("ix_bookings_nik", "nik"),
    Index(
        "uq_bookings_active_nik",
        "nik",
        unique=True,
        postgresql_where=ACTIVE_REAL_SQL,
        sqlite_where=ACTIVE_REAL_SQL,
    ),
)

session_seats = Table(
    "session_seats",
    metadata,
    Column("office_id", String(40), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("session_start", Time, primary_key=True),
    Column("booked", Integer, nullable=False, server_default="0"),
)

queue_days = Table(
    "queue_days",
    metadata,
    Column("office_id", String(40), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last_number", Integer, nullable=False, server_default="0"),
)

sender_quotas = Table(
    "sender_quotas",
    metadata,
    Column("whatsapp_number", String(140), primary_key=True),
    Column("active", Integer, nullable=False, server_default="0"),
)

booking_events = Table(
    "booking_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("booking_id", Integer, ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("actor", String(60), nullable=False),
    Column("detail", Text),
    Index("ix_booking_events_booking_id", "booking_id"),
)
