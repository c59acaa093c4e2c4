"""WhatsApp channel: durable inbox, outbox (also the sandbox record) and delivery statuses.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"  # after the staff console (0003)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_inbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("wa_message_id", sa.String(128), nullable=False, unique=True),
        sa.Column("phone_number_id", sa.String(128), nullable=False),
        sa.Column("wa_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("wa_timestamp", sa.Integer),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("processed_at", sa.DateTime),
        sa.Column("outcome", sa.String(20)),
    )
    op.create_index("ix_whatsapp_inbox_pending", "whatsapp_inbox", ["processed_at", "id"])
    op.create_index("ix_whatsapp_inbox_sender", "whatsapp_inbox", ["wa_id", "id"])
    op.create_table(
        "whatsapp_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("inbox_id", sa.Integer, sa.ForeignKey("whatsapp_inbox.id", ondelete="SET NULL")),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("phone_number_id", sa.String(128), nullable=False),
        sa.Column("wa_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("choices", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("wa_outgoing_id", sa.String(128)),
        sa.Column("error_code", sa.Integer),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
        sa.UniqueConstraint("inbox_id", "seq", name="uq_whatsapp_outbox_turn_seq"),
    )
    op.create_index("ix_whatsapp_outbox_recipient", "whatsapp_outbox", ["wa_id", "id"])
    op.create_index("ix_whatsapp_outbox_wa_outgoing_id", "whatsapp_outbox", ["wa_outgoing_id"])
    op.create_table(
        "whatsapp_statuses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("wa_outgoing_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("wa_timestamp", sa.Integer),
        sa.Column("error_code", sa.Integer),
        sa.Column("error_title", sa.String(200)),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("wa_outgoing_id", "status", name="uq_whatsapp_statuses_message_status"),
    )


def downgrade() -> None:
    op.drop_table("whatsapp_statuses")
    op.drop_table("whatsapp_outbox")
    op.drop_table("whatsapp_inbox")
