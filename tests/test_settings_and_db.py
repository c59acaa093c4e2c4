import os
import stat

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from antrean.booking.schema import metadata
from antrean.db import database_url, make_engine
from antrean.settings import SettingsError, secret_key


def test_the_default_database_is_a_sqlite_file_under_var():
    assert database_url({}).startswith("sqlite:///") and database_url({}).endswith("var/antrean.sqlite3")
    assert database_url({"ANTREAN_DATABASE_URL": "postgresql://x/y"}) == "postgresql://x/y"


def test_the_secret_key_comes_from_the_environment(tmp_path):
    assert secret_key({"ANTREAN_SECRET_KEY": "s" * 32}, tmp_path) == b"s" * 32
    with pytest.raises(SettingsError, match="at least 32"):
        secret_key({"ANTREAN_SECRET_KEY": "short"}, tmp_path)


def test_without_one_a_private_random_key_is_kept_under_var(tmp_path):
    first = secret_key({}, tmp_path)
    assert len(first) == 64
    assert secret_key({}, tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600


def ours(name, type_, parent_names) -> bool:
    if type_ == "table":
        return name in metadata.tables
    return parent_names.get("table_name") in metadata.tables if "table_name" in parent_names else True


@pytest.mark.integration
def test_migrations_build_exactly_the_schema_the_code_uses(database_url):
    engine = make_engine(database_url)
    with engine.connect() as connection:
        # Only Antrean's tables: Rasa's tracker store may share the database (its `events` table).
        context = MigrationContext.configure(connection, opts={"include_name": ours})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []
