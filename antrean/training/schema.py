"""Table of the NLU inbox: messages staff reviewed to become training (or test) examples."""

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from antrean.runtime.tables import metadata

# One decision per reviewed user message of the conversation-review read model (no foreign key:
# the read model can be rebuilt; the accepted example keeps its own copy of the text).
nlu_reviews = Table(
    "nlu_reviews",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", Integer, nullable=False, unique=True),
    Column("text", Text, nullable=False),
    Column("normalised", String(500), nullable=False),
    Column("predicted_intent", String(60)),
    Column("intent", String(60)),
    Column("entities", Text),
    Column("status", String(16), nullable=False),
    Column("discard_reason", String(16)),
    Column("reviewed_by", String(40), nullable=False),
    Column("reviewed_at", DateTime, nullable=False),
    Index("ix_nlu_reviews_status", "status", "intent"),
    Index("ix_nlu_reviews_normalised", "normalised"),
)
