"""Model registry: trained models with their manifests and evaluations, and promotions.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_records",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("file_name", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("trained_by", sa.String(40), nullable=False),
        sa.Column("training_seconds", sa.Float),
        sa.Column("data_fingerprint", sa.String(64), nullable=False),
        sa.Column("rasa_version", sa.String(20), nullable=False),
        sa.Column("git_revision", sa.String(60)),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("evaluation", sa.Text),
        sa.Column("evaluated_at", sa.DateTime),
        sa.Column("pruned_at", sa.DateTime),
    )
    op.create_index("ix_model_records_created_at", "model_records", ["created_at"])
    op.create_table(
        "model_promotions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False, unique=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(40), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_model", sa.String(40), sa.ForeignKey("model_records.id")),
        sa.Column("to_model", sa.String(40), sa.ForeignKey("model_records.id"), nullable=False),
        sa.Column("override_reason", sa.Text),
        sa.Column("figures", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("model_promotions")
    op.drop_index("ix_model_records_created_at", "model_records")
    op.drop_table("model_records")
