"""The console where staff are: phones on the office network. Opened over plain HTTP from another
machine, the door says why its camera scanner is missing and the code is typed instead; served over
HTTPS by `python -m antrean console` itself (ANTREAN_CONSOLE_TLS_CERT/KEY), or behind the haproxy
configuration docs/deploying.md documents (run as written there, with this machine's ports), the
browser treats it as a secure context, so the camera may be used, and the session cookie is Secure.
Chromium reaches the console under an office host name (pintu.kantor.test) that is not loopback, as
a phone would."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from antrean.cli import main
from antrean.console.config import ConsoleConfig
from antrean.runtime.settings import REPO_ROOT
from tests.conftest import absent
from tests.console.browser import chromium
from tests.console.conftest import on_wednesday
from tests.whatsapp.server import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,  # a console process of its own, a certificate, Chromium
    pytest.mark.usefixtures("chromium_present"),
]

HOST = "pintu.kantor.test"
PHONE = {"width": 390, "height": 844}
PASSWORD = "jaga-pintu-depan-2026"


@pytest.fixture(scope="module")
def browser():
    # The office host name leads to this machine, as the office's DNS or a phone's hosts entry would.
    with chromium(f"--host-resolver-rules=MAP {HOST} 127.0.0.1") as browser:
        yield browser


def tool(name: str) -> None:
    if shutil.which(name) is None:
        absent(f"{name} is absent (apt-get install -y {name})")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    tool("openssl")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
                    "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}"],
                   check=True, capture_output=True)
    return folder / "cert.pem", folder / "key.pem"


def log_in(page, base: str, username: str, password: str) -> None:
    page.goto(base + "/masuk")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/pintu")


def test_over_plain_http_from_the_network_the_door_says_why_there_is_no_camera(console, book, browser):
    booking = book(1)
    on_wednesday(console, 7, 45)
    base = console.base_url.replace("127.0.0.1", HOST)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    log_in(page, base, "security", console.passwords["security"])
    assert page.evaluate("window.isSecureContext") is False
    why = page.locator("#scan-unavailable")
    assert why.is_visible() and not page.locator("#scan-start").is_visible()
    assert "http:// biasa" in why.inner_text() and "HTTPS" in why.inner_text()
    assert "Ketik kode booking" in why.inner_text()
    page.fill("#kode", booking.code)  # the fallback works
    page.click("button:has-text('Check-in')")
    assert "Check-in berhasil" in page.locator(".flash-ok").inner_text()
    context.close()


@pytest.fixture
def tls_console(tmp_path, certificate, monkeypatch):
    cert, key = certificate
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "ANTREAN_VAR_DIR": str(tmp_path),
           "ANTREAN_DATABASE_URL": f"sqlite:///{tmp_path / 'antrean.sqlite3'}",
           "ANTREAN_TRACKER_URL": f"sqlite:///{tmp_path / 'conversations.sqlite3'}",
           "ANTREAN_SECRET_KEY": "office-network-test-key-0123456789abcdef", "ANTREAN_RETENTION_DAILY": "0",
           "ANTREAN_CONSOLE_HOST": "127.0.0.1", "ANTREAN_CONSOLE_PORT": str(port),
           "ANTREAN_CONSOLE_TLS_CERT": str(cert), "ANTREAN_CONSOLE_TLS_KEY": str(key)}
    for name in ("ANTREAN_DATABASE_URL", "ANTREAN_SECRET_KEY"):
        monkeypatch.setenv(name, env[name])
    assert main(["db", "upgrade"]) == 0
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "satpam", "--name", "Slamet Riyadi", "--role", "security", "--password-stdin"]) == 0
    process = subprocess.Popen([sys.executable, "-m", "antrean", "console"], cwd=REPO_ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 90
    try:
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                if httpx.get(f"https://127.0.0.1:{port}/masuk", verify=False, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the console did not answer over HTTPS"
            time.sleep(0.3)
        with pytest.raises(httpx.HTTPError):  # HTTPS only: plain HTTP on that port gets no page
            httpx.get(f"http://127.0.0.1:{port}/masuk", timeout=5).raise_for_status()
        yield f"https://{HOST}:{port}"
    finally:
        process.terminate()
        process.wait(30)


def test_served_over_https_the_door_is_a_secure_context_and_the_cookie_is_secure(tls_console, browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, ignore_https_errors=True)
    page = context.new_page()
    log_in(page, tls_console, "satpam", PASSWORD)
    assert page.evaluate("window.isSecureContext") is True
    why = page.locator("#scan-unavailable")
    if page.evaluate("'BarcodeDetector' in window"):
        assert page.locator("#scan-start").is_visible() and not why.is_visible()
    else:  # Chromium on Linux has no BarcodeDetector: the page says that, not "use HTTPS"
        assert "tidak mendukung pemindaian QR" in why.inner_text() and "HTTPS" not in why.inner_text()
    [session] = [c for c in context.cookies() if c["name"] == "__Host-antrean_sesi"]  # Secure, host-only
    assert session["secure"] and session["httpOnly"]
    context.close()


def documented_haproxy_config() -> str:
    """The haproxy configuration of docs/deploying.md, as written there."""
    text = (REPO_ROOT / "docs" / "deploying.md").read_text()
    [block] = re.findall(r"```haproxy\n(.*?)```", text, re.DOTALL)
    return block


@pytest.fixture
def behind_haproxy(request, certificate, tmp_path):
    """The documented haproxy configuration in front of a console that trusts one proxy, with this
    machine's ports and a test certificate in place of the office's."""
    tool("haproxy")
    console = request.getfixturevalue("console")
    # As the documentation says, read as the console reads its environment.
    documented = ConsoleConfig.from_env({"ANTREAN_CONSOLE_TRUSTED_PROXIES": "127.0.0.1"})
    console.app.ctx.config.trusted_proxies = documented.trusted_proxies
    cert, key = certificate
    pem = tmp_path / "haproxy.pem"  # haproxy wants certificate and key in one file
    pem.write_text(cert.read_text() + key.read_text())
    public, office = free_port(), free_port()
    console_port = console.base_url.rsplit(":", 1)[1]
    config = documented_haproxy_config()
    replacements = {
        "bind :443 ssl crt /etc/haproxy/certs/antrean.imigrasi-batam.go.id.pem":
            f"bind 127.0.0.1:{public} ssl crt {pem}",
        "bind 10.20.0.5:443 ssl crt /etc/haproxy/certs/konsol.imigrasi-batam.go.id.pem":
            f"bind 127.0.0.1:{office} ssl crt {pem}",
        "server console 127.0.0.1:8080": f"server console 127.0.0.1:{console_port}",
        "server receiver 127.0.0.1:5006": f"server receiver 127.0.0.1:{free_port()}",
        "server rasa 127.0.0.1:5005": f"server rasa 127.0.0.1:{free_port()}",
    }
    for written, here in replacements.items():
        assert written in config, f"docs/deploying.md no longer says {written!r}"
        config = config.replace(written, here)
    (tmp_path / "haproxy.cfg").write_text(config)
    check = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    process = subprocess.Popen(["haproxy", "-db", "-f", str(tmp_path / "haproxy.cfg")], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read()
            try:
                httpx.get(f"https://127.0.0.1:{office}/masuk", verify=False, timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "haproxy did not start"
                time.sleep(0.2)
        yield console, f"https://{HOST}:{office}", f"https://127.0.0.1:{public}"
    finally:
        process.terminate()
        process.wait(10)


def test_behind_the_documented_haproxy_the_console_knows_it_is_https(behind_haproxy, browser):
    """Addresses through a trusted proxy are tested in test_cookies_and_proxies; here: the
    configuration as documented gives the phone a secure context and the console HTTPS."""
    console, office, public = behind_haproxy
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, ignore_https_errors=True)
    page = context.new_page()
    log_in(page, office, "security", console.passwords["security"])
    assert page.evaluate("window.isSecureContext") is True
    assert "HTTPS" not in page.locator("#scan-unavailable").inner_text()
    [session] = [c for c in context.cookies() if c["name"] == "__Host-antrean_sesi"]
    assert session["secure"]  # the console saw X-Forwarded-Proto: https from its trusted proxy
    context.close()
    # The public side carries only the webhook and tickets: the console is not on the internet.
    assert httpx.get(f"{public}/masuk", verify=False, timeout=5).status_code == 404
