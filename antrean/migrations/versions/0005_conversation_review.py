"""Conversation review (console): read model over Rasa's tracker store, tags, notes, review status, saved filters.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_conversations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("sender_masked", sa.String(40), nullable=False),
        sa.Column("sender_reversed", sa.String(255), nullable=False),
        sa.Column("first_event_id", sa.Integer, nullable=False),
        sa.Column("last_event_id", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime, nullable=False),
        sa.Column("office_id", sa.String(40)),
        sa.Column("channel", sa.String(40)),
        sa.Column("turns", sa.Integer, nullable=False, server_default="0"),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("min_confidence", sa.Float),
        sa.Column("fallback", sa.Boolean, nullable=False),
        sa.Column("booking_code", sa.String(16)),
        sa.Column("reviewed", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("reviewed_by", sa.String(40)),
        sa.Column("reviewed_at", sa.DateTime),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("sender_id", "first_event_id", name="uq_review_conversations_sender_start"),
    )
    for name, columns in (
        ("ix_review_conversations_started", ["started_at", "id"]),
        ("ix_review_conversations_office_started", ["office_id", "started_at"]),
        ("ix_review_conversations_outcome_started", ["outcome", "started_at"]),
        ("ix_review_conversations_reviewed_started", ["reviewed", "started_at"]),
        ("ix_review_conversations_fallback_started", ["fallback", "started_at"]),
        ("ix_review_conversations_confidence", ["min_confidence", "id"]),
        ("ix_review_conversations_turns", ["turns", "id"]),
        ("ix_review_conversations_sender_reversed", ["sender_reversed"]),
        ("ix_review_conversations_first_event", ["first_event_id"]),
    ):
        op.create_index(name, "review_conversations", columns)
    op.create_table(
        "review_user_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer,
                  sa.ForeignKey("review_conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_id", sa.Integer, nullable=False, unique=True),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("intent", sa.String(255)),
        sa.Column("confidence", sa.Float),
        sa.Column("entities", sa.Text),
        sa.Column("ranking", sa.Text),
        sa.Column("office_id", sa.String(40)),
        sa.Column("flagged", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("flagged_by", sa.String(40)),
        sa.Column("flagged_at", sa.DateTime),
    )
    op.create_index("ix_review_user_messages_conversation", "review_user_messages", ["conversation_id", "event_id"])
    op.create_index("ix_review_user_messages_intent", "review_user_messages", ["intent", "conversation_id"])
    op.create_index("ix_review_user_messages_confidence", "review_user_messages", ["confidence"])
    op.create_index("ix_review_user_messages_flagged", "review_user_messages", ["flagged", "at"])
    op.create_table(
        "review_facets",
        sa.Column("conversation_id", sa.Integer,
                  sa.ForeignKey("review_conversations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True, server_default=""),
    )
    op.create_index("ix_review_facets_lookup", "review_facets", ["kind", "name", "value", "conversation_id"])
    op.create_table(
        "review_tags",
        sa.Column("conversation_id", sa.Integer,
                  sa.ForeignKey("review_conversations.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tag", sa.String(40), primary_key=True),
        sa.Column("tagged_by", sa.String(40), nullable=False),
        sa.Column("tagged_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_review_tags_tag", "review_tags", ["tag", "conversation_id"])
    op.create_table(
        "review_saved_filters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(40), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("username", "name", name="uq_review_saved_filters_user_name"),
    )
    state = op.create_table(
        "review_sync_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_event_id", sa.Integer, nullable=False),
        sa.Column("synced_at", sa.DateTime),
    )
    # The one watermark row exists from the start, so claiming a range is always an UPDATE.
    op.bulk_insert(state, [{"id": 1, "last_event_id": 0, "synced_at": None}])


def downgrade() -> None:
    for table in ("review_sync_state", "review_saved_filters", "review_tags", "review_facets",
                  "review_user_messages", "review_conversations"):
        op.drop_table(table)
