"""Slowing down password guessing without giving anyone a way to lock staff out.

Each failed login counts against three keys: the account from this client address, the address
(whatever accounts it tries: one password sprayed over many), and the account from anywhere (a
guess spread over many addresses). A key has some failures for free; after that each failure makes
the next try from that key wait twice as long as the last, up to a cap. While a key waits, logins
through it are refused before any password is checked, so waiting says nothing about the password.

A hard lock let anyone who knew a username keep its owner out. Here the owner, at another address,
is slowed only by the account-wide key, whose cap is a minute. Keys count typed usernames whether
or not such an account exists, so the answers are the same for both (no username enumeration).
Counts are forgotten after a quiet hour. Addresses come from antrean.console.web.client_address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from antrean.booking.store import from_db_time, to_db_time
from antrean.console.schema import login_throttle


@dataclass(frozen=True)
class Rule:
    free: int  # failures before any wait
    cap: timedelta  # the longest wait
    first: timedelta = timedelta(seconds=1)

    def wait_after(self, failures: int) -> timedelta:
        if failures <= self.free:
            return timedelta(0)
        return min(self.cap, self.first * 2 ** min(failures - self.free - 1, 40))


@dataclass(frozen=True)
class ThrottlePolicy:
    account_from_address: Rule = Rule(free=5, cap=timedelta(minutes=15))
    # Generous: an office's staff may all reach the console from one NAT address.
    address: Rule = Rule(free=20, cap=timedelta(minutes=15))
    # Short cap: this key is the one an attacker can make the owner wait on.
    account: Rule = Rule(free=50, cap=timedelta(minutes=1))
    forget_after: timedelta = timedelta(hours=1)

    def keys(self, username: str, address: str) -> dict[str, Rule]:
        username, address = username.strip().lower()[:40], address[:64] or "-"
        return {f"pair:{username}|{address}": self.account_from_address, f"addr:{address}": self.address,
                f"user:{username}": self.account}


class LoginThrottle:
    def __init__(self, engine: Engine, policy: ThrottlePolicy | None = None):
        self.engine = engine
        self.policy = policy or ThrottlePolicy()

    def waiting_until(self, username: str, address: str, now: datetime) -> datetime | None:
        """When a login through these keys may be tried again; None when it may be now."""
        keys = list(self.policy.keys(username, address))
        with self.engine.connect() as connection:
            until = connection.execute(select(login_throttle.c.blocked_until).where(
                login_throttle.c.key.in_(keys), login_throttle.c.blocked_until > to_db_time(now))
                .order_by(login_throttle.c.blocked_until.desc()).limit(1)).scalar()
        return from_db_time(until)

    def failed(self, username: str, address: str, now: datetime) -> None:
        stale = to_db_time(now - self.policy.forget_after)
        table = login_throttle
        with self.engine.begin() as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            for key, rule in self.policy.keys(username, address).items():
                # One statement counts, so parallel guesses each count; a count gone quiet starts over.
                connection.execute(dialect.insert(table).values(key=key, failures=1, last_failure_at=to_db_time(now))
                                   .on_conflict_do_update(index_elements=[table.c.key], set_={
                                       "failures": case((table.c.last_failure_at < stale, 1),
                                                        else_=table.c.failures + 1),
                                       "last_failure_at": to_db_time(now)}))
                failures = connection.execute(select(table.c.failures).where(table.c.key == key)).scalar_one()
                wait = rule.wait_after(failures)
                if wait:
                    connection.execute(update(table).where(table.c.key == key)
                                       .values(blocked_until=to_db_time(now + wait)))
            self._tidy(connection, now)

    def succeeded(self, username: str, address: str, now: datetime) -> None:
        """The owner got in from here: their own mistypes are forgiven. The address's count stays
        (a login to one's own account must not reset a spray from the same address)."""
        keys = [key for key in self.policy.keys(username, address) if not key.startswith("addr:")]
        with self.engine.begin() as connection:
            connection.execute(delete(login_throttle).where(login_throttle.c.key.in_(keys)))
            self._tidy(connection, now)

    def _tidy(self, connection, now: datetime) -> None:
        # Typed usernames and client addresses are kept no longer than they are of use.
        table = login_throttle
        connection.execute(delete(table).where(
            table.c.last_failure_at < to_db_time(now - self.policy.forget_after),
            or_(table.c.blocked_until.is_(None), table.c.blocked_until < to_db_time(now))))

    def forgive_account(self, username: str) -> None:
        """An admin re-enabled the account or reset its password: its waits end everywhere."""
        username = username.strip().lower()
        with self.engine.begin() as connection:
            connection.execute(delete(login_throttle).where(or_(
                login_throttle.c.key == f"user:{username}",
                login_throttle.c.key.like(f"pair:{_escaped(username)}|%", escape="\\"))))


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
