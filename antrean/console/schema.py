"""Tables of the staff console: accounts, sessions, the audit log, counter calls and the
simulator's photos."""

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    text,
)

from antrean.runtime.tables import metadata

# Staff accounts. The role names a fixed set of permission flags (antrean/console/permissions.py).
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
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Failed logins per key (account from an address, address, account): how many lately, and until when
# the next try waits (antrean/console/throttle.py). Rows go once quiet for an hour.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(120), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", DateTime, nullable=False),
    Column("blocked_until", DateTime),
    Index("ix_login_throttle_last_failure_at", "last_failure_at"),
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

# Photos uploaded in the console's simulator, waiting for the WhatsApp worker to "download" them.
simulator_media = Table(
    "simulator_media",
    metadata,
    Column("media_id", String(64), primary_key=True),
    Column("mime_type", String(40), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime, nullable=False),
)
