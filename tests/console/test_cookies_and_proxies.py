"""Cookies and the TLS proxy in front of the console: the pre-login CSRF token is signed (no login
CSRF with a planted cookie), cookies are `Secure` and `__Host-` over HTTPS, also behind a TLS proxy
that is configured as trusted (ANTREAN_CONSOLE_TRUSTED_PROXIES) — and only then."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from ipaddress import ip_network

import httpx
import pytest

from antrean.console.web import PRELOGIN_COOKIE, SESSION_COOKIE
from tests.console.conftest import CSRF_FIELD

pytestmark = pytest.mark.integration

ATTACKER, VICTIM = "203.0.113.9", "198.51.100.7"


def trust_loopback(console) -> None:
    """The test client reaches the console from 127.0.0.1, standing for the proxy's own address."""
    console.app.ctx.config.trusted_proxies = (ip_network("127.0.0.0/8"),)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Each Set-Cookie header by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def login_form(client: httpx.Client, **headers) -> tuple[str, str]:
    """The pre-login cookie (name=value) and the form's token, as a browser gets them."""
    response = client.get("/masuk", headers=headers)
    [cookie] = [h.split(";", 1)[0] for h in response.headers.get_list("set-cookie")]
    return cookie, CSRF_FIELD.search(response.text).group(1)


def test_a_planted_prelogin_cookie_with_its_matching_token_does_not_log_in(console):
    victim = console.client()
    planted = "x" * 43  # the attacker chose it, e.g. set from a sibling subdomain or over plain HTTP
    victim.http.cookies.set(PRELOGIN_COOKIE, planted)
    response = victim.post("/masuk", {"username": "admin", "password": console.passwords["admin"]}, csrf=planted)
    assert response.status_code == 403
    assert SESSION_COOKIE not in victim.http.cookies
    assert console.audit.recent(action="login") == []


def test_a_prelogin_token_minted_for_another_address_does_not_log_in(console):
    trust_loopback(console)
    with httpx.Client(base_url=console.base_url) as attacker:
        cookie, token = login_form(attacker, **{"X-Forwarded-For": ATTACKER})
    with httpx.Client(base_url=console.base_url) as victim:
        form = {"username": "admin", "password": console.passwords["admin"], "csrf_token": token}
        planted = victim.post("/masuk", data=form, headers={"Cookie": cookie, "X-Forwarded-For": VICTIM})
        assert planted.status_code == 403
        own = victim.post("/masuk", data=form, headers={"Cookie": cookie, "X-Forwarded-For": ATTACKER})
        assert own.status_code == 302  # the same pair from the address it was made for is fine


def test_over_plain_http_cookies_keep_their_names_and_are_not_secure(console):
    response = console.client().get("/masuk")
    cookie = set_cookies(response)[PRELOGIN_COOKIE]
    assert "Secure" not in cookie and "HttpOnly" in cookie and "Path=/" in cookie


def test_behind_a_trusted_tls_proxy_cookies_are_secure_and_host_prefixed(console):
    trust_loopback(console)
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": VICTIM}
    with httpx.Client(base_url=console.base_url) as client:
        response = client.get("/masuk", headers=https)
        prelogin = set_cookies(response)[f"__Host-{PRELOGIN_COOKIE}"]
        assert "Secure" in prelogin and "Path=/" in prelogin and "Domain" not in prelogin
        cookie, token = prelogin.split(";", 1)[0], CSRF_FIELD.search(response.text).group(1)
        login = client.post("/masuk", headers={**https, "Cookie": cookie},
                            data={"username": "admin", "password": console.passwords["admin"], "csrf_token": token})
        assert login.status_code == 302
        session = set_cookies(login)[f"__Host-{SESSION_COOKIE}"]
        assert "Secure" in session and "HttpOnly" in session and "Path=/" in session
        session_cookie = session.split(";", 1)[0]
        assert client.get("/pemesanan", headers={**https, "Cookie": session_cookie}).status_code == 200
        # Without the prefix the browser would let a sibling subdomain plant it; the console ignores it.
        plain = session_cookie.removeprefix("__Host-")
        assert client.get("/pemesanan", headers={**https, "Cookie": plain}).status_code == 302
    [entry] = console.audit.recent(action="login")
    assert entry.remote_addr == VICTIM


def test_forwarded_headers_from_a_peer_not_configured_as_proxy_are_ignored(console):
    assert console.app.ctx.config.trusted_proxies == ()
    client = console.client()
    response = client.get("/masuk", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": ATTACKER})
    cookie = set_cookies(response)[PRELOGIN_COOKIE]
    assert "Secure" not in cookie
    client.post("/masuk", {"username": "admin", "password": "not-the-password-at-all"})
    [entry] = console.audit.recent(action="login.refused")
    assert entry.remote_addr == "127.0.0.1"


def test_trusted_proxies_come_from_the_environment_and_a_bad_entry_stops_the_start():
    from antrean.console.config import ConsoleConfig
    from antrean.runtime.settings import SettingsError

    config = ConsoleConfig.from_env({"ANTREAN_CONSOLE_TRUSTED_PROXIES": "10.0.0.5, 172.16.0.0/12,::1"})
    assert config.trusted_proxies == (ip_network("10.0.0.5/32"), ip_network("172.16.0.0/12"), ip_network("::1/128"))
    assert ConsoleConfig.from_env({}).trusted_proxies == ()
    with pytest.raises(SettingsError, match="ANTREAN_CONSOLE_TRUSTED_PROXIES"):
        ConsoleConfig.from_env({"ANTREAN_CONSOLE_TRUSTED_PROXIES": "10.0.0.5,proxy.example"})


# --- a real TLS proxy in front ------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def haproxy(console, tmp_path):
    """haproxy terminating TLS (a self-signed certificate made for this run) in front of the console,
    the way an office would put it on the LAN."""
    if shutil.which("haproxy") is None or shutil.which("openssl") is None:
        pytest.skip("haproxy or openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    (tmp_path / "both.pem").write_bytes(cert.read_bytes() + key.read_bytes())
    port, console_port = _free_port(), console.base_url.rsplit(":", 1)[1]
    config = tmp_path / "haproxy.cfg"
    config.write_text(f"""
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend tls
    bind 127.0.0.1:{port} ssl crt {tmp_path / 'both.pem'}
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    default_backend console
backend console
    server console 127.0.0.1:{console_port}
""")
    process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    base = f"https://localhost:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{base}/masuk", verify=False, timeout=2)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"haproxy did not start: {process.stderr.read().decode()[-500:]}")
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(10)


def test_staff_log_in_through_a_real_tls_proxy_with_secure_host_cookies(console, haproxy):
    trust_loopback(console)
    with httpx.Client(base_url=haproxy, verify=False, timeout=30) as browser:  # keeps cookies like a browser
        form = browser.get("/masuk")
        assert "Secure" in set_cookies(form)[f"__Host-{PRELOGIN_COOKIE}"]
        token = CSRF_FIELD.search(form.text).group(1)
        login = browser.post("/masuk", data={"username": "counter", "password": console.passwords["counter"],
                                             "csrf_token": token})
        assert login.status_code == 302
        assert "Secure" in set_cookies(login)[f"__Host-{SESSION_COOKIE}"]
        assert browser.get("/pemesanan").status_code == 200
    with httpx.Client(base_url=console.base_url) as direct:  # the same console over plain HTTP, not via the proxy
        assert PRELOGIN_COOKIE in set_cookies(direct.get("/masuk"))
