"""Staff accounts (on SQLite and PostgreSQL) and `python -m antrean users …`."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from antrean.cli import main
from antrean.console.accounts import AccountError, LoginRefused, StaffAccounts
from antrean.console.config import cheap_password_hasher
from antrean.console.permissions import Permission
from antrean.console.schema import staff_users
from antrean.runtime.db import make_engine

# A real server and real database files: not part of `make unit`.
pytestmark = pytest.mark.integration

PASSWORD = "kopi-susu-gula-aren-2026"


@pytest.fixture
def accounts(database_url, clock):
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(staff_users.delete())
    yield StaffAccounts(engine, clock, cheap_password_hasher())
    engine.dispose()


def test_passwords_are_stored_as_argon2id_hashes_only(accounts):
    accounts.add("ani", "Ani Wijaya", "admin", PASSWORD)
    with accounts.engine.connect() as connection:
        stored = connection.execute(select(staff_users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert accounts.authenticate("ANI", PASSWORD).role == "admin"


@pytest.mark.parametrize(("password", "why"), [("pendek", "at least 12"), ("ani-ani-ani-ani-1", "username")])
def test_weak_passwords_are_refused(accounts, password, why):
    with pytest.raises(AccountError, match=why):
        accounts.add("ani", "Ani Wijaya", "admin", password)


def test_usernames_are_unique_and_roles_known(accounts):
    accounts.add("ani", "Ani Wijaya", "admin", PASSWORD)
    with pytest.raises(AccountError, match="taken"):
        accounts.add("Ani", "Ani Lain", "counter", PASSWORD)
    with pytest.raises(AccountError, match="unknown role"):
        accounts.add("budi", "Budi", "superuser", PASSWORD)


def test_resetting_a_password_ends_existing_sessions(accounts):
    user = accounts.add("ani", "Ani Wijaya", "counter", PASSWORD)
    token = accounts.open_session(user)
    accounts.reset_password("ani", "teh-hijau-hangat-2026")
    assert accounts.session(token) is None
    with pytest.raises(LoginRefused):
        accounts.authenticate("ani", PASSWORD)
    assert accounts.authenticate("ani", "teh-hijau-hangat-2026").username == "ani"


@pytest.mark.parametrize(("role", "can", "cannot"), [
    ("security", Permission.CHECK_IN, Permission.VIEW_BOOKINGS),
    ("counter", Permission.SERVE | Permission.REVEAL_PERSONAL_DATA, Permission.CHECK_IN),
    ("reviewer", Permission.REVIEW, Permission.REVEAL_PERSONAL_DATA),
    ("admin", Permission.ADMINISTER | Permission.CHECK_IN | Permission.MODELS, Permission(0x400)),
    ("maintainer", Permission.MODELS | Permission.REVIEW, Permission.ADMINISTER | Permission.REVEAL_PERSONAL_DATA),
])
def test_roles_grant_exactly_their_permissions(accounts, role, can, cannot):
    user = accounts.add("staf", "Staf", role, PASSWORD)
    assert user.can(can)
    assert not user.can(cannot)


@pytest.fixture
def cli_env(monkeypatch, sqlite_url):
    monkeypatch.setenv("ANTREAN_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ANTREAN_SECRET_KEY", "k" * 40)
    monkeypatch.delenv("ANTREAN_CLOCK", raising=False)
    return sqlite_url


def run(monkeypatch, argv, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


def test_cli_adds_lists_disables_and_resets_staff(monkeypatch, capsys, cli_env):
    assert run(monkeypatch, ["users", "add", "budi", "--role", "security", "--name", "Budi Hartono",
                             "--office", "batam", "--password-stdin"], PASSWORD + "\n") == 0
    assert "added budi (security, batam)" in capsys.readouterr().out
    assert run(monkeypatch, ["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "budi" in listing and "Budi Hartono" in listing and "security" in listing
    assert PASSWORD not in listing
    assert run(monkeypatch, ["users", "disable", "budi"]) == 0
    assert run(monkeypatch, ["users", "reset", "budi", "--password-stdin"], "es-teh-manis-2026\n") == 0
    assert "password changed: budi" in capsys.readouterr().out


def test_cli_refuses_weak_passwords_unknown_offices_and_unknown_users(monkeypatch, capsys, cli_env):
    assert run(monkeypatch, ["users", "add", "budi", "--role", "admin", "--name", "Budi", "--password-stdin"],
               "short\n") == 2
    assert "at least 12 characters" in capsys.readouterr().err
    assert run(monkeypatch, ["users", "add", "budi", "--role", "admin", "--name", "Budi", "--office", "mars",
                             "--password-stdin"], PASSWORD + "\n") == 2
    assert "unknown office" in capsys.readouterr().err
    assert run(monkeypatch, ["users", "disable", "nobody"]) == 2
    assert "no staff account 'nobody'" in capsys.readouterr().err


def test_cli_has_no_password_option_on_the_command_line():
    with pytest.raises(SystemExit):
        main(["users", "add", "budi", "--role", "admin", "--name", "Budi", "--password", PASSWORD])
