"""WhatsApp channel settings, read from the environment only (secrets never live in files)."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v21.0"


# What a reminder template's body parameters may be, in the order the approved template uses them.
REMINDER_PARAMETERS = ("name", "day", "session", "queue_number", "office", "code", "address")


class WhatsAppSettingsError(RuntimeError):
    pass


@dataclass(frozen=True)
class WhatsAppSettings:
    verify_token: str
    app_secret: str
    access_token: str | None = None  # None: sandbox mode, replies are recorded instead of sent
    graph_url: str = DEFAULT_GRAPH_URL
    graph_version: str = DEFAULT_GRAPH_VERSION
    max_body_bytes: int = 1024 * 1024  # Meta's webhook bodies are a few kB; a batch stays far below
    send_rate_per_second: float = 80.0  # Cloud API default per business number
    flood_max_messages: int = 20  # per sender and window; beyond it messages are kept, not answered
    flood_window_seconds: int = 60
    concurrent_senders: int = 32  # conversations fed to Rasa at once (each sender stays in order)
    # Several Rasa processes may share one inbox: each holds a lease per sender it is answering.
    # A stable worker id (e.g. the host and port) lets a restarted process take its own leases back
    # at once; otherwise they are taken over when they run out.
    worker_id: str = ""
    poll_seconds: float = 2.0  # how often the worker looks for messages it was not woken for
    lease_seconds: int = 30
    retention_days: int = 30  # processed messages and replies are deleted after this many days
    # Reminder the day before an appointment outside the 24-hour window: an approved template.
    reminder_template: str = "pengingat_antrean"
    reminder_language: str = "id"
    reminder_parameters: tuple[str, ...] = ("name", "day", "session", "queue_number", "office", "code")

    @property
    def sandbox(self) -> bool:
        return not self.access_token

    def __repr__(self) -> str:  # never print secrets (tracebacks, debug logs)
        return (f"WhatsAppSettings(graph_url={self.graph_url!r}, graph_version={self.graph_version!r}, "
                f"sandbox={self.sandbox})")

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None, webhook: bool = True) -> WhatsAppSettings:
        """`webhook=False`: for commands that only send (reminders), which need no webhook secrets."""
        environ = environ if environ is not None else dict(os.environ)
        missing = [k for k in ("ANTREAN_WA_VERIFY_TOKEN", "ANTREAN_WA_APP_SECRET") if not environ.get(k, "").strip()]
        if missing and webhook:
            raise WhatsAppSettingsError(f"the WhatsApp channel needs {', '.join(missing)} in the environment")
        parameters = tuple(p.strip() for p in environ.get("ANTREAN_WA_REMINDER_PARAMETERS", "").split(",") if p.strip())
        unknown = set(parameters) - set(REMINDER_PARAMETERS)
        if unknown:
            raise WhatsAppSettingsError(f"ANTREAN_WA_REMINDER_PARAMETERS: unknown {', '.join(sorted(unknown))}; "
                                        f"known: {', '.join(REMINDER_PARAMETERS)}")
        return cls(
            verify_token=environ.get("ANTREAN_WA_VERIFY_TOKEN", "").strip(),
            app_secret=environ.get("ANTREAN_WA_APP_SECRET", "").strip(),
            access_token=environ.get("ANTREAN_WA_ACCESS_TOKEN", "").strip() or None,
            graph_url=(environ.get("ANTREAN_WA_GRAPH_URL", "").strip() or DEFAULT_GRAPH_URL).rstrip("/"),
            graph_version=environ.get("ANTREAN_WA_GRAPH_VERSION", "").strip() or DEFAULT_GRAPH_VERSION,
            max_body_bytes=_positive(environ, "ANTREAN_WA_MAX_BODY_BYTES", 1024 * 1024, int),
            send_rate_per_second=_positive(environ, "ANTREAN_WA_SEND_RATE", 80.0, float),
            flood_max_messages=_positive(environ, "ANTREAN_WA_FLOOD_MAX_MESSAGES", 20, int),
            flood_window_seconds=_positive(environ, "ANTREAN_WA_FLOOD_WINDOW_SECONDS", 60, int),
            concurrent_senders=_positive(environ, "ANTREAN_WA_CONCURRENT_SENDERS", 32, int),
            worker_id=environ.get("ANTREAN_WA_WORKER_ID", "").strip()[:64],
            poll_seconds=_positive(environ, "ANTREAN_WA_POLL_SECONDS", 2.0, float),
            lease_seconds=_positive(environ, "ANTREAN_WA_LEASE_SECONDS", 30, int),
            retention_days=_positive(environ, "ANTREAN_WA_RETENTION_DAYS", 30, int),
            reminder_template=environ.get("ANTREAN_WA_REMINDER_TEMPLATE", "").strip() or "pengingat_antrean",
            reminder_language=environ.get("ANTREAN_WA_REMINDER_LANGUAGE", "").strip() or "id",
            reminder_parameters=parameters or cls.reminder_parameters,
        )


def _positive(environ: dict[str, str], key: str, default, kind):
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise WhatsAppSettingsError(f"{key} must be a number, not {raw!r}") from None
    if value <= 0:
        raise WhatsAppSettingsError(f"{key} must be positive")
    return value


def local_development_secrets(var_dir) -> dict[str, str]:
    """Verify token and app secret for a machine with no WhatsApp account (`make run`, tests that
    start a stack for another channel): random values kept under var/ with owner-only permissions,
    so the channel starts in sandbox mode and no secret is ever written in the code."""
    import secrets
    from pathlib import Path

    path = Path(var_dir) / "whatsapp_dev_secrets"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"{secrets.token_hex(16)}\n{secrets.token_hex(32)}\n")
    verify_token, app_secret = path.read_text().split()[:2]
    return {"ANTREAN_WA_VERIFY_TOKEN": verify_token, "ANTREAN_WA_APP_SECRET": app_secret}
