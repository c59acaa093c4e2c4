"""The one settings object (antrean/runtime/settings.py): every ANTREAN_* variable the product reads,
typed, checked at start-up with errors that name the variable, and the README's table in step."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from antrean.runtime.settings import (
    REPO_ROOT,
    Settings,
    SettingsError,
    WhatsAppSettings,
    current,
    markdown_table,
    shown_default,
    variables,
)

NAME = re.compile(r"\bANTREAN_[A-Z0-9_]*[A-Z0-9]\b")
SOURCES = ("antrean", "actions", "benchmarks", "scripts")
FILES = ("Makefile", "endpoints.yml", "endpoints.production.yml", "credentials.yml")


def _product_files() -> list[Path]:
    found = [path for folder in SOURCES for path in (REPO_ROOT / folder).rglob("*.py")]
    return found + [REPO_ROOT / name for name in FILES]


def test_every_variable_the_product_names_is_a_setting():
    declared = {variable.name for _area, variable, _default in variables()}
    named = {name for path in _product_files() for name in NAME.findall(path.read_text())}
    # Test-only variables are not product settings (README, "Tests").
    assert named - {n for n in named if n.startswith("ANTREAN_TEST_")} <= declared, sorted(named - declared)
    assert len(declared) == len(list(variables()))  # each variable declared once


def test_no_module_reads_the_environment_for_itself():
    # A read names the variable in .get(…), […] or getenv(…); writing a child's environment is no read.
    read = re.compile(r"""(?:environ|getenv|env)\s*(?:\.get\(|\[|\()\s*f?["']ANTREAN_(?!TEST_)"""
                      r"""(?![^"']*["']\]\s*=[^=])""")
    readers = [str(path.relative_to(REPO_ROOT)) for path in _product_files()
               if path.suffix == ".py" and path.name != "settings.py" and read.search(path.read_text())]
    assert readers == []
    assert [path.relative_to(REPO_ROOT) for path in (REPO_ROOT / "antrean").rglob("settings.py")] == [
        Path("antrean/runtime/settings.py")]


def _readme_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in (REPO_ROOT / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("| `ANTREAN_") else []
        if len(cells) == 3 and not cells[0].startswith("`ANTREAN_TEST_"):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def test_the_readme_table_lists_every_setting_with_its_default_and_meaning():
    documented = _readme_rows()
    declared = {variable.name: (shown_default(variable, default), variable.meaning)
                for _area, variable, default in variables()}
    differences = {name: {"README": documented.get(name), "settings": declared.get(name)}
                   for name in documented.keys() | declared.keys() if documented.get(name) != declared.get(name)}
    assert differences == {}, ("README's settings table differs from antrean/runtime/settings.py; the table "
                               "is printed by `python -m antrean.runtime.settings`")
    assert markdown_table() in (REPO_ROOT / "README.md").read_text()  # and in the same order, with the areas


def test_defaults_and_types():
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.database_url == f"sqlite:///{REPO_ROOT / 'var' / 'antrean.sqlite3'}"
    assert settings.tracker_url == f"sqlite:///{REPO_ROOT / 'var' / 'conversations.sqlite3'}"
    assert settings.media_dir == REPO_ROOT / "var" / "media"
    assert (settings.assistant.port, settings.console.port, settings.assistant.workers) == (5005, 8080, None)
    assert settings.whatsapp.sandbox and settings.whatsapp.poll_interval == 2.0
    typed = Settings.from_env({
        "ANTREAN_VAR_DIR": "/srv/antrean", "ANTREAN_RASA_WORKERS": " 3 ", "ANTREAN_PIN_WORKERS": "off",
        "ANTREAN_WA_SEND_RATE": "12.5", "ANTREAN_CLOCK": "2026-12-01T07:45:00+07:00",
        "ANTREAN_CONSOLE_SECURE_COOKIES": "yes", "ANTREAN_WA_GRAPH_URL": "http://127.0.0.1:9/",
        "ANTREAN_TRACKER_HOST": "db.internal", "ANTREAN_TRACKER_USER": "rasa", "ANTREAN_TRACKER_PASSWORD": "p@ss",
        "ANTREAN_WA_REMINDER_PARAMETERS": "queue_number, day",
    })
    assert typed.database_url == "sqlite:////srv/antrean/antrean.sqlite3"
    assert typed.assistant.workers == 3 and typed.assistant.pin_workers is False
    assert typed.whatsapp.send_rate_per_second == 12.5 and typed.whatsapp.graph_url == "http://127.0.0.1:9"
    assert typed.bookings.clock == datetime(2026, 12, 1, 7, 45, tzinfo=timezone(timedelta(hours=7)))
    assert typed.console.secure_cookies is True
    assert typed.tracker_url == "postgresql://rasa:p%40ss@db.internal:5432/rasa"
    assert typed.whatsapp.reminder_parameters == ("queue_number", "day")
    # One variable, read by two areas: the WhatsApp worker's purge and the retention job agree.
    both = Settings.from_env({"ANTREAN_WA_RETENTION_DAYS": "45"})
    assert both.whatsapp.retention_days == both.retention.whatsapp_days == 45


@pytest.mark.parametrize(("environ", "message"), [
    ({"ANTREAN_RASA_WORKERS": "dua"}, 'ANTREAN_RASA_WORKERS must be a whole number of at least 1, got "dua"'),
    ({"ANTREAN_CONSOLE_PORT": "80800"}, 'ANTREAN_CONSOLE_PORT must be a port number from 1 to 65535, got "80800"'),
    ({"ANTREAN_WA_SEND_RATE": "cepat"}, 'ANTREAN_WA_SEND_RATE must be a number greater than 0, got "cepat"'),
    ({"ANTREAN_RETENTION_DAILY": "kadang"}, "ANTREAN_RETENTION_DAILY must be 1 or 0"),
    ({"ANTREAN_CLOCK": "kemarin"}, "ANTREAN_CLOCK must be an ISO-8601 timestamp with a UTC offset"),
    ({"ANTREAN_CLOCK": "2026-12-01T07:45:00"}, "ANTREAN_CLOCK must be an ISO-8601 timestamp with a UTC offset"),
    ({"ANTREAN_WA_RETENTION_DAYS": "3"}, 'ANTREAN_WA_RETENTION_DAYS must be at least 8 days'),
    ({"ANTREAN_PUBLIC_URL": "antrean.example"}, "ANTREAN_PUBLIC_URL must be an http:// or https:// URL"),
    ({"ANTREAN_WA_REMINDER_PARAMETERS": "name,nik"}, "(unknown nik)"),
])
def test_a_wrong_value_names_the_variable_and_what_is_expected(environ, message):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(environ)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_every_wrong_value_is_reported_at_once_and_secrets_are_never_echoed():
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"ANTREAN_SECRET_KEY": "pendek-rahasia", "ANTREAN_RASA_WORKERS": "0",
                           "ANTREAN_WA_RETENTION_DAYS": "1"})
    text = str(refused.value)
    assert text.startswith("ANTREAN_SECRET_KEY must be at least 32 characters")
    assert "ANTREAN_RASA_WORKERS" in text and text.count("ANTREAN_WA_RETENTION_DAYS") == 1
    assert "pendek-rahasia" not in text
    shown = repr(Settings.from_env({"ANTREAN_SECRET_KEY": "s" * 40, "ANTREAN_WA_APP_SECRET": "app-secret-value",
                                    "ANTREAN_DATABASE_URL": "postgresql://u:db-password@h/antrean"}))
    assert "s" * 40 not in shown and "app-secret-value" not in shown and "db-password" not in shown


def test_the_process_settings_follow_the_environment(monkeypatch):
    monkeypatch.setenv("ANTREAN_RASA_WORKERS", "2")
    first = current()
    assert first.assistant.workers == 2 and current() is first  # built once while nothing changes
    monkeypatch.setenv("ANTREAN_RASA_WORKERS", "3")
    assert current().assistant.workers == 3
    monkeypatch.setenv("ANTREAN_RASA_WORKERS", "tiga")
    with pytest.raises(SettingsError, match="ANTREAN_RASA_WORKERS"):
        current()


def test_the_webhook_needs_its_secrets_sending_does_not():
    sending = WhatsAppSettings.from_env({"ANTREAN_WA_ACCESS_TOKEN": "token"})
    assert not sending.sandbox
    with pytest.raises(SettingsError, match="needs ANTREAN_WA_VERIFY_TOKEN, ANTREAN_WA_APP_SECRET"):
        sending.for_webhook()
    assert WhatsAppSettings(verify_token="v", app_secret="a").for_webhook().sandbox


@pytest.mark.parametrize("command", [["run"], ["serve"], ["console"], ["whatsapp", "receive"], ["offices"]])
def test_every_process_refuses_to_start_with_one_clear_line(command, tmp_path):
    environ = {key: value for key, value in os.environ.items() if not key.startswith("ANTREAN_")}
    environ.update(PYTHONPATH=str(REPO_ROOT), ANTREAN_VAR_DIR=str(tmp_path), ANTREAN_RASA_WORKERS="dua")
    finished = subprocess.run([sys.executable, "-m", "antrean", *command], cwd=REPO_ROOT, env=environ,
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode == 2
    assert finished.stderr == 'error: ANTREAN_RASA_WORKERS must be a whole number of at least 1, got "dua"\n'
    assert finished.stdout == "" and not any(tmp_path.iterdir())  # nothing started, nothing written


def test_the_consoles_certificate_and_key_go_together_and_must_exist(tmp_path):
    cert, key = tmp_path / "konsol.pem", tmp_path / "konsol-key.pem"
    cert.write_text("certificate")
    only_cert = Settings.from_env({"ANTREAN_CONSOLE_TLS_CERT": str(cert)}).console
    with pytest.raises(SettingsError, match="ANTREAN_CONSOLE_TLS_CERT and ANTREAN_CONSOLE_TLS_KEY go together"):
        only_cert.check_tls()
    missing_key = Settings.from_env({"ANTREAN_CONSOLE_TLS_CERT": str(cert), "ANTREAN_CONSOLE_TLS_KEY": str(key)})
    with pytest.raises(SettingsError, match="ANTREAN_CONSOLE_TLS_KEY must be a readable file"):
        missing_key.console.check_tls()
    key.write_text("key")
    both = Settings.from_env({"ANTREAN_CONSOLE_TLS_CERT": str(cert), "ANTREAN_CONSOLE_TLS_KEY": str(key),
                              "ANTREAN_CONSOLE_HOST": "0.0.0.0", "ANTREAN_CONSOLE_PORT": "8443"}).console
    both.check_tls()
    assert both.local_url == "https://127.0.0.1:8443"  # a wildcard address is reached on loopback
    assert Settings.from_env({}).console.local_url == "http://127.0.0.1:8080"
