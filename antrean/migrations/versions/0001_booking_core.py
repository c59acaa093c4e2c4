"""Booking core: bookings, seats per session, queue counters, per-number quotas, booking events.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE_SQL = sa.text("status IN ('booked', 'checked_in')")


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("office_id", sa.String(40), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("session_start", sa.Time, nullable=False),
        sa.Column("queue_number", sa.Integer, nullable=False),
        sa.Column("full_name", sa.String(100), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("nik", sa.String(16), nullable=False),
        sa.Column("application_type", sa.String(16), nullable=False),
        sa.Column("is_minor", sa.Boolean, nullable=False),
        sa.Column("whatsapp_number", sa.String(20), nullable=False),
        sa.Column("photo_ref", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("request_key", sa.String(100), unique=True),
        sa.Column("reschedule_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("checked_in_at", sa.DateTime),
        sa.Column("finished_at", sa.DateTime),
        sa.UniqueConstraint("office_id", "day", "queue_number", name="uq_bookings_queue_number"),
    )
    op.create_index("ix_bookings_office_day", "bookings", ["office_id", "day"])
    op.create_index("ix_bookings_whatsapp_number", "bookings", ["whatsapp_number"])
    op.create_index("ix_bookings_nik", "bookings", ["nik"])
    op.create_index(
        "uq_bookings_active_nik", "bookings", ["nik"], unique=True,
        postgresql_where=ACTIVE_SQL, sqlite_where=ACTIVE_SQL,
    )
    op.create_table(
        "session_seats",
        sa.Column("office_id", sa.String(40), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("session_start", sa.Time, primary_key=True),
        sa.Column("booked", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "queue_days",
        sa.Column("office_id", sa.String(40), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("last_number", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "sender_quotas",
        sa.Column("whatsapp_number", sa.String(20), primary_key=True),
        sa.Column("active", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "booking_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("booking_id", sa.Integer, sa.ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(60), nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_booking_events_booking_id", "booking_events", ["booking_id"])


def downgrade() -> None:
    op.drop_table("booking_events")
    op.drop_table("sender_quotas")
    op.drop_table("queue_days")
    op.drop_table("session_seats")
    op.drop_table("bookings")
