"""Tables of the WhatsApp pipeline: the durable inbox and outbox, delivery statuses, sender leases,
reminders, and who the senders are (identities).

`wa_id`, in every table here, is the *sender*: the key one WhatsApp user's conversation, lease,
flood count, bookings, reminders and handoffs are filed under (see antrean/whatsapp/identities.py).
It is the phone number for users known by it before WhatsApp sent business-scoped user IDs, and the
BSUID for everyone else; it never changes for a user, whatever they later change."""

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from antrean.runtime.tables import metadata

# Every received message, written before the webhook answers 200. `id` is the arrival order the
# worker follows per sender; the unique WhatsApp id makes retried deliveries no-ops. A message is
# done once `processed_at` is set; `attempts` > 0 without it means a turn may have been cut short.
# `phone`, `user_id` (BSUID) and `username` are how this message named its sender (each optional).
whatsapp_inbox = Table(
    "whatsapp_inbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("wa_message_id", String(128), nullable=False, unique=True),
    Column("phone_number_id", String(128), nullable=False),
    Column("wa_id", String(140), nullable=False),
    Column("phone", String(20)),
    Column("user_id", String(140)),
    Column("username", String(100)),
    Column("kind", String(20), nullable=False),
    Column("payload", Text, nullable=False),
    Column("wa_timestamp", Integer),
    Column("received_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("processed_at", DateTime),
    Column("outcome", String(20)),
    Index("ix_whatsapp_inbox_pending", "processed_at", "id"),
    Index("ix_whatsapp_inbox_sender", "wa_id", "id"),
    Index("ix_whatsapp_inbox_processed_at", "processed_at"),  # retention (0007)
)

# Every message we send (or, in sandbox mode, would send), numbered per inbox message so that a
# turn replayed after a crash skips what already went out.
whatsapp_outbox = Table(
    "whatsapp_outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("inbox_id", Integer, ForeignKey("whatsapp_inbox.id", ondelete="SET NULL")),
    Column("seq", Integer, nullable=False),
    Column("phone_number_id", String(128), nullable=False),
    Column("wa_id", String(140), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("payload", Text, nullable=False),
    Column("choices", Text),
    Column("status", String(16), nullable=False),
    Column("wa_outgoing_id", String(128)),
    Column("error_code", Integer),
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    UniqueConstraint("inbox_id", "seq", name="uq_whatsapp_outbox_turn_seq"),
    Index("ix_whatsapp_outbox_recipient", "wa_id", "id"),
    Index("ix_whatsapp_outbox_wa_outgoing_id", "wa_outgoing_id"),
    Index("ix_whatsapp_outbox_created_at", "created_at"),  # retention (0007)
)

# Delivery statuses (sent/delivered/read/failed) WhatsApp reports for our outgoing messages.
whatsapp_statuses = Table(
    "whatsapp_statuses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("wa_outgoing_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("wa_timestamp", Integer),
    Column("error_code", Integer),
    Column("error_title", String(200)),
    Column("received_at", DateTime, nullable=False),
    UniqueConstraint("wa_outgoing_id", "status", name="uq_whatsapp_statuses_message_status"),
)

# Which worker (Rasa process) is answering a sender right now. One row per sender; a worker claims
# it with one conditional upsert (free, expired, or already its own), so two workers never feed the
# same sender's messages to Rasa at once and the sender's order is kept. A worker renews its
# leases while it works; a crashed worker's leases simply run out.
whatsapp_sender_leases = Table(
    "whatsapp_sender_leases",
    metadata,
    Column("wa_id", String(140), primary_key=True),
    Column("claimed_by", String(64), nullable=False),
    Column("lease_until", DateTime, nullable=False),
    Index("ix_whatsapp_sender_leases_until", "lease_until"),
)

# Reminders sent the day before an appointment. The primary key (booking, day) is the referee of
# "never twice": the row is written in the same transaction as the outbox row, before sending.
# A rescheduled booking has a new day and gets a reminder for it.
whatsapp_reminders = Table(
    "whatsapp_reminders",
    metadata,
    Column("booking_id", Integer, ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("kind", String(16), nullable=False),  # "text" (inside the 24-hour window) or "template"
    Column("outbox_id", Integer),
    Column("created_at", DateTime, nullable=False),
)

# Who each sender is: the phone ↔ BSUID mapping that keeps one user's conversation together when
# WhatsApp names them differently over time (phone only before 2026, phone and BSUID, BSUID and
# username without the phone). `sender` is the key the other tables use and never changes; the
# phone and the BSUID each belong to at most one sender. Updated by every stored message and by the
# system messages about a changed number or BSUID.
whatsapp_identities = Table(
    "whatsapp_identities",
    metadata,
    Column("sender", String(140), primary_key=True),
    Column("phone", String(20), unique=True),
    Column("user_id", String(140), unique=True),
    Column("parent_user_id", String(140)),
    Column("username", String(100)),
    Column("first_seen", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
