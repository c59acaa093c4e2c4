"""Password guessing is slowed per account and per client address with growing waits, never by a
hard lock that anyone could use to keep staff out; a failed login reads the same whether or not the
account exists. Client addresses come through a trusted proxy (see test_cookies_and_proxies)."""

from __future__ import annotations

import re
from datetime import timedelta
from ipaddress import ip_network

import httpx
import pytest

from antrean.console.accounts import LoginRefused
from tests.console.conftest import CSRF_FIELD

pytestmark = pytest.mark.integration

WRONG = "Musim-Hujan-2026!"
WAIT = "Terlalu banyak percobaan masuk yang gagal"


class Visitor:
    """A browser at one client address, behind the office's TLS proxy (trusted: loopback)."""

    def __init__(self, console, address: str):
        console.app.ctx.config.trusted_proxies = (ip_network("127.0.0.0/8"),)
        self.http = httpx.Client(base_url=console.base_url, headers={"X-Forwarded-For": address}, timeout=30)
        console.clients.append(self)

    def login(self, username: str, password: str) -> httpx.Response:
        token = CSRF_FIELD.search(self.http.get("/masuk").text).group(1)
        return self.http.post("/masuk", data={"username": username, "password": password, "csrf_token": token})

    def close(self) -> None:
        self.http.close()


def waited(response: httpx.Response) -> int | None:
    """Seconds the console asks to wait, or None when it checked the password."""
    if response.status_code == 429:
        assert WAIT in response.text
        return int(response.headers["retry-after"])
    assert response.status_code in (302, 401), response.status_code
    return None


def test_spraying_one_password_over_many_accounts_from_one_address_slows_down(console):
    for n in range(30):
        console.add_user(f"staf{n:02d}", "counter")
    attacker = Visitor(console, "203.0.113.9")
    answers = [waited(attacker.login(f"staf{n:02d}", WRONG)) for n in range(30)]
    assert answers[:20] == [None] * 20  # an office behind one address can mistype now and then
    assert answers[20] is None and answers[21:] == [1] * 9  # then every guess waits, none is checked
    console.clock.moment += timedelta(seconds=1)
    assert waited(attacker.login("staf29", WRONG)) is None
    assert waited(attacker.login("staf29", WRONG)) == 2  # the waits grow
    # A right password from that address waits too, unchecked: waiting is not a password oracle.
    assert waited(attacker.login("staf00", console.passwords["staf00"])) == 2
    colleague = Visitor(console, "198.51.100.7")
    assert colleague.login("staf00", console.passwords["staf00"]).status_code == 302


def test_guessing_one_account_waits_longer_and_longer_from_that_address(console):
    attacker = Visitor(console, "203.0.113.9")
    answers = []
    while len([a for a in answers if a]) < 9:
        answers.append(waited(attacker.login("counter", WRONG)))
        if answers[-1]:
            console.clock.moment += timedelta(seconds=answers[-1])
    assert answers == [None] * 6 + [1, None, 2, None, 4, None, 8, None, 16, None, 32, None, 64, None, 128, None, 256]
    assert waited(attacker.login("counter", console.passwords["counter"])) is None  # after the wait: checked


def test_an_attacker_does_not_lock_the_owner_out_from_another_address(console):
    attacker = Visitor(console, "203.0.113.9")
    for _ in range(12):
        attacker.login("counter", WRONG)
    assert waited(attacker.login("counter", console.passwords["counter"])) > 0
    owner = Visitor(console, "198.51.100.7")
    assert owner.login("counter", console.passwords["counter"]).status_code == 302


@pytest.mark.slow  # 70 logins
def test_guesses_from_many_addresses_slow_the_account_down_but_at_most_a_minute(console):
    for n in range(51):
        assert waited(Visitor(console, f"203.0.113.{n + 1}").login("counter", WRONG)) is None
    waits = []
    for n in range(9):  # a botnet keeps guessing, each guess from a fresh address, as soon as allowed
        waits.append(waited(Visitor(console, f"192.0.2.{n + 1}").login("counter", WRONG)))
        console.clock.moment += timedelta(seconds=waits[-1])
        assert waited(Visitor(console, f"192.0.2.{n + 101}").login("counter", WRONG)) is None
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    owner = Visitor(console, "198.51.100.7")
    assert waited(owner.login("counter", console.passwords["counter"])) == 60
    console.clock.moment += timedelta(seconds=60)
    assert owner.login("counter", console.passwords["counter"]).status_code == 302


def _shown(response: httpx.Response, username: str) -> tuple:
    page = CSRF_FIELD.sub("", response.text).replace(f'value="{username}"', 'value=""')
    return response.status_code, response.headers.get("retry-after"), re.sub(r"\s+", " ", page)


def test_failed_logins_read_the_same_for_existing_and_unknown_accounts(console):
    existing, unknown = Visitor(console, "203.0.113.9"), Visitor(console, "198.51.100.7")
    for attempt in range(9):
        known = _shown(existing.login("counter", WRONG), "counter")
        assert known == _shown(unknown.login("nobody", WRONG), "nobody"), attempt
    reasons = {e.detail["reason"] for e in console.audit.recent(action="login.refused")}
    assert reasons == {"wrong_credentials", "throttled"}


def test_an_admin_resetting_the_password_lifts_the_waits_of_that_account(console):
    attacker = Visitor(console, "203.0.113.9")
    for _ in range(8):
        attacker.login("counter", WRONG)
    console.accounts.reset_password("counter", "Teh-Manis-Hangat-2026")
    assert waited(attacker.login("counter", "Teh-Manis-Hangat-2026")) is None


def test_the_service_refuses_a_waiting_login_without_checking_the_password(console):
    for _ in range(6):
        with pytest.raises(LoginRefused):
            console.accounts.authenticate("counter", WRONG, "192.0.2.1")
    with pytest.raises(LoginRefused) as refused:
        console.accounts.authenticate("counter", console.passwords["counter"], "192.0.2.1")
    assert refused.value.reason is LoginRefused.Reason.THROTTLED
    assert refused.value.until == console.clock() + timedelta(seconds=1)
    assert console.accounts.authenticate("counter", console.passwords["counter"], "192.0.2.2").username == "counter"


def test_counts_are_forgotten_after_a_quiet_hour_and_their_rows_deleted(console):
    from sqlalchemy import func, select

    from antrean.console.schema import login_throttle

    attacker = Visitor(console, "203.0.113.9")
    for _ in range(7):
        attacker.login("counter", WRONG)
    console.clock.moment += timedelta(hours=1, seconds=1)
    assert waited(attacker.login("counter", WRONG)) is None
    assert waited(attacker.login("counter", WRONG)) is None  # counting from 1 again, not from 8
    console.clock.moment += timedelta(hours=1, seconds=1)
    assert Visitor(console, "198.51.100.7").login("admin", console.passwords["admin"]).status_code == 302
    with console.service.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(login_throttle)).scalar() == 0
