"""Tables of conversations handed over to staff: the requests and the staff's replies."""

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from antrean.runtime.tables import metadata

# Conversations an applicant asked to hand over to a person; the staff console answers them.
handoff_requests = Table(
    "handoff_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(140), nullable=False),
    Column("office_id", String(40)),
    Column("requested_at", DateTime, nullable=False),
    Column("last_message", Text),
    Column("answered_at", DateTime),
    Column("answered_by", String(60)),
    Index("ix_handoff_requests_open", "answered_at", "requested_at"),
)

# Staff answers to handoff requests (WhatsApp: also in whatsapp_outbox; REST: only here, where
# the REST client fetches them).
handoff_replies = Table(
    "handoff_replies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", Integer, ForeignKey("handoff_requests.id", ondelete="CASCADE"), nullable=False),
    Column("sender_id", String(140), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("outbox_id", Integer),
    Column("sent_by", String(40), nullable=False),
    Column("sent_at", DateTime, nullable=False),
    Index("ix_handoff_replies_sender", "sender_id", "id"),
)
