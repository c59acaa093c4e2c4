"""WhatsApp identities: business-scoped user IDs (BSUIDs) and usernames beside phone numbers.

The inbox keeps how each message named its sender (phone, BSUID, username); whatsapp_identities maps
phone ↔ BSUID to the one sender key a user's conversation is filed under. Sender keys may now be
BSUIDs ("ID." and up to 128 alphanumerics), so every column holding one widens to 140 characters
(bookings' and the per-number limit's from 20). Users who wrote or booked before this revision get
their identity row (sender = phone), so their first message carrying a BSUID too continues their
conversation and counts against their own bookings.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SENDER = 140
# (table, column, old length): on SQLite a batch operation copies the table (its indexes, the
# partial unique index on active NIKs included, are recreated from reflection).
WIDENED = [
    ("bookings", "whatsapp_number", 20),
    ("sender_quotas", "whatsapp_number", 20),
    ("whatsapp_inbox", "wa_id", 128),
    ("whatsapp_outbox", "wa_id", 128),
    ("whatsapp_sender_leases", "wa_id", 128),
    ("handoff_requests", "sender_id", 100),
    ("handoff_replies", "sender_id", 100),
]


def upgrade() -> None:
    for table, column, old in WIDENED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(SENDER), existing_type=sa.String(old),
                               existing_nullable=False)
    with op.batch_alter_table("whatsapp_inbox") as batch:
        batch.add_column(sa.Column("phone", sa.String(20)))
        batch.add_column(sa.Column("user_id", sa.String(140)))
        batch.add_column(sa.Column("username", sa.String(100)))
    op.create_table(
        "whatsapp_identities",
        sa.Column("sender", sa.String(140), primary_key=True),
        sa.Column("phone", sa.String(20), unique=True),
        sa.Column("user_id", sa.String(140), unique=True),
        sa.Column("parent_user_id", sa.String(140)),
        sa.Column("username", sa.String(100)),
        sa.Column("first_seen", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    connection = op.get_bind()
    connection.execute(sa.text("UPDATE whatsapp_inbox SET phone = wa_id"))
    now = sa.func.current_timestamp()
    known = sa.union(
        sa.select(sa.column("wa_id").label("number")).select_from(sa.table("whatsapp_inbox")),
        sa.select(sa.column("whatsapp_number").label("number")).select_from(sa.table("bookings")),
    ).subquery()
    numbers = [row.number for row in connection.execute(sa.select(known.c.number))
               if row.number and row.number.isdigit() and len(row.number) <= 20]
    identities = sa.table("whatsapp_identities", sa.column("sender"), sa.column("phone"),
                          sa.column("first_seen"), sa.column("updated_at"))
    for number in numbers:
        connection.execute(identities.insert().values(sender=number, phone=number, first_seen=now, updated_at=now))


def downgrade() -> None:
    op.drop_table("whatsapp_identities")
    with op.batch_alter_table("whatsapp_inbox") as batch:
        batch.drop_column("username")
        batch.drop_column("user_id")
        batch.drop_column("phone")
    for table, column, old in reversed(WIDENED):
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(old), existing_type=sa.String(SENDER),
                               existing_nullable=False)
