"""`make run` on a fresh clone: the stack starts as `python -m antrean run` starts it (two Rasa
workers, the console), on an empty var folder, and its output says what runs where — no ERROR, no
traceback, no dependency's warnings."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from antrean.runtime.serve import DEFAULT_MODEL
from antrean.runtime.settings import REPO_ROOT
from tests.conftest import absent

READY = "Ctrl-C stops everything."
OWN_CODE = (str(REPO_ROOT / "antrean") + os.sep, str(REPO_ROOT / "actions") + os.sep)
# "path/to/module.py:12: SomethingWarning: …", as the warnings module prints them.
WARNING_LINE = re.compile(r"^\s*(\S+\.py):\d+: (\w*Warning)\b")
# TensorFlow's C++ log: "2026-12-01 07:18:04.123456: W tensorflow/…".
TENSORFLOW_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] ")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.integration
@pytest.mark.slow
def test_a_fresh_start_shows_what_runs_where_and_nothing_foreign(tmp_path):
    if not DEFAULT_MODEL.exists():
        absent("no trained model: `make test` trains it first (make train)")
    var, log = tmp_path / "var", tmp_path / "output.txt"
    rasa_port, console_port = free_port(), free_port()
    # A fresh clone's environment: no ANTREAN_* setting but the folder and the ports.
    # TF_CPP_MIN_LOG_LEVEL too: jax sets it to 1 in whichever process imports TensorFlow first (this
    # test process, when an earlier test loaded a model), and a fresh shell has no such value.
    environ = {key: value for key, value in os.environ.items()
               if not key.startswith("ANTREAN_") and key != "TF_CPP_MIN_LOG_LEVEL"}
    environ.update(PYTHONPATH=str(REPO_ROOT), RASA_TELEMETRY_ENABLED="false", ANTREAN_VAR_DIR=str(var),
                   ANTREAN_RASA_PORT=str(rasa_port), ANTREAN_CONSOLE_PORT=str(console_port), ANTREAN_RASA_WORKERS="2")
    with log.open("w") as output:
        stack = subprocess.Popen([sys.executable, "-m", "antrean", "run"], cwd=REPO_ROOT, env=environ,
                                 stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while READY not in log.read_text():
            assert stack.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(1)
        assert httpx.get(f"http://127.0.0.1:{rasa_port}/webhooks/antrean/").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{console_port}/masuk").status_code == 200
    finally:
        stack.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            raise
    text = log.read_text()
    lines = text.splitlines()

    assert "ERROR" not in text and "Traceback" not in text, text
    foreign = [line for line in lines if (match := WARNING_LINE.match(line)) and not match[1].startswith(OWN_CODE)]
    assert foreign == [], text
    assert [line for line in lines if TENSORFLOW_LOG.match(line)] == [], text
    # What runs where.
    assert "Antrean is running (2 Rasa worker(s)" in text
    assert f"http://127.0.0.1:{rasa_port}/webhooks/antrean/webhook" in text
    assert f"http://127.0.0.1:{console_port}/" in text
    assert text.count(f"Goin' Fast @ http://127.0.0.1:{console_port}") == 1  # Sanic's lines once, not twice
    # Everything in the fresh folder: bookings, conversations (Rasa's table), the key.
    assert {"antrean.sqlite3", "conversations.sqlite3", "secret_key", "run"} <= {path.name for path in var.iterdir()}
    assert stack.returncode == 0


def test_only_the_dependencies_deprecation_notices_are_dropped():
    own, foreign = REPO_ROOT / "antrean" / "example.py", "/usr/lib/python3/site-packages/example.py"
    code = f"""
import warnings
from antrean.runtime.serve import quiet_foreign_warnings
quiet_foreign_warnings()
import sanic  # puts 'once' for DeprecationWarning ahead of every filter
warnings.warn_explicit("foreign deprecation", DeprecationWarning, {foreign!r}, 1, module="example")
warnings.warn_explicit("foreign future change", FutureWarning, {foreign!r}, 2, module="example")
warnings.warn_explicit("foreign user warning", UserWarning, {foreign!r}, 3, module="example")
warnings.warn_explicit("own deprecation", DeprecationWarning, {str(own)!r}, 4, module="antrean.example")
"""
    shown = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, check=True).stderr
    assert "foreign deprecation" not in shown and "foreign future change" not in shown
    assert "foreign user warning" in shown and "own deprecation" in shown
