"""Job leases: named jobs (retention, erasure) get a lock table of their own instead of borrowing
the WhatsApp sender leases.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("lease_until", sa.DateTime, nullable=False),
    )
    # The daily retention run's lease moves along, so the day's run is not repeated after the upgrade.
    op.execute("INSERT INTO job_leases (name, holder, lease_until) SELECT wa_id, claimed_by, lease_until "
               "FROM whatsapp_sender_leases WHERE wa_id = 'retention:daily'")
    op.execute("DELETE FROM whatsapp_sender_leases WHERE wa_id = 'retention:daily'")


def downgrade() -> None:
    op.execute("INSERT INTO whatsapp_sender_leases (wa_id, claimed_by, lease_until) SELECT name, holder, lease_until "
               "FROM job_leases WHERE name = 'retention:daily'")
    op.drop_table("job_leases")
