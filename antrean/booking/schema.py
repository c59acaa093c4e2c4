"""Tables of the booking database (SQLAlchemy Core).

Core rather than ORM mapping: the decisive statements are conditional UPDATEs whose row counts say
whether a seat was won, and the database — not Python — must be the referee under concurrency:
- `session_seats.booked` only grows through `UPDATE … WHERE booked < capacity` (row lock / write lock);
- `queue_days.last_number` hands out queue numbers, and (office, day, number) is unique;
- a partial unique index allows one active booking per NIK across all offices;
- `sender_quotas.active` caps active bookings per WhatsApp number the same way as seats."""

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    text,
)

metadata = MetaData()

ACTIVE_SQL = text("status IN ('booked', 'checked_in')")

bookings = Table(
    "bookings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(16), nullable=False, unique=True),
    Column("office_id", String(40), nullable=False),
    Column("day", Date, nullable=False),
    Column("session_start", Time, nullable=False),
    Column("queue_number", Integer, nullable=False),
    Column("full_name", String(100), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("address", String(200), nullable=False),
    Column("nik", String(16), nullable=False),
    Column("application_type", String(16), nullable=False),
    Column("is_minor", Boolean, nullable=False),
    Column("whatsapp_number", String(20), nullable=False),
    Column("photo_ref", String(200)),
    Column("status", String(16), nullable=False),
    Column("request_key", String(100), unique=True),
    Column("reschedule_count", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("checked_in_at", DateTime),
    Column("finished_at", DateTime),
    UniqueConstraint("office_id", "day", "queue_number", name="uq_bookings_queue_number"),
    Index("ix_bookings_office_day", "office_id", "day"),
    Index("ix_bookings_whatsapp_number", "whatsapp_number"),
    Index("ix_bookings_nik", "nik"),
    Index(
        "uq_bookings_active_nik",
        "nik",
        unique=True,
        postgresql_where=ACTIVE_SQL,
        sqlite_where=ACTIVE_SQL,
    ),
)

session_seats = Table(
    "session_seats",
    metadata,
    Column("office_id", String(40), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("session_start", Time, primary_key=True),
    Column("booked", Integer, nullable=False, server_default="0"),
)

queue_days = Table(
    "queue_days",
    metadata,
    Column("office_id", String(40), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last_number", Integer, nullable=False, server_default="0"),
)

sender_quotas = Table(
    "sender_quotas",
    metadata,
    Column("whatsapp_number", String(20), primary_key=True),
    Column("active", Integer, nullable=False, server_default="0"),
)

booking_events = Table(
    "booking_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("booking_id", Integer, ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("actor", String(60), nullable=False),
    Column("detail", Text),
    Index("ix_booking_events_booking_id", "booking_id"),
)

# Conversations an applicant asked to hand over to a person; the staff console answers them.
handoff_requests = Table(
    "handoff_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(100), nullable=False),
    Column("office_id", String(40)),
    Column("requested_at", DateTime, nullable=False),
    Column("last_message", Text),
    Column("answered_at", DateTime),
    Column("answered_by", String(60)),
    Index("ix_handoff_requests_open", "answered_at", "requested_at"),
)

# --- staff console (antrean/console) ------------------------------------------------------------
# Staff accounts. The role names a fixed set of permission flags (antrean/console/permissions.py);
# `failed_logins`/`locked_until` slow down password guessing per account.
staff_users = Table(
    "staff_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(40), nullable=False, unique=True),
    Column("full_name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("office_id", String(40)),  # None: every office
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Server-side sessions: the cookie carries a random token, the table keeps only its SHA-256, so a
# leaked database does not hand out live sessions, and logout/disable revoke at once.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("flash", Text),  # one message shown after a redirect (Post/Redirect/Get)
    Index("ix_staff_sessions_user_id", "user_id"),
)

# Who saw personal data (full NIK, number, photo), exported it, or changed a booking, and when.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(40), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(100)),
    Column("office_id", String(40)),
    Column("detail", Text),
    Column("remote_addr", String(64)),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor", "actor"),
)

# Applicants called to a counter. The primary key makes the database the referee: two counters
# pressing "call next" at the same moment can never call the same applicant.
counter_calls = Table(
    "counter_calls",
    metadata,
    Column("booking_id", Integer, ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True),
    Column("office_id", String(40), nullable=False),
    Column("day", Date, nullable=False),
    Column("counter_label", String(20), nullable=False),
    Column("called_at", DateTime, nullable=False),
    Column("called_by", String(40), nullable=False),
    Index("ix_counter_calls_office_day", "office_id", "day"),
)

# --- WhatsApp channel (antrean/whatsapp) -------------------------------------------------------
# Every received message, written before the webhook answers 200. `id` is the arrival order the
# worker follows per sender; the unique WhatsApp id makes retried deliveries no-ops. A message is
# done once `processed_at` is set; `attempts` > 0 without it means a turn may have been cut short.
whatsapp_inbox = Table(
    "whatsapp_inbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("wa_message_id", String(128), nullable=False, unique=True),
    Column("phone_number_id", String(128), nullable=False),
    Column("wa_id", String(128), nullable=False),
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
    Column("wa_id", String(128), nullable=False),
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

# --- NLU inbox, handoff replies, simulator (migration 0006) ------------------------------------
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

# Staff answers to handoff requests (WhatsApp: also in whatsapp_outbox; REST: only here, where
# the REST client fetches them).
handoff_replies = Table(
    "handoff_replies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", Integer, ForeignKey("handoff_requests.id", ondelete="CASCADE"), nullable=False),
    Column("sender_id", String(100), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("outbox_id", Integer),
    Column("sent_by", String(40), nullable=False),
    Column("sent_at", DateTime, nullable=False),
    Index("ix_handoff_replies_sender", "sender_id", "id"),
)

# Photos uploaded in the console's simulator, waiting for the WhatsApp worker to "download" them.
simulator_media = Table(
    "simulator_media",
    metadata,
    Column("media_id", String(64), primary_key=True),
    Column("mime_type", String(40), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

# --- WhatsApp operations (migration 0007) -------------------------------------------------------
# Which worker (Rasa process) is answering a sender right now. One row per sender; a worker claims
# it with one conditional upsert (free, expired, or already its own), so two workers never feed the
# same sender's messages to Rasa at once and the sender's order is kept. A worker renews its
# leases while it works; a crashed worker's leases simply run out.
whatsapp_sender_leases = Table(
    "whatsapp_sender_leases",
    metadata,
    Column("wa_id", String(128), primary_key=True),
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
