"""Tables of the conversation read model (migration 0005), on the booking database's metadata.

Rasa's tracker store keeps one JSON blob per event; filtering 1,000,000 of those per page is too
slow, so the console keeps one row per conversation (one Rasa session of one sender) with what the
list filters on, one row per user message (the NLU inbox reads it), and the facets (intents,
actions, slot values) a conversation contains. Everything except the staff's own work (reviewed,
note, tags, flags, saved filters) is derived from the tracker store and can be rebuilt."""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from antrean.runtime.tables import metadata

OUTCOMES = ("booked", "refused", "abandoned", "handoff", "information")

# One row per conversation = one Rasa session of one sender (split where a session starts).
# `sender_id` is the raw Rasa sender (a WhatsApp number is personal data: never shown as is);
# `sender_masked` is what lists show. `first_event_id`/`last_event_id` are tracker-store event ids.
review_conversations = Table(
    "review_conversations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False),
    Column("sender_masked", String(40), nullable=False),
    Column("sender_reversed", String(255), nullable=False),  # "last digits" filter as an indexed prefix range
    Column("first_event_id", Integer, nullable=False),
    Column("last_event_id", Integer, nullable=False),
    Column("started_at", DateTime, nullable=False),  # naive UTC, like every Antrean timestamp
    Column("ended_at", DateTime, nullable=False),
    Column("office_id", String(40)),
    Column("channel", String(40)),
    Column("turns", Integer, nullable=False, server_default="0"),  # user messages
    Column("outcome", String(16), nullable=False),  # one of OUTCOMES
    Column("min_confidence", Float),  # lowest intent confidence of a user message; None: no message
    Column("fallback", Boolean, nullable=False),
    Column("booking_code", String(16)),
    Column("reviewed", Boolean, nullable=False, server_default=text("false")),
    Column("reviewed_by", String(40)),
    Column("reviewed_at", DateTime),
    Column("note", Text),
    UniqueConstraint("sender_id", "first_event_id", name="uq_review_conversations_sender_start"),
    Index("ix_review_conversations_started", "started_at", "id"),
    Index("ix_review_conversations_office_started", "office_id", "started_at"),
    Index("ix_review_conversations_outcome_started", "outcome", "started_at"),
    Index("ix_review_conversations_reviewed_started", "reviewed", "started_at"),
    Index("ix_review_conversations_fallback_started", "fallback", "started_at"),
    # Sorts end with the id so that one index walk gives a page in order on both databases.
    Index("ix_review_conversations_confidence", "min_confidence", "id"),
    Index("ix_review_conversations_turns", "turns", "id"),
    Index("ix_review_conversations_sender_reversed", "sender_reversed"),
    Index("ix_review_conversations_first_event", "first_event_id"),  # the sync finds a batch's new rows
)

# One row per user message. `event_id` is the tracker store's `events.id` (unique: a re-sync never
# duplicates); `entities` and `ranking` are JSON text as Rasa wrote them (ranking: up to 10
# {name, confidence}). `flagged` marks a message staff want looked at (the NLU inbox).
review_user_messages = Table(
    "review_user_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("conversation_id", Integer, ForeignKey("review_conversations.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", Integer, nullable=False, unique=True),
    Column("sender_id", String(255), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("text", Text),
    Column("intent", String(255)),
    Column("confidence", Float),
    Column("entities", Text),
    Column("ranking", Text),
    Column("office_id", String(40)),
    Column("flagged", Boolean, nullable=False, server_default=text("false")),
    Column("flagged_by", String(40)),
    Column("flagged_at", DateTime),
    Index("ix_review_user_messages_conversation", "conversation_id", "event_id"),
    Index("ix_review_user_messages_intent", "intent", "conversation_id"),
    Index("ix_review_user_messages_confidence", "confidence"),
    Index("ix_review_user_messages_flagged", "flagged", "at"),
)

# What a conversation contains, for the intent / action / slot-value / free-text filters:
# kind "intent" (name), "action" (name), "slot" (name, value as text, cut to 200 characters) or
# "word" (a lower-cased word of the applicant's messages, NIKs and phone numbers masked first;
# matched by prefix with an index range, which needs no database-specific full-text search).
review_facets = Table(
    "review_facets",
    metadata,
    Column("conversation_id", Integer, ForeignKey("review_conversations.id", ondelete="CASCADE"),
           primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("value", String(200), primary_key=True, server_default=""),
    Index("ix_review_facets_lookup", "kind", "name", "value", "conversation_id"),
)

review_tags = Table(
    "review_tags",
    metadata,
    Column("conversation_id", Integer, ForeignKey("review_conversations.id", ondelete="CASCADE"),
           primary_key=True),
    Column("tag", String(40), primary_key=True),
    Column("tagged_by", String(40), nullable=False),
    Column("tagged_at", DateTime, nullable=False),
    Index("ix_review_tags_tag", "tag", "conversation_id"),
)

# Saved list filters per staff member: `query` is the list page's query string.
review_saved_filters = Table(
    "review_saved_filters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(40), nullable=False),
    Column("name", String(60), nullable=False),
    Column("query", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("username", "name", name="uq_review_saved_filters_user_name"),
)

# The sync's watermark: the highest tracker-store event id copied so far (one row, id = 1).
# Claiming a range is a conditional UPDATE of this row, so two console processes never copy the
# same events at once.
review_sync_state = Table(
    "review_sync_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_event_id", Integer, nullable=False),
    Column("synced_at", DateTime),
)
