"""The stand-alone webhook receiver (`python -m antrean whatsapp receive`) as a real process: it
answers Meta's handshake, stores signed deliveries once and refuses unsigned ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from antrean.runtime.db import REPO_ROOT, make_engine
from antrean.whatsapp.inbox import Inbox
from tests.whatsapp import meta
from tests.whatsapp.server import free_port

pytestmark = pytest.mark.integration


@pytest.mark.slow  # starts the receiver as a process of its own
def test_the_receiver_stores_signed_messages_once_and_refuses_the_rest(sqlite_url):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "ANTREAN_DATABASE_URL": sqlite_url,
           "ANTREAN_WA_VERIFY_TOKEN": meta.VERIFY_TOKEN, "ANTREAN_WA_APP_SECRET": meta.APP_SECRET}
    process = subprocess.Popen([sys.executable, "-m", "antrean", "whatsapp", "receive", "--port", str(port)],
                               cwd=REPO_ROOT, env=env)
    url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "the receiver did not start"
            time.sleep(0.3)
        challenge = httpx.get(f"{url}/webhook", params={"hub.mode": "subscribe", "hub.verify_token": meta.VERIFY_TOKEN,
                                                        "hub.challenge": "1158201444"})
        assert challenge.text == "1158201444"
        body = meta.encode(meta.notification(meta.messages_value(meta.text("6281388800001", "halo 👋"))))
        assert httpx.post(f"{url}/webhook", content=body, headers=meta.signed_headers(body)).status_code == 200
        assert httpx.post(f"{url}/webhook", content=body, headers=meta.signed_headers(body)).status_code == 200
        forged = meta.signed_headers(body, secret="not-the-app-secret")
        assert httpx.post(f"{url}/webhook", content=body, headers=forged).status_code == 403
    finally:
        process.terminate()
        process.wait(20)
    engine = make_engine(sqlite_url)
    [message] = Inbox(engine).pending_for("6281388800001")
    engine.dispose()
    assert message.payload["text"]["body"] == "halo 👋"


def test_the_receiver_process_never_imports_rasa(sqlite_url, tmp_path):
    """Building the receiver's app (and so its routes) in a fresh interpreter loads no module of Rasa."""
    script = ("import json, sys\n"
              "from antrean.whatsapp.receiver import create_app\n"
              "app = create_app()\n"
              "routes = sorted(route.path for route in app.router.routes)\n"
              "print(json.dumps({'rasa': sorted(m for m in sys.modules if m == 'rasa' or m.startswith('rasa.')),"
              " 'routes': routes}))\n")
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
           "ANTREAN_DATABASE_URL": sqlite_url, "ANTREAN_WA_VERIFY_TOKEN": meta.VERIFY_TOKEN,
           "ANTREAN_WA_APP_SECRET": meta.APP_SECRET}
    completed = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    assert found["rasa"] == []
    assert "webhooks/whatsapp/webhook" in found["routes"]
