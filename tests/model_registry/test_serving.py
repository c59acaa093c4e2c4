"""The live model for Rasa's model pulling (antrean/model_registry/serving.py): the statuses and
headers Rasa's `_pull_model_and_fingerprint` acts on, through a real `python -m antrean model serve`
process, across promotions and a rollback. No Rasa model is loaded (test_hot_swap.py does that)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from antrean.model_registry.serving import ROUTE, etag_of, live_answer
from antrean.runtime.db import REPO_ROOT
from tests.model_registry.test_records import clock, keep, make_registry, registry  # noqa: F401 (fixtures)
from tests.whatsapp.server import free_port


@pytest.fixture
def model_server(tmp_path, sqlite_url):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "ANTREAN_DATABASE_URL": sqlite_url,
           "ANTREAN_MODELS_DIR": str(tmp_path / "models")}
    process = subprocess.Popen([sys.executable, "-m", "antrean", "model", "serve", "--port", str(port)],
                               cwd=REPO_ROOT, env=env)
    url = f"http://127.0.0.1:{port}{ROUTE}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url, timeout=2)
            break
        except httpx.TransportError:
            assert process.poll() is None, "the model server exited"
            assert time.monotonic() < deadline, "the model server did not start"
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=20)


def pull(url: str, etag: str | None = None) -> httpx.Response:
    # What Rasa sends: its current fingerprint, the ETag of the last model it loaded.
    return httpx.get(url, headers={"If-None-Match": etag} if etag else {}, timeout=10)


def test_rasa_gets_the_live_model_once_and_each_change_after(registry, tmp_path, clock, model_server):  # noqa: F811
    assert pull(model_server).status_code == 204  # nothing live: Rasa keeps what it has
    first = keep(registry, tmp_path, clock, "first")
    second = keep(registry, tmp_path, clock, "second")
    registry.promote(first.id, by="test")

    got = pull(model_server, "a-fingerprint-rasa-made-up")
    assert got.status_code == 200 and got.content == first.path.read_bytes()
    assert got.headers["ETag"] == etag_of(first.sha256) and got.headers["filename"] == f"{first.id}.tar.gz"
    assert pull(model_server, got.headers["ETag"]).status_code == 304

    registry.promote(second.id, by="test")
    got = pull(model_server, etag_of(first.sha256))
    assert got.status_code == 200 and got.content == second.path.read_bytes()
    assert got.headers["ETag"] == etag_of(second.sha256)

    registry.rollback(by="test")
    got = pull(model_server, etag_of(second.sha256))
    assert got.status_code == 200 and got.headers["ETag"] == etag_of(first.sha256)
    assert pull(model_server, f'W/{etag_of(first.sha256)}, "other"').status_code == 304


def test_a_corrupt_live_file_is_not_sent(registry, tmp_path, clock, model_server):  # noqa: F811
    record = keep(registry, tmp_path, clock, "first")
    registry.promote(record.id, by="test")
    assert pull(model_server).status_code == 200
    record.path.write_bytes(b"not a model")
    got = pull(model_server)
    # 503: Rasa logs it, keeps its model and asks again at the next pull.
    assert got.status_code == 503 and "corrupt" in got.text
    # A worker that already runs it is told nothing changed.
    assert pull(model_server, etag_of(record.sha256)).status_code == 304


def test_a_file_is_hashed_once_per_change(registry, tmp_path, clock, monkeypatch):  # noqa: F811
    record = keep(registry, tmp_path, clock, "first")
    registry.promote(record.id, by="test")
    checks = []
    verify = registry.verify
    monkeypatch.setattr(registry, "verify", lambda model_id: checks.append(model_id) or verify(model_id))
    verified: dict = {}
    for _ in range(3):
        assert live_answer(registry, None, verified).status == 200
    assert checks == [record.id]
    assert live_answer(registry, None, None).status == 200 and len(checks) == 2
