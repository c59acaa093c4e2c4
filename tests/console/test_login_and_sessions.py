"""Logging in and out, sessions, CSRF and the security headers — over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from antrean.console.web import SESSION_COOKIE

# A real server and real database files: not part of `make unit`.
pytestmark = pytest.mark.integration


def test_anonymous_visitor_is_sent_to_login_and_back_to_the_page_asked_for(console):
    client = console.client()
    response = client.get("/pemesanan?tanggal=2026-12-02")
    assert response.status_code == 302
    assert response.headers["location"] == "/masuk?lanjut=%2Fpemesanan%3Ftanggal%3D2026-12-02"

    client.get(response.headers["location"])
    login = client.post("/masuk", {"username": "admin", "password": console.passwords["admin"],
                                   "lanjut": "/pemesanan?tanggal=2026-12-02"})
    assert login.status_code == 302
    assert login.headers["location"] == "/pemesanan?tanggal=2026-12-02"


@pytest.mark.parametrize(("role", "landing"), [
    ("admin", "/pemesanan"), ("counter", "/pemesanan"), ("security", "/pintu"), ("reviewer", "/bantuan"),
])
def test_each_role_lands_on_its_own_work_after_login(console, role, landing):
    client = console.client()
    response = client.login(role, console.passwords[role])
    assert response.status_code == 302
    home = client.get(response.headers["location"])
    assert home.headers["location"] == landing
    assert client.get(landing).status_code == 200


def test_session_cookie_is_httponly_samesite_lax_and_not_the_password(console):
    client = console.client()
    response = client.login("admin", console.passwords["admin"])
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert console.passwords["admin"] not in cookie


def test_wrong_password_and_unknown_user_get_the_same_answer(console):
    client = console.client()
    wrong_password = client.login("admin", "not-the-password-at-all")
    unknown_user = client.login("nobody", "not-the-password-at-all")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert "Nama pengguna atau kata sandi salah." in wrong_password.text
    assert "Nama pengguna atau kata sandi salah." in unknown_user.text
    assert SESSION_COOKIE not in client.http.cookies


def test_failed_logins_are_audited(console):
    console.client().login("admin", "not-the-password-at-all")
    entries = console.audit.recent(actor="admin")
    assert [e.action for e in entries] == ["login.refused"]
    assert entries[0].detail == {"reason": "wrong_credentials"}


def test_login_form_without_its_csrf_token_is_forbidden(console):
    client = console.client()
    client.get("/masuk")
    response = client.post("/masuk", {"username": "admin", "password": console.passwords["admin"]}, csrf="forged")
    assert response.status_code == 403
    assert SESSION_COOKIE not in client.http.cookies


def test_a_post_from_another_site_without_the_token_is_forbidden(console, codes):
    client = console.as_role("security")
    response = client.post("/pintu", {"kode": "ABCD-EFGH-JKMN"}, csrf="")
    assert response.status_code == 403
    assert "Permintaan ditolak" in response.text


def test_logout_ends_the_session_on_the_server_not_only_in_the_browser(console):
    client = console.as_role("counter")
    stolen_cookie = client.http.cookies[SESSION_COOKIE]
    assert client.post("/keluar").status_code == 302

    thief = console.client()
    thief.http.cookies.set(SESSION_COOKIE, stolen_cookie)
    assert thief.get("/pemesanan").status_code == 302


def test_logout_needs_the_csrf_token_so_other_sites_cannot_log_staff_out(console):
    client = console.as_role("counter")
    assert client.post("/keluar", csrf="wrong").status_code == 403
    assert client.get("/pemesanan").status_code == 200


def test_session_expires_after_thirty_idle_minutes(console):
    client = console.as_role("counter")
    console.clock.moment += timedelta(minutes=29)
    assert client.get("/pemesanan").status_code == 200
    console.clock.moment += timedelta(minutes=31)
    response = client.get("/pemesanan")
    assert response.status_code == 302
    assert response.headers["location"].startswith("/masuk")


def test_session_ends_after_twelve_hours_even_when_busy(console):
    client = console.as_role("counter")
    start = console.clock.moment
    while client.get("/pemesanan").status_code == 200:
        console.clock.moment += timedelta(minutes=29)
        assert console.clock.moment - start < timedelta(hours=13)
    assert timedelta(hours=12) <= console.clock.moment - start < timedelta(hours=12, minutes=29)


def test_disabling_an_account_ends_its_open_session_at_once(console):
    client = console.as_role("counter")
    console.accounts.disable("counter")
    assert client.get("/pemesanan").status_code == 302
    again = console.client().login("counter", console.passwords["counter"])
    assert again.status_code == 401
    assert "dinonaktifkan" in again.text


def test_after_six_wrong_passwords_the_next_try_waits_and_then_works(console):
    client = console.client()
    for _ in range(6):
        assert client.login("counter", "wrong-password-guess").status_code == 401
    waiting = client.login("counter", console.passwords["counter"])
    assert waiting.status_code == 429 and waiting.headers["retry-after"] == "1"
    assert "Tunggu 1 detik" in waiting.text and "dikunci" not in waiting.text
    console.clock.moment += timedelta(seconds=1)
    assert client.login("counter", console.passwords["counter"]).status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_to_another_site(console, target):
    client = console.client()
    client.get("/masuk")
    response = client.post("/masuk", {"username": "admin", "password": console.passwords["admin"], "lanjut": target})
    assert response.headers["location"] == "/"


def test_pages_forbid_framing_caching_and_foreign_scripts(console):
    client = console.as_role("admin")
    response = client.get("/pemesanan")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"


def test_pages_load_nothing_from_other_origins(console):
    client = console.as_role("admin")
    for path in ("/masuk", "/pemesanan", "/pintu", "/loket", "/bantuan", "/audit"):
        page = client.get(path).text
        assert "http://" not in page and "https://" not in page, path
