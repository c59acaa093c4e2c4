"""Request bodies on the Rasa server's channels (the real blueprints in a real Sanic server): refused
on their headers (the token, the announced size) before the body is read, and never read beyond
the route's limit. Each request announces a large body and sends only its first bytes: a server
that waited for the rest before answering would never answer (the client gives up after 30 s)."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import pytest

from antrean.assistant.rest_channel import MAX_BODY_BYTES, AntreanRestInput
from antrean.assistant.whatsapp_channel import WhatsAppInput
from antrean.media.photo_store import MediaStore
from antrean.runtime.http_limits import SMALL_BODY_BYTES
from antrean.runtime.settings import WhatsAppSettings
from tests.whatsapp import meta
from tests.whatsapp.server import served

TOKEN = "s3cret-token-for-tests"
MB = 1024 * 1024


def answer_before_the_body(url: str, method: str, announced: int, headers: dict | None = None) -> int:
    """The status of the answer to a request announcing `announced` bytes of body and sending 14."""
    parts = urlsplit(url)
    head = [f"{method} {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1",
            f"Host: {parts.netloc}", "Content-Type: application/json", f"Content-Length: {announced}",
            *(f"{name}: {value}" for name, value in (headers or {}).items())]
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b'{"sender": "x"')
        received = b""
        try:
            while b"\r\n" not in received:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pytest.fail(f"{method} {url}: no answer before the announced body was sent")
    return int(received.split()[1])


@pytest.fixture
def rest(sqlite_url, make_service, tmp_path):
    channel = AntreanRestInput(token=TOKEN)
    channel._services = (make_service(sqlite_url), MediaStore(tmp_path / "media"))
    received = []

    async def on_new_message(message):
        received.append(message)

    with served(channel, on_new_message) as base:
        yield SimpleNamespace(base=base, received=received)


def test_without_the_token_the_webhook_answers_401_before_reading_the_body(rest):
    assert answer_before_the_body(f"{rest.base}/webhook", "POST", 5 * MB) == 401  # a photo-sized body
    assert answer_before_the_body(f"{rest.base}/webhook", "POST", 99_000_000) in (401, 413)
    assert rest.received == []


def test_a_body_announced_beyond_the_webhooks_limit_is_answered_413_without_reading_it(rest):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert answer_before_the_body(f"{rest.base}/webhook", "POST", MAX_BODY_BYTES + 1, bearer) == 413
    assert answer_before_the_body(f"{rest.base}/webhook", "POST", 99_000_000, bearer) == 413
    # Routes that take no upload take no more than a form's worth.
    assert answer_before_the_body(f"{rest.base}/balasan/app-9", "GET", SMALL_BODY_BYTES + 1, bearer) == 413
    assert answer_before_the_body(f"{rest.base}/tiket/AAAA-BBBB-CCCC.png", "GET", 10 * MB) == 413
    assert rest.received == []


def test_a_chunked_body_is_cut_off_at_the_limit_and_a_body_within_it_is_taken(rest):
    bearer = {"Authorization": f"Bearer {TOKEN}"}

    def endless():  # no Content-Length: the server only learns the size while reading
        yield b'{"sender": "app-9", "message": "'
        for _ in range(MAX_BODY_BYTES // (256 * 1024) + 2):
            yield b"x" * (256 * 1024)
        yield b'"}'

    assert httpx.post(f"{rest.base}/webhook", content=endless(), headers=bearer, timeout=60).status_code == 413
    assert rest.received == []
    assert httpx.post(f"{rest.base}/webhook", json={"sender": "app-9", "message": "halo"}, headers=bearer,
                      timeout=60).status_code == 200
    assert [m.text for m in rest.received] == ["halo"]


def test_the_whatsapp_channels_other_routes_take_no_large_body(sqlite_url, tmp_path):
    settings = WhatsAppSettings(verify_token=meta.VERIFY_TOKEN, app_secret=meta.APP_SECRET)
    channel = WhatsAppInput(settings, environ={"ANTREAN_DATABASE_URL": sqlite_url,
                                                       "ANTREAN_MEDIA_DIR": str(tmp_path / "media")})

    async def on_new_message(_message):
        pass

    with served(channel, on_new_message) as base:
        assert answer_before_the_body(f"{base}/webhook?hub.mode=subscribe", "GET", 10 * MB) == 413
        assert answer_before_the_body(f"{base}/webhook", "POST", 99_000_000) == 413  # its own limit, as before
