"""Login throttling by account and client address with growing waits, instead of the per-account
lock (whose columns go: a lock let anyone keep staff out).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", sa.DateTime, nullable=False),
        sa.Column("blocked_until", sa.DateTime),
    )
    op.create_index("ix_login_throttle_last_failure_at", "login_throttle", ["last_failure_at"])
    # Plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35, PostgreSQL), not a batch copy: SQLite drops the
    # old copy of staff_users with an implicit DELETE, which would end every session by ON DELETE CASCADE.
    op.execute("ALTER TABLE staff_users DROP COLUMN locked_until")
    op.execute("ALTER TABLE staff_users DROP COLUMN failed_logins")


def downgrade() -> None:
    op.add_column("staff_users", sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"))
    op.add_column("staff_users", sa.Column("locked_until", sa.DateTime))
    op.drop_index("ix_login_throttle_last_failure_at", "login_throttle")
    op.drop_table("login_throttle")
