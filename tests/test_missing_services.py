"""A test whose PostgreSQL, Chromium or trained model is missing skips with the reason; under
CI=true it fails, so CI cannot go green by not running what it cannot run (tests/conftest.py,
`absent`). Each case is a real pytest run in a subprocess, with the repository's own fixtures, a
PostgreSQL URL on a port nothing listens on, and paths where there is no browser and no model."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from antrean.runtime.db import REPO_ROOT

pytestmark = pytest.mark.slow  # each test is a pytest run of its own

CONFTEST = """
from pathlib import Path

import antrean.runtime.serve as serve
import tests.console.browser as browser
from tests.conftest import chromium_present, postgres_server_url, trained_model  # noqa: F401

browser.CHROMIUM = "/nonexistent/chromium"
serve.DEFAULT_MODEL = Path("/nonexistent/antrean.tar.gz")
"""

TESTS = """
def test_needs_postgresql(postgres_server_url):
    pass

def test_needs_chromium(chromium_present):
    pass

def test_needs_the_model(trained_model):
    pass
"""


def run_pytest(folder, ci: str | None) -> subprocess.CompletedProcess:
    (folder / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (folder / "test_needs.py").write_text(textwrap.dedent(TESTS))
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env.update(PYTHONPATH=str(REPO_ROOT), ANTREAN_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:1/postgres")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rsE", "--rootdir",
                           str(folder), str(folder)], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)


REASONS = ("PostgreSQL not reachable at postgresql://postgres@127.0.0.1:1/postgres",
           "/nonexistent/chromium is absent", "no trained model")


def test_without_ci_a_missing_service_is_a_skip_with_its_reason(tmp_path):
    result = run_pytest(tmp_path, ci=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 skipped" in result.stdout
    for reason in REASONS:
        assert reason in result.stdout


def test_with_ci_true_a_missing_service_fails_the_run(tmp_path):
    result = run_pytest(tmp_path, ci="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 errors" in result.stdout and "skipped" not in result.stdout
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 3
    for reason, error in zip(REASONS, errors, strict=True):
        assert reason in error and "CI=true: a missing service fails the run" in error
