"""Conversation review (console): read model over Rasa's tracker store, tags, notes, review status, saved filters.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
