"""Handoff requests: conversations waiting for a person.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sender_id", sa.String(100), nullable=False),
        sa.Column("office_id", sa.String(40)),
        sa.Column("requested_at", sa.DateTime, nullable=False),
        sa.Column("last_message", sa.Text),
        sa.Column("answered_at", sa.DateTime),
        sa.Column("answered_by", sa.String(60)),
    )
    op.create_index("ix_handoff_requests_open", "handoff_requests", ["answered_at", "requested_at"])


def downgrade() -> None:
    op.drop_table("handoff_requests")
