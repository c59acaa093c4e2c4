"""Staff accounts and their sessions: argon2 password hashes, server-side sessions with a CSRF
token each, expiry, and growing waits after wrong passwords (antrean.console.throttle).

Used by the console (login, every request) and by `python -m antrean users …`. Each method is one
short transaction; the caller passes the clock's "now" through the injectable clock."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from antrean.booking.offices import real_office_id
from antrean.booking.store import from_db_time, to_db_time
from antrean.console.permissions import ROLES, Permission, permissions_of
from antrean.console.schema import staff_sessions, staff_users
from antrean.console.throttle import LoginThrottle, ThrottlePolicy
from antrean.runtime.clock import Clock

MIN_PASSWORD_LENGTH = 12
USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


class AccountError(ValueError):
    """A refused account change (unknown user, weak password, …); the message is for operators."""


class LoginRefused(Exception):
    class Reason(str, Enum):
        WRONG_CREDENTIALS = "wrong_credentials"  # unknown user or wrong password: never say which
        DISABLED = "disabled"
        THROTTLED = "throttled"  # too many failures through this account or address: wait until `until`

    def __init__(self, reason: LoginRefused.Reason, until: datetime | None = None):
        super().__init__(reason.value)
        self.reason = reason
        self.until = until


@dataclass(frozen=True)
class StaffUser:
    id: int
    username: str
    full_name: str
    role: str
    office_id: str | None
    active: bool = True

    @property
    def permissions(self) -> Permission:
        return permissions_of(self.role)

    @property
    def is_authenticated(self) -> bool:
        return True

    def can(self, permission: Permission) -> bool:
        return self.active and (self.permissions & permission) == permission

    def may_see_office(self, office_id: str) -> bool:
        # An office's practice twin (antrean.booking.practice) belongs to the office's staff too.
        return self.office_id is None or self.office_id == real_office_id(office_id)


class AnonymousStaff:
    """Stands in for "nobody logged in", so views never test for None (flasky's AnonymousUser)."""

    username = "-"
    full_name = ""
    role = ""
    office_id = None
    is_authenticated = False

    def can(self, _permission: Permission) -> bool:
        return False

    def may_see_office(self, _office_id: str) -> bool:
        return False


@dataclass(frozen=True)
class StaffSession:
    token_hash: str
    user: StaffUser
    csrf_token: str
    expires_at: datetime
    flash: dict | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_strength(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if username.lower() in password.lower():
        raise AccountError("the password must not contain the username")


def _user(row) -> StaffUser:
    return StaffUser(row.id, row.username, row.full_name, row.role, row.office_id, bool(row.active))


class StaffAccounts:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        hasher: PasswordHasher | None = None,
        session_idle: timedelta = timedelta(minutes=30),
        session_max: timedelta = timedelta(hours=12),
        throttle: ThrottlePolicy | None = None,
    ):
        self.engine = engine
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self.session_idle = session_idle
        self.session_max = session_max
        self.throttle = LoginThrottle(engine, throttle)
        # Verifying against this when the user is unknown takes as long as a real check, so the
        # response time does not tell which usernames exist.
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))

    # --- accounts ----------------------------------------------------------------------------------

    def add(self, username: str, full_name: str, role: str, password: str, office_id: str | None = None) -> StaffUser:
        username = username.strip().lower()
        if not username or not set(username) <= USERNAME_CHARS or len(username) > 40:
            raise AccountError("a username is 1–40 characters: a-z, 0-9, '.', '_' or '-'")
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        if not full_name.strip():
            raise AccountError("a full name is needed")
        check_password_strength(password, username)
        now = to_db_time(self.clock())
        try:
            with self.engine.begin() as connection:
                user_id = connection.execute(staff_users.insert().values(
                    username=username, full_name=full_name.strip(), role=role, office_id=office_id,
                    password_hash=self.hasher.hash(password), active=True, created_at=now, updated_at=now,
                )).inserted_primary_key[0]
        except IntegrityError:
            raise AccountError(f"the username {username!r} is taken") from None
        return StaffUser(user_id, username, full_name.strip(), role, office_id)

    def get(self, username: str) -> StaffUser | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(staff_users).where(staff_users.c.username == username.lower())).first()
        return _user(row) if row else None

    def all(self) -> list[StaffUser]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(staff_users).order_by(staff_users.c.username))
            return [_user(row) for row in rows]

    def display_names(self) -> dict[str, str]:
        """username → full name, for pages that say who did something (disabled accounts too:
        their work stays in the history)."""
        with self.engine.connect() as connection:
            return dict(connection.execute(select(staff_users.c.username, staff_users.c.full_name)).all())

    def disable(self, username: str) -> None:
        """Disabling also ends every open session of the account at once."""
        self._update(username, active=False)

    def enable(self, username: str) -> None:
        self._update(username, active=True)
        self.throttle.forgive_account(username)

    def reset_password(self, username: str, password: str) -> None:
        check_password_strength(password, username.lower())
        self._update(username, password_hash=self.hasher.hash(password))
        self.throttle.forgive_account(username)

    def _update(self, username: str, **values) -> None:
        with self.engine.begin() as connection:
            user_id = connection.execute(
                select(staff_users.c.id).where(staff_users.c.username == username.strip().lower())
            ).scalar()
            if user_id is None:
                raise AccountError(f"no staff account {username!r}")
            connection.execute(update(staff_users).where(staff_users.c.id == user_id)
                               .values(updated_at=to_db_time(self.clock()), **values))
            connection.execute(delete(staff_sessions).where(staff_sessions.c.user_id == user_id))

    # --- logging in --------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str, address: str = "") -> StaffUser:
        """The account for this username and password, tried from the client `address`; refused
        (LoginRefused) when wrong, disabled, or while too many failures make this try wait."""
        now = self.clock()
        username = username.strip().lower()
        until = self.throttle.waiting_until(username, address, now)
        if until is not None:
            raise LoginRefused(LoginRefused.Reason.THROTTLED, until)
        with self.engine.connect() as connection:
            row = connection.execute(select(staff_users).where(staff_users.c.username == username)).first()
        if row is None:
            self._verify(self._dummy_hash, password)
        if row is None or not self._verify(row.password_hash, password):
            self.throttle.failed(username, address, now)
            raise LoginRefused(LoginRefused.Reason.WRONG_CREDENTIALS)
        self.throttle.succeeded(username, address, now)
        if not row.active:
            # Said only after a correct password, so it reveals nothing to a guesser.
            raise LoginRefused(LoginRefused.Reason.DISABLED)
        if self.hasher.check_needs_rehash(row.password_hash):
            with self.engine.begin() as connection:
                connection.execute(update(staff_users).where(staff_users.c.id == row.id)
                                   .values(password_hash=self.hasher.hash(password)))
        return _user(row)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    # --- sessions ----------------------------------------------------------------------------------

    def open_session(self, user: StaffUser) -> str:
        """A fresh session (never a reused one: no session fixation). Returns the cookie's token."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.engine.begin() as connection:
            connection.execute(staff_sessions.insert().values(
                token_hash=hash_token(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                created_at=to_db_time(now), last_seen_at=to_db_time(now),
                expires_at=to_db_time(now + self.session_max),
            ))
            # Tidy up: expired sessions of anyone are of no use to keep.
            connection.execute(delete(staff_sessions).where(staff_sessions.c.expires_at < to_db_time(now)))
        return token

    def session(self, token: str | None) -> StaffSession | None:
        """The live session for a cookie token, or None if unknown, idle too long, past its maximum
        age, or its account is disabled. Seeing it keeps it alive (at most one write a minute)."""
        if not token:
            return None
        now = self.clock()
        token_hash = hash_token(token)
        with self.engine.connect() as connection:
            row = connection.execute(
                select(staff_sessions, staff_users)
                .join(staff_users, staff_users.c.id == staff_sessions.c.user_id)
                .where(staff_sessions.c.token_hash == token_hash)
            ).first()
        if row is None:
            return None
        last_seen = from_db_time(row.last_seen_at)
        expires_at = from_db_time(row.expires_at)
        if not row.active or expires_at <= now or last_seen + self.session_idle <= now:
            self.close_session(token)
            return None
        if now - last_seen >= timedelta(minutes=1):
            with self.engine.begin() as connection:
                connection.execute(update(staff_sessions).where(staff_sessions.c.token_hash == token_hash)
                                   .values(last_seen_at=to_db_time(now)))
        user = StaffUser(row.user_id, row.username, row.full_name, row.role, row.office_id, bool(row.active))
        return StaffSession(token_hash, user, row.csrf_token, expires_at, json.loads(row.flash) if row.flash else None)

    def close_session(self, token: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == hash_token(token)))

    def set_flash(self, token_hash: str, message: dict | None) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(staff_sessions).where(staff_sessions.c.token_hash == token_hash)
                               .values(flash=json.dumps(message, ensure_ascii=False) if message else None))
