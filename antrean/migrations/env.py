"""Alembic environment: the URL comes from the caller (antrean.db.upgrade_database) or
ANTREAN_DATABASE_URL, never from a file, so no credentials live in the repository."""

from alembic import context

from antrean.booking.schema import metadata
from antrean.db import database_url, make_engine
from antrean.review import schema as _review_schema  # noqa: F401  (its tables join the metadata)

url = context.config.attributes.get("url") or database_url()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
