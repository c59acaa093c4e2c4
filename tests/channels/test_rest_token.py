"""The REST channel's shared token (ANTREAN_REST_TOKEN), on the channel's real blueprint in a real
Sanic server: with a token, the webhook and the staff replies need the bearer header and a refused
request processes nothing (no message to Rasa, no photo stored); the health check and the QR ticket
stay public; without a token the channel is open on loopback, and refuses to start beyond it."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from antrean.assistant.rest_channel import AntreanRestInput, OpenChannelRefused, client_headers, is_loopback
from antrean.handoff import service as handoff
from antrean.media.photo_store import MediaStore
from antrean.runtime.db import REPO_ROOT
from antrean.runtime.serve import DEFAULT_MODEL
from tests.builders import make_request
from tests.conftest import absent
from tests.media.images import card, encode
from tests.whatsapp.server import free_port, served

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def channel(sqlite_url, make_service, tmp_path):
    service = make_service(sqlite_url)
    media = MediaStore(tmp_path / "media")

    def build(token):
        built = AntreanRestInput(token=token)
        built._services = (service, media)
        return built

    handoff.request_handoff(service.engine, "app-9", "batam", "halo", service.clock())
    [request] = handoff.open_requests(service.engine)
    handoff.record_reply(service.engine, request["id"], "app-9", "rest", "Halo dari petugas", "recorded", None,
                         "admin", service.clock())
    return SimpleNamespace(build=build, service=service, media=media)


def _photos(media) -> list:
    return list(media.root.rglob("*.jpg")) if media.root.exists() else []


def test_with_a_token_the_webhook_and_replies_need_it_and_a_refused_request_processes_nothing(channel):
    received = []

    async def on_new_message(message):
        received.append(message.text)

    body = {"sender": "app-9", "message": "halo", "photo_base64": base64.b64encode(encode(card())).decode()}
    with served(channel.build(TOKEN), on_new_message) as base:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                        {"Authorization": f"Basic {TOKEN}"}):
            refused = httpx.post(f"{base}/webhook", json=body, headers=headers, timeout=30)
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
            assert httpx.get(f"{base}/balasan/app-9", headers=headers, timeout=30).status_code == 401
        assert received == [] and _photos(channel.media) == []  # nothing processed, nothing stored

        good = client_headers({"ANTREAN_REST_TOKEN": TOKEN})
        assert good == {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.post(f"{base}/webhook", json=body, headers=good, timeout=30).status_code == 200
        assert len(received) == 1 and len(_photos(channel.media)) == 1
        replies = httpx.get(f"{base}/balasan/app-9", headers=good, timeout=30)
        assert [r["text"] for r in replies.json()["replies"]] == ["Halo dari petugas"]

        # Public: the health check and the ticket (an unknown code is a 404, not a 401).
        assert httpx.get(f"{base}/", timeout=30).status_code == 200
        booking = channel.service.book(make_request())
        ticket = httpx.get(f"{base}/tiket/{booking.code}.png", timeout=30)
        assert ticket.status_code == 200 and ticket.headers["content-type"] == "image/png"
        assert httpx.get(f"{base}/tiket/AAAA-BBBB-CCCC.png", timeout=30).status_code == 404


def test_without_a_token_the_channel_is_open_on_loopback(channel):
    received = []

    async def on_new_message(message):
        received.append(message.text)

    with served(channel.build(None), on_new_message) as base:  # served on 127.0.0.1
        assert httpx.post(f"{base}/webhook", json={"sender": "app-9", "message": "halo"},
                          timeout=30).status_code == 200
        assert httpx.get(f"{base}/balasan/app-9", timeout=30).json()["replies"]
    assert received == ["halo"]


def test_without_a_token_the_channel_refuses_to_start_beyond_loopback():
    open_channel, protected = AntreanRestInput(token=None), AntreanRestInput(token=TOKEN)
    for host in ("0.0.0.0", "::", "192.168.1.20", "rasa.example", None):
        app = SimpleNamespace(state=SimpleNamespace(host=host, unix=None))
        with pytest.raises(OpenChannelRefused, match="without ANTREAN_REST_TOKEN"):
            asyncio.run(open_channel._refuse_if_open(app, None))
        asyncio.run(protected._refuse_if_open(app, None))  # with a token: fine anywhere
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        asyncio.run(open_channel._refuse_if_open(SimpleNamespace(state=SimpleNamespace(host=host, unix=None)), None))
    assert not is_loopback("0.0.0.0") and not is_loopback("rasa.example") and is_loopback("127.0.0.2")


@pytest.mark.slow
def test_rasa_run_on_every_interface_without_a_token_stops_with_an_error_naming_the_variable(tmp_path):
    if not DEFAULT_MODEL.exists():  # Rasa stops earlier, for want of a model, without one
        absent("no trained model: `make train` first")
    (tmp_path / "credentials.yml").write_text("antrean.assistant.rest_channel.AntreanRestInput: {}\n")
    (tmp_path / "endpoints.yml").write_text("{}\n")
    environment = {name: value for name, value in os.environ.items() if name != "ANTREAN_REST_TOKEN"}
    finished = subprocess.run(
        [str(Path(sys.executable).with_name("rasa")), "run", "--credentials", str(tmp_path / "credentials.yml"),
         "--endpoints", str(tmp_path / "endpoints.yml"), "--model", str(DEFAULT_MODEL),
         "--interface", "0.0.0.0", "--port", str(free_port())],
        cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=300)
    output = finished.stdout + finished.stderr
    assert finished.returncode != 0
    assert "OpenChannelRefused" in output and "without ANTREAN_REST_TOKEN" in output
    assert "Starting worker" not in output  # refused before the server started


def test_the_token_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("ANTREAN_REST_TOKEN", " from-env ")
    assert AntreanRestInput().token == "from-env"
    assert client_headers() == {"Authorization": "Bearer from-env"}
    monkeypatch.setenv("ANTREAN_REST_TOKEN", "")
    assert AntreanRestInput().token is None and client_headers() == {}
