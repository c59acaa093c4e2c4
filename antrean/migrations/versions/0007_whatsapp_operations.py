"""WhatsApp operations: inbox lease for several workers, appointment reminders.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_sender_leases",
        sa.Column("wa_id", sa.String(128), primary_key=True),
        sa.Column("claimed_by", sa.String(64), nullable=False),
        sa.Column("lease_until", sa.DateTime, nullable=False),
    )
    op.create_index("ix_whatsapp_sender_leases_until", "whatsapp_sender_leases", ["lease_until"])
    op.create_table(
        "whatsapp_reminders",
        sa.Column("booking_id", sa.Integer, sa.ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("outbox_id", sa.Integer),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    # Retention deletes processed inbox rows by age; reminders look up a sender's latest message.
    op.create_index("ix_whatsapp_inbox_processed_at", "whatsapp_inbox", ["processed_at"])
    op.create_index("ix_whatsapp_outbox_created_at", "whatsapp_outbox", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_whatsapp_outbox_created_at", "whatsapp_outbox")
    op.drop_index("ix_whatsapp_inbox_processed_at", "whatsapp_inbox")
    op.drop_table("whatsapp_reminders")
    op.drop_index("ix_whatsapp_sender_leases_until", "whatsapp_sender_leases")
    op.drop_table("whatsapp_sender_leases")
