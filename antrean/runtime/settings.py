"""Every ``ANTREAN_*`` environment variable the product reads — its type, default and meaning — in one
place, grouped by area.

``Settings.from_env()`` reads and checks them all at once; a wrong value is a ``SettingsError`` whose
one line names the variable and says what is expected. ``python -m antrean …`` builds the settings
before it does anything else, so every process of the stack refuses to start on a bad value (exit
code 2, no traceback). Code asks ``current()`` — the process environment's settings, built again only
when an ``ANTREAN_*`` variable changed, so tests that ``monkeypatch.setenv`` see their value — or is
handed a ``Settings`` (or, in tests, a plain dict: see ``resolve``).

Secrets and URLs come from the environment only: nothing here holds a password or a key. The
README's settings table is generated from this module (``python -m antrean.runtime.settings``) and
tests/test_settings.py fails when the two differ. Variables only the tests read
(``ANTREAN_TEST_*``) are not product settings and are not listed here (README, "Tests")."""

# ruff: noqa: RUF009 — `_var` returns a dataclasses.field (with the variable in its metadata), not a default value

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, ClassVar

REPO_ROOT = Path(__file__).resolve().parents[2]
VAR_DIR = REPO_ROOT / "var"  # ANTREAN_VAR_DIR's default

# Meta retries a webhook delivery for up to 7 days: processed messages must be kept longer, so a
# retried delivery is still recognised as a duplicate (antrean.whatsapp.inbox.Inbox.purge).
MIN_WHATSAPP_RETENTION_DAYS = 8
# What a reminder template's body parameters may be, in the order the approved template uses them.
REMINDER_PARAMETERS = ("name", "day", "session", "queue_number", "office", "code", "address")
DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v21.0"
DEFAULT_POLL_SECONDS = 2.0


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the variable and what is expected."""


class _Expected(Exception):
    """Raised by a parser: what a valid value looks like (completes "<variable> must be …")."""


# --- parsers: raw (stripped, non-empty) text -> typed value ---------------------------------------

Parser = Callable[[str], Any]


def _text(raw: str) -> str:
    return raw


def _whole(minimum: int = 1, maximum: int | None = None, expected: str | None = None) -> Parser:
    expected = expected or f"a whole number of at least {minimum}"

    def parse(raw: str) -> int:
        if not re.fullmatch(r"[+-]?\d+", raw):
            raise _Expected(expected)
        value = int(raw)
        if value < minimum or (maximum is not None and value > maximum):
            raise _Expected(expected)
        return value

    return parse


_port = _whole(1, 65535, "a port number from 1 to 65535")
_days = _whole(1, expected="positive (a whole number of days)")
_whatsapp_days = _whole(MIN_WHATSAPP_RETENTION_DAYS, expected=f"at least {MIN_WHATSAPP_RETENTION_DAYS} days (Meta "
                        "retries deliveries for up to 7 days)")


def _positive_number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _Expected("a number greater than 0") from None
    if not value > 0 or value == float("inf"):
        raise _Expected("a number greater than 0")
    return value


def _hours_up_to_a_week(raw: str) -> float:
    value = _positive_number(raw)
    if value > 24 * 7:
        raise _Expected("a number of hours greater than 0, at most 168 (a week)")
    return value


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _f1_difference(raw: str) -> float:
    expected = "a number from 0 to 1 (a difference of two F1 scores)"
    try:
        value = float(raw)
    except ValueError:
        raise _Expected(expected) from None
    if not 0 <= value <= 1:
        raise _Expected(expected)
    return value


def _flag(raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise _Expected("1 or 0 (also true/false, yes/no, on/off)")


def _moment(raw: str) -> datetime:
    expected = "an ISO-8601 timestamp with a UTC offset, e.g. 2026-12-01T07:45:00+07:00"
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _Expected(expected) from None
    if moment.tzinfo is None:
        raise _Expected(expected)
    return moment


def _http_url(raw: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", raw):
        raise _Expected("an http:// or https:// URL")
    return raw.rstrip("/")


def _database_url(raw: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(raw)
    except (ArgumentError, ValueError):
        raise _Expected("a database URL such as postgresql://user:password@host/antrean or "
                        "sqlite:////path/to/file.sqlite3") from None
    return raw


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


def _secret_key(raw: str) -> str:
    if len(raw) < 32:
        raise _Expected("at least 32 characters (e.g. `openssl rand -hex 32`)")
    return raw


def _networks(raw: str) -> tuple[IPv4Network | IPv6Network, ...]:
    try:
        return tuple(ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())
    except ValueError:
        raise _Expected("comma-separated IP addresses or networks, e.g. 10.0.0.5,10.0.0.0/24") from None


def _worker_id(raw: str) -> str:
    return raw[:64]  # the lease table's column


def _reminder_parameters(raw: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    unknown = sorted(set(names) - set(REMINDER_PARAMETERS))
    if unknown or not names:
        raise _Expected(f"a comma-separated list of {', '.join(REMINDER_PARAMETERS)}"
                        + (f" (unknown {', '.join(unknown)})" if unknown else ""))
    return names


# --- declaring a variable -------------------------------------------------------------------------

@dataclass(frozen=True)
class Variable:
    name: str
    meaning: str
    parse: Parser
    shown: str | None = None  # the default as the README shows it, when it is not the value itself
    secret: bool = False  # never echoed in errors or repr
    same_as: bool = False  # declared in another area; read here too, listed there

    def read(self, environ: Mapping[str, str], default: Any) -> Any:
        raw = (environ.get(self.name) or "").strip()
        if not raw:
            return default
        try:
            return self.parse(raw)
        except _Expected as expected:
            got = "" if self.secret else f', got "{raw}"'
            raise SettingsError(f"{self.name} must be {expected}{got}") from None


_VARIABLE = "antrean_variable"


def _var(name: str, default: Any, meaning: str, parse: Parser = _text, *, shown: str | None = None,
         secret: bool = False, same_as: bool = False) -> Any:
    return field(default=default, metadata={_VARIABLE: Variable(name, meaning, parse, shown, secret, same_as)})


class _Area:
    """A group of settings; built from the environment by reading each field's variable."""

    title: ClassVar[str]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None):
        values, problems = cls._read(os.environ if environ is None else environ)
        if problems:
            raise SettingsError("; ".join(problems))
        return cls(**values)

    @classmethod
    def _read(cls, environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
        values, problems = {}, []
        for item in fields(cls):
            variable = item.metadata.get(_VARIABLE)
            if variable is None:
                continue
            try:
                values[item.name] = variable.read(environ, item.default)
            except SettingsError as error:
                problems.append(str(error))
        return values, problems

    def __repr__(self) -> str:  # secrets never reach a log or a traceback
        shown = []
        for item in fields(self):
            value = getattr(self, item.name)
            variable = item.metadata.get(_VARIABLE)
            if variable is not None and variable.secret and value:
                value = "***"
            shown.append(f"{item.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


# --- the areas ----------------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class StorageSettings(_Area):
    title: ClassVar[str] = "Files and database"
    var_dir: Path = _var("ANTREAN_VAR_DIR", VAR_DIR, "`<var>`: the embedded set-up's files (SQLite databases, "
                         "secret key, photos, run files); `make shell` always uses `var/`", _path,
                         shown="`var/` in the checkout")
    database_url: str | None = _var("ANTREAN_DATABASE_URL", None, "booking database (and the console's, WhatsApp's "
                                    "tables); `postgresql://…` in production", _database_url,
                                    shown="`sqlite:///<var>/antrean.sqlite3`", secret=True)
    media_dir: Path | None = _var("ANTREAN_MEDIA_DIR", None, "private store of ID photos", _path,
                                  shown="`<var>/media`")


@dataclass(frozen=True, repr=False)
class BookingSettings(_Area):
    title: ClassVar[str] = "Bookings"
    offices: Path = _var("ANTREAN_OFFICES", REPO_ROOT / "config" / "offices.yml",
                         "the offices, their sessions, quotas and closures", _path)
    secret_key: str | None = _var("ANTREAN_SECRET_KEY", None, "signs booking codes; ≥ 32 characters; every server "
                                  "of an office must share it", _secret_key,
                                  shown="a random key kept in `<var>/secret_key` (mode 0600)", secret=True)
    clock: datetime | None = _var("ANTREAN_CLOCK", None, "ISO-8601 timestamp with offset (e.g. "
                                  "`2026-12-01T07:45:00+07:00`) freezing time for demos and tests; a warning is "
                                  "logged", _moment, shown="the system clock")


@dataclass(frozen=True, repr=False)
class AssistantSettings(_Area):
    title: ClassVar[str] = "Rasa server"
    port: int = _var("ANTREAN_RASA_PORT", 5005, "port of the Rasa server `make run` starts (on 127.0.0.1)", _port)
    workers: int | None = _var("ANTREAN_RASA_WORKERS", None, "Rasa server processes `make run` starts (Sanic "
                               "workers sharing the port)", _whole(1), shown="one per core, at most 4")
    pin_workers: bool = _var("ANTREAN_PIN_WORKERS", True, "`0`: several Rasa workers are not pinned to a CPU "
                             "each (antrean/assistant/worker_cpus.py)", _flag)
    rest_token: str | None = _var("ANTREAN_REST_TOKEN", None, "bearer token the REST channel's webhook and "
                                  "staff-reply routes require", shown="unset: open, and the Rasa server "
                                  "refuses to listen beyond loopback", secret=True)
    public_url: str | None = _var("ANTREAN_PUBLIC_URL", None, "address applicants' QR-ticket links point to",
                                  _http_url, shown="the Rasa server's own address (`http://localhost:5005`)")
    redis_host: str | None = _var("ANTREAN_REDIS_HOST", None, "`endpoints.production.yml`: the Redis lock store's "
                                  "host (read by Rasa)", shown="unset (`python -m antrean cluster`: 127.0.0.1)")
    redis_port: int = _var("ANTREAN_REDIS_PORT", 6379, "… its port", _port)
    redis_db: int = _var("ANTREAN_REDIS_DB", 1, "… its database number", _whole(0))
    redis_key_prefix: str = _var("ANTREAN_REDIS_KEY_PREFIX", "antrean", "… the prefix of its keys (several "
                                 "installations may share one Redis)")
    redis_password: str | None = _var("ANTREAN_REDIS_PASSWORD", None, "… its password", shown="unset",
                                      secret=True)
    cluster_port: int = _var("ANTREAN_CLUSTER_PORT", 8000, "`python -m antrean cluster`: haproxy's port for the "
                             "WhatsApp webhook and the REST channel (the console's is `ANTREAN_CONSOLE_PORT`)", _port)
    cluster_first_port: int = _var("ANTREAN_CLUSTER_FIRST_PORT", 5100, "`python -m antrean cluster`: the Rasa "
                                   "servers listen on this port and the next ones, the receivers from +20, the "
                                   "console on +40", _port)
    model_server_url: str | None = _var("ANTREAN_MODEL_SERVER_URL", None, "`endpoints.production.yml`: where every "
                                        "Rasa worker pulls the live model (`python -m antrean model serve`, route "
                                        "`/models/live`; read by Rasa)", _http_url, shown="unset")

    @property
    def ticket_base_url(self) -> str:
        return self.public_url or "http://localhost:5005"


@dataclass(frozen=True, repr=False)
class ConversationSettings(_Area):
    title: ClassVar[str] = "Conversations (Rasa's tracker store)"
    url: str | None = _var("ANTREAN_TRACKER_URL", None, "Rasa's SQL tracker store: where `make run` keeps the "
                           "conversations and the console reads them", _database_url,
                           shown="built from `ANTREAN_TRACKER_HOST`…, else `sqlite:///<var>/conversations.sqlite3`",
                           secret=True)
    host: str | None = _var("ANTREAN_TRACKER_HOST", None, "PostgreSQL tracker store (`endpoints.production.yml`): "
                            "host", shown="unset")
    port: int = _var("ANTREAN_TRACKER_PORT", 5432, "… its port", _port)
    db: str = _var("ANTREAN_TRACKER_DB", "rasa", "… its database")
    user: str = _var("ANTREAN_TRACKER_USER", "", "… its user", shown="unset")
    password: str = _var("ANTREAN_TRACKER_PASSWORD", "", "… its password", shown="unset", secret=True)


@dataclass(frozen=True, repr=False)
class ConsoleSettings(_Area):
    title: ClassVar[str] = "Staff console"
    port: int = _var("ANTREAN_CONSOLE_PORT", 8080, "port of the staff console `make run` starts", _port)
    host: str = _var("ANTREAN_CONSOLE_HOST", "127.0.0.1", "address the console listens on; `0.0.0.0`: every "
                     "network of the machine, for phones on the office network (with HTTPS: docs/deploying.md)")
    tls_cert: Path | None = _var("ANTREAN_CONSOLE_TLS_CERT", None, "certificate (PEM, with its chain) the console "
                                 "serves HTTPS with; the door's QR scanner needs HTTPS", _path, shown="unset: HTTP")
    tls_key: Path | None = _var("ANTREAN_CONSOLE_TLS_KEY", None, "… its private key (PEM)", _path, shown="unset")
    session_minutes: int = _var("ANTREAN_CONSOLE_SESSION_MINUTES", 30, "a staff session ends after this many "
                                "idle minutes", _whole(1))
    secure_cookies: bool = _var("ANTREAN_CONSOLE_SECURE_COOKIES", False, "`1`: `Secure` cookies always (off: "
                                "whenever the request came over HTTPS)", _flag)
    trusted_proxies: tuple = _var("ANTREAN_CONSOLE_TRUSTED_PROXIES", (), "comma-separated addresses or networks "
                                  "of the TLS proxy in front of the console (e.g. `127.0.0.1`); only from these "
                                  "peers are `X-Forwarded-Proto` (→ `Secure`, `__Host-` cookies) and "
                                  "`X-Forwarded-For` (→ the client's address for login throttling and the audit "
                                  "log) believed", _networks, shown="unset: none")
    rasa_url: str = _var("ANTREAN_RASA_URL", "http://127.0.0.1:5005", "the Rasa server the simulator checks "
                         "before it writes to the WhatsApp inbox (`make run` sets it)", _http_url)
    practice_hours: float = _var("ANTREAN_PRACTICE_HOURS", 12.0, "practice bookings (simulator, training mode) "
                                 "are deleted this many hours after they were made", _hours_up_to_a_week, shown="`12`")
    review_sync_seconds: float = _var("ANTREAN_REVIEW_SYNC_SECONDS", 2.0, "how often the console copies new "
                                      "events from Rasa's tracker store into its conversation review (opening the "
                                      "list copies them too); an idle look is two one-row queries",
                                      _positive_number, shown="`2`")

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def check_tls(self) -> None:
        """Both files or neither, and readable: a console that silently fell back to HTTP would hide
        the door's camera again."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("ANTREAN_CONSOLE_TLS_CERT and ANTREAN_CONSOLE_TLS_KEY go together: set both or neither")
        for name, path in (("ANTREAN_CONSOLE_TLS_CERT", self.tls_cert), ("ANTREAN_CONSOLE_TLS_KEY", self.tls_key)):
            if path is not None and not path.is_file():
                raise SettingsError(f"{name} must be a readable file, got \"{path}\"")

    @property
    def local_url(self) -> str:
        """Where this machine reaches the console (a wildcard address is reached on loopback)."""
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host
        return f"{'https' if self.tls else 'http'}://{'[' + host + ']' if ':' in host else host}:{self.port}"


@dataclass(frozen=True, repr=False)
class WhatsAppSettings(_Area):
    title: ClassVar[str] = "WhatsApp (Cloud API)"
    verify_token: str = _var("ANTREAN_WA_VERIFY_TOKEN", "", "the webhook's verification token (Meta's "
                             "handshake); required by the webhook", shown="unset (`make run`: a random one in "
                             "`<var>/`)", secret=True)
    app_secret: str = _var("ANTREAN_WA_APP_SECRET", "", "the app secret webhook signatures are checked with; "
                           "required by the webhook", shown="unset (`make run`: a random one in `<var>/`)",
                           secret=True)
    access_token: str | None = _var("ANTREAN_WA_ACCESS_TOKEN", None, "Graph API token replies are sent with",
                                    shown="unset: sandbox mode, replies are recorded, not sent", secret=True)
    graph_url: str = _var("ANTREAN_WA_GRAPH_URL", DEFAULT_GRAPH_URL, "the Graph API", _http_url)
    graph_version: str = _var("ANTREAN_WA_GRAPH_VERSION", DEFAULT_GRAPH_VERSION, "the Graph API version")
    max_body_bytes: int = _var("ANTREAN_WA_MAX_BODY_BYTES", 1024 * 1024, "largest webhook body accepted (Meta's "
                               "are a few kB)", _whole(1))
    send_rate_per_second: float = _var("ANTREAN_WA_SEND_RATE", 80.0, "messages sent per second at most (Cloud "
                                       "API default per business number)", _positive_number)
    flood_max_messages: int = _var("ANTREAN_WA_FLOOD_MAX_MESSAGES", 20, "messages per sender and window answered; "
                                   "beyond, they are kept, not answered", _whole(1))
    flood_window_seconds: int = _var("ANTREAN_WA_FLOOD_WINDOW_SECONDS", 60, "… that window", _whole(1))
    concurrent_senders: int = _var("ANTREAN_WA_CONCURRENT_SENDERS", 32, "conversations fed to Rasa at once per "
                                   "process (each sender stays in order)", _whole(1))
    # Several Rasa processes may share one inbox: each holds a lease per sender it is answering. A
    # stable worker id lets a restarted process take its own leases back at once.
    worker_id: str = _var("ANTREAN_WA_WORKER_ID", "", "a stable id per Rasa process lets a restarted one take "
                          "its leases back at once", _worker_id, shown="host-pid-random")
    poll_seconds: float | None = _var("ANTREAN_WA_POLL_SECONDS", None, "how often a worker looks for messages it "
                                      "was not woken for", _positive_number,
                                      shown="2 (0.25 when `make run` starts the receiver)")
    lease_seconds: int = _var("ANTREAN_WA_LEASE_SECONDS", 30, "a crashed worker's senders are taken over after "
                              "this", _whole(1))
    retention_days: int = _var("ANTREAN_WA_RETENTION_DAYS", 30, "processed messages, replies and statuses are "
                               f"deleted after this many days (≥ {MIN_WHATSAPP_RETENTION_DAYS})", _whatsapp_days)
    reminder_template: str = _var("ANTREAN_WA_REMINDER_TEMPLATE", "pengingat_antrean", "approved template for "
                                  "reminders outside the 24-hour window")
    reminder_language: str = _var("ANTREAN_WA_REMINDER_LANGUAGE", "id", "… its language")
    reminder_parameters: tuple[str, ...] = _var("ANTREAN_WA_REMINDER_PARAMETERS", REMINDER_PARAMETERS[:6],
                                                "… its body parameters in order (also `address`)",
                                                _reminder_parameters)
    webhook_url: str | None = _var("ANTREAN_WA_WEBHOOK_URL", None, "the HTTPS address Meta calls with messages "
                                   "(the app's callback URL); `python -m antrean whatsapp check` compares Meta's "
                                   "with it", _http_url, shown="`<ANTREAN_PUBLIC_URL>/webhooks/whatsapp/webhook`")
    receiver_port: int | None = _var("ANTREAN_WA_RECEIVER_PORT", None, "`make run` also starts the webhook "
                                     "receiver on this port", _port, shown="unset")

    @property
    def sandbox(self) -> bool:
        return not self.access_token

    @property
    def poll_interval(self) -> float:
        return self.poll_seconds or DEFAULT_POLL_SECONDS

    @property
    def account_configured(self) -> bool:
        """Any of the account's secrets given (a half-configured account is refused by the webhook)."""
        return bool(self.access_token or self.verify_token or self.app_secret)

    def for_webhook(self) -> WhatsAppSettings:
        """These settings, when the webhook can run with them (commands that only send need no secrets)."""
        missing = [name for name, value in (("ANTREAN_WA_VERIFY_TOKEN", self.verify_token),
                                            ("ANTREAN_WA_APP_SECRET", self.app_secret)) if not value]
        if missing:
            raise SettingsError(f"the WhatsApp channel needs {', '.join(missing)} in the environment")
        return self


@dataclass(frozen=True, repr=False)
class ReadingSettings(_Area):
    title: ClassVar[str] = "Reading the e-KTP (antrean/identity/ektp.py)"
    enabled: bool = _var("ANTREAN_EKTP_READING", True, "`0`: e-KTP photos are not read (applicants are asked for "
                         "their NIK)", _flag)
    tessdata: Path | None = _var("ANTREAN_TESSDATA", None, "a folder holding Tesseract's `ind.traineddata`", _path,
                                 shown="Debian's `/usr/share/tesseract-ocr/5/tessdata` (package tesseract-ocr-ind)")


@dataclass(frozen=True, repr=False)
class RetentionSettings(_Area):
    title: ClassVar[str] = "Retention of personal data"
    photo_days: int = _var("ANTREAN_RETENTION_PHOTO_DAYS", 30, "ID photos are deleted this many days after the "
                           "appointment (or upload)", _days)
    # The WhatsApp worker's own hourly purge reads the same variable.
    whatsapp_days: int = _var("ANTREAN_WA_RETENTION_DAYS", WhatsAppSettings.retention_days, "", _whatsapp_days,
                              same_as=True)
    conversation_days: int = _var("ANTREAN_RETENTION_CONVERSATION_DAYS", 180, "conversations, their review "
                                  "copies and handoff requests are deleted after this many days", _days)
    booking_days: int = _var("ANTREAN_RETENTION_BOOKING_DAYS", 365, "finished bookings are anonymised this many "
                             "days after the appointment", _days)
    daily: bool = _var("ANTREAN_RETENTION_DAILY", True, "`0`: the console does not run the daily retention job "
                       "(run `python -m antrean retention run` from cron instead)", _flag)


@dataclass(frozen=True, repr=False)
class ModelSettings(_Area):
    title: ClassVar[str] = "Trained models (antrean/model_registry)"
    models_dir: Path = _var("ANTREAN_MODELS_DIR", REPO_ROOT / "models", "where every trained model is kept, "
                            "with its manifest and evaluation", _path, shown="`models/` in the checkout")
    intent_f1_tolerance: float = _var("ANTREAN_GATE_INTENT_F1_TOLERANCE", 0.01, "the promotion gate refuses a "
                                      "model whose intent macro-F1 is below the live one's by more than this",
                                      _f1_difference)
    entity_f1_tolerance: float = _var("ANTREAN_GATE_ENTITY_F1_TOLERANCE", 0.01, "… whose entity F1 (exact "
                                      "spans) is below it by more than this", _f1_difference)
    intent_f1_drop: float = _var("ANTREAN_GATE_INTENT_F1_DROP", 0.10, "… or one of whose intents' F1 is "
                                 "below the live one's by more than this", _f1_difference)


# --- all of them --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    storage: StorageSettings = field(default_factory=StorageSettings)
    bookings: BookingSettings = field(default_factory=BookingSettings)
    assistant: AssistantSettings = field(default_factory=AssistantSettings)
    conversations: ConversationSettings = field(default_factory=ConversationSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    whatsapp: WhatsAppSettings = field(default_factory=WhatsAppSettings)
    reading: ReadingSettings = field(default_factory=ReadingSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    models: ModelSettings = field(default_factory=ModelSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Every area from ``environ`` (default: the process environment); all problems in one error."""
        environ = os.environ if environ is None else environ
        areas, problems = {}, []
        for item in fields(cls):
            values, wrong = item.default_factory._read(environ)
            areas[item.name] = item.default_factory(**values)
            problems += [problem for problem in wrong if problem not in problems]  # a variable read by two areas
        if problems:
            raise SettingsError("; ".join(problems))
        return cls(**areas)

    # Defaults that depend on another setting (the var folder).

    @property
    def database_url(self) -> str:
        return self.storage.database_url or f"sqlite:///{self.storage.var_dir / 'antrean.sqlite3'}"

    @property
    def media_dir(self) -> Path:
        return self.storage.media_dir or self.storage.var_dir / "media"

    @property
    def tracker_url(self) -> str:
        """ANTREAN_TRACKER_URL; else the PostgreSQL settings endpoints.production.yml reads; else the
        SQLite file next to the bookings (as endpoints.yml, for `make shell`)."""
        conversations = self.conversations
        if conversations.url:
            return conversations.url
        if conversations.host:
            from urllib.parse import quote

            user, password = quote(conversations.user, safe=""), quote(conversations.password, safe="")
            credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
            return f"postgresql://{credentials}{conversations.host}:{conversations.port}/{conversations.db}"
        return f"sqlite:///{self.storage.var_dir / 'conversations.sqlite3'}"


_current: tuple[tuple[tuple[str, str], ...], Settings] | None = None


def current() -> Settings:
    """The process environment's settings. Built again only when an ``ANTREAN_*`` variable changed
    (never stale, e.g. under ``monkeypatch.setenv``); a wrong value raises ``SettingsError`` each time."""
    global _current
    key = tuple(sorted((name, value) for name, value in os.environ.items() if name.startswith("ANTREAN_")))
    cached = _current
    if cached is None or cached[0] != key:
        cached = _current = (key, Settings.from_env(os.environ))
    return cached[1]


def resolve(source: Settings | Mapping[str, str] | None = None) -> Settings:
    """What functions that take settings accept: a ``Settings``, an environment mapping (tests, child
    processes' environments) or None for ``current()``."""
    if isinstance(source, Settings):
        return source
    return current() if source is None else Settings.from_env(source)


def secret_key(settings: Settings | Mapping[str, str] | None = None, var_dir: Path | None = None) -> bytes:
    """The key that signs booking codes. ANTREAN_SECRET_KEY wins (every server of an office must
    share it); without it, the embedded set-up keeps a random key in <var>/secret_key, created once
    with owner-only permissions — never a key written in the code."""
    settings = resolve(settings)
    if settings.bookings.secret_key:
        return settings.bookings.secret_key.encode()
    return _private_file(Path(var_dir or settings.storage.var_dir) / "secret_key", lambda: secrets.token_hex(32))


def local_development_secrets(var_dir: Path) -> dict[str, str]:
    """Verify token and app secret for a machine with no WhatsApp account (`make run`, tests that
    start a stack for another channel): random values kept under <var>/ with owner-only permissions,
    so the channel starts in sandbox mode and no secret is ever written in the code."""
    text = _private_file(Path(var_dir) / "whatsapp_dev_secrets",
                         lambda: f"{secrets.token_hex(16)}\n{secrets.token_hex(32)}\n").decode()
    verify_token, app_secret = text.split()[:2]
    return {"ANTREAN_WA_VERIFY_TOKEN": verify_token, "ANTREAN_WA_APP_SECRET": app_secret}


def _private_file(path: Path, content: Callable[[], str]) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of the stack wrote it first
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(content())
    return path.read_text().strip().encode()


# --- the README's table -------------------------------------------------------------------------

def variables() -> Iterator[tuple[str, Variable, Any]]:
    """(area title, variable, default) of every product setting, each once, in the README's order."""
    for area in fields(Settings):
        for item in fields(area.default_factory):
            variable = item.metadata.get(_VARIABLE)
            if variable is not None and not variable.same_as:
                yield area.default_factory.title, variable, item.default


def shown_default(variable: Variable, default: Any) -> str:
    if variable.shown is not None:
        return variable.shown
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, Path):
        default = default.relative_to(REPO_ROOT) if default.is_relative_to(REPO_ROOT) else default
    elif isinstance(default, float):
        default = f"{default:g}"
    elif isinstance(default, tuple):
        default = ",".join(default)
    return f"`{default}`"


def markdown_table() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    area = None
    for title, variable, default in variables():
        if title != area:
            area = title
            lines.append(f"| **{title}** | | |")
        lines.append(f"| `{variable.name}` | {shown_default(variable, default)} | {variable.meaning} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
