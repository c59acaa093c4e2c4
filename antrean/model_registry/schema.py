"""Tables of the model registry: every trained model (its manifest and evaluation) and the history
of promotions, whose latest entries say which model is live."""

from sqlalchemy import BigInteger, Column, DateTime, Float, ForeignKey, Index, Integer, String, Table, Text

from antrean.runtime.tables import metadata

# One row per trained model. The file is models/<id>.tar.gz with <id>.json beside it (the same
# manifest, so a models folder copied elsewhere still explains itself). A pruned model keeps its
# row, because the promotion history names it; only its files go.
model_records = Table(
    "model_records",
    metadata,
    Column("id", String(40), primary_key=True),  # <UTC time>-<short data hash>
    Column("file_name", String(100), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("trained_by", String(40), nullable=False),
    Column("training_seconds", Float),
    Column("data_fingerprint", String(64), nullable=False),
    Column("rasa_version", String(20), nullable=False),
    Column("git_revision", String(60)),
    Column("manifest", Text, nullable=False),  # JSON
    Column("evaluation", Text),  # JSON; None until evaluated
    Column("evaluated_at", DateTime),
    Column("pruned_at", DateTime),
    Index("ix_model_records_created_at", "created_at"),
)

# Every change of the live model: a promotion (through the gate or overridden with a reason) or a
# rollback. `seq` is unique and each change takes the next number after the one it read, so two
# promotions racing from the same live model cannot both succeed: the database is the referee.
model_promotions = Table(
    "model_promotions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(40), nullable=False),
    Column("action", String(16), nullable=False),  # promote | override | rollback
    Column("from_model", String(40), ForeignKey("model_records.id")),
    Column("to_model", String(40), ForeignKey("model_records.id"), nullable=False),
    Column("override_reason", Text),
    Column("figures", Text),  # JSON: the gate's verdict and the key figures of both models
)
