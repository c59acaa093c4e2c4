"""Alembic environment: the URL comes from the caller (antrean.runtime.db.upgrade_database) or
ANTREAN_DATABASE_URL, never from a file, so no credentials live in the repository."""

from alembic import context

# Every area's tables join the one MetaData when its schema module is imported.
from antrean.booking import schema as _booking  # noqa: F401
from antrean.console import schema as _console  # noqa: F401
from antrean.handoff import schema as _handoff  # noqa: F401
from antrean.model_registry import schema as _model_registry  # noqa: F401
from antrean.review import schema as _review  # noqa: F401
from antrean.runtime import schema as _runtime  # noqa: F401
from antrean.runtime.db import database_url, make_engine
from antrean.runtime.tables import metadata
from antrean.training import schema as _training  # noqa: F401
from antrean.whatsapp import schema as _whatsapp  # noqa: F401

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
