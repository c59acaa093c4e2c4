"""Practice offices: their bookings are left out of the one-active-booking-per-NIK index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('booked', 'checked_in')")
ACTIVE_REAL = sa.text("status IN ('booked', 'checked_in') AND office_id NOT LIKE 'latihan-%'")


def upgrade() -> None:
    op.drop_index("uq_bookings_active_nik", table_name="bookings")
    op.create_index("uq_bookings_active_nik", "bookings", ["nik"], unique=True,
                    postgresql_where=ACTIVE_REAL, sqlite_where=ACTIVE_REAL)


def downgrade() -> None:
    # Practice bookings would break the old index: they are deleted first (they are only practice).
    op.execute("DELETE FROM booking_events WHERE booking_id IN "
               "(SELECT id FROM bookings WHERE office_id LIKE 'latihan-%')")
    op.execute("DELETE FROM bookings WHERE office_id LIKE 'latihan-%'")
    op.drop_index("uq_bookings_active_nik", table_name="bookings")
    op.create_index("uq_bookings_active_nik", "bookings", ["nik"], unique=True,
                    postgresql_where=ACTIVE, sqlite_where=ACTIVE)
