"""Infrastructure's own table: the leases of named jobs (antrean/runtime/job_leases.py)."""

from sqlalchemy import Column, DateTime, String, Table

from antrean.runtime.tables import metadata

job_leases = Table(
    "job_leases",
    metadata,
    Column("name", String(64), primary_key=True),  # the job, e.g. "retention:daily"; never personal data
    Column("holder", String(128), nullable=False),  # host-pid-random of the process running it
    Column("lease_until", DateTime, nullable=False),  # UTC, naive; after it anyone may take the job over
)
