"""NLU inbox (console): reviewed user messages and their corrected intents and entities; replies
staff sent to handoff requests; photos uploaded in the console's simulator.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One decision per reviewed user message. `message_id` points into the conversation-review read
    # model (review_user_messages, 0005) without a foreign key: the read model may be rebuilt or
    # trimmed, while an accepted example must stay exportable; hence the copy of the text too.
    op.create_table(
        "nlu_reviews",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.Integer, nullable=False, unique=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("normalised", sa.String(500), nullable=False),
        sa.Column("predicted_intent", sa.String(60)),
        sa.Column("intent", sa.String(60)),  # None when discarded
        sa.Column("entities", sa.Text),  # JSON [{"start", "end", "entity", "value"}]
        sa.Column("status", sa.String(16), nullable=False),  # accepted | discarded
        sa.Column("discard_reason", sa.String(16)),  # junk | personal
        sa.Column("reviewed_by", sa.String(40), nullable=False),
        sa.Column("reviewed_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_nlu_reviews_status", "nlu_reviews", ["status", "intent"])
    op.create_index("ix_nlu_reviews_normalised", "nlu_reviews", ["normalised"])
    # What staff answered a handoff request, through which channel and with what result.
    op.create_table(
        "handoff_replies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("request_id", sa.Integer, sa.ForeignKey("handoff_requests.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sender_id", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),  # whatsapp | rest
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # sent | sandbox | recorded
        sa.Column("outbox_id", sa.Integer),
        sa.Column("sent_by", sa.String(40), nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_handoff_replies_sender", "handoff_replies", ["sender_id", "id"])
    # Photos a staff member uploads in the simulator: the sandbox's stand-in for Meta's media
    # store, read (and deleted) by the WhatsApp worker like a downloaded photo.
    op.create_table(
        "simulator_media",
        sa.Column("media_id", sa.String(64), primary_key=True),
        sa.Column("mime_type", sa.String(40), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("simulator_media")
    op.drop_table("handoff_replies")
    op.drop_table("nlu_reviews")
