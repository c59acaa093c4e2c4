"""Console settings, one class per environment (flasky's habit). Secrets and URLs come from the
environment only; there are no default passwords or keys here."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

from antrean.booking.service import BookingService
from antrean.console.accounts import StaffAccounts
from antrean.console.throttle import ThrottlePolicy
from antrean.media.photo_store import MediaStore
from antrean.review.stories import DEFAULT_STORIES_DIR
from antrean.review.sync import SETTLE_SECONDS
from antrean.review.tracker import make_tracker_engine
from antrean.runtime.settings import Settings, secret_key

if TYPE_CHECKING:  # antrean.model_registry imports the console's audit log: no import at start-up
    from antrean.model_registry import ModelRegistry
    from antrean.model_registry.inputs import TrainingInputs

_test_app_numbers = itertools.count(1)


@dataclass
class ConsoleConfig:
    # Sanic keeps a registry of app names per process; tests build many apps, so theirs differ.
    name: str = "antrean_console"
    session_idle: timedelta = timedelta(minutes=30)
    session_max: timedelta = timedelta(hours=12)
    login_throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    # None: Secure (and `__Host-`) cookies whenever the request arrived over HTTPS, directly or
    # through a trusted proxy; a phone on the office LAN over plain HTTP still logs in.
    secure_cookies: bool | None = None
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (ANTREAN_CONSOLE_TRUSTED_PROXIES):
    # from anyone else those headers are the client's own say-so and are ignored.
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    # Signs the login form's CSRF token; None: antrean.runtime.settings.secret_key (shared by the
    # servers of an office, so a token made by one is accepted by another).
    secret: bytes | None = None
    # The settings are built from this (antrean.runtime.settings) whenever they are asked for: tests
    # change it on a running console.
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    # Injected by tests; otherwise built from `environ` by antrean.runtime.bootstrap.
    service: BookingService | None = None
    media_store: MediaStore | None = None
    password_hasher_factory: Callable[[], PasswordHasher] = PasswordHasher
    # Conversation review: Rasa's tracker store (None: the settings' tracker_url),
    # how old events must be before they are copied, how often the console copies them in the
    # background (0: only when the list page opens), where exported test stories go.
    tracker_url: str | None = None
    review_settle_seconds: float = SETTLE_SECONDS
    review_sync_seconds: float = 2.0  # ANTREAN_REVIEW_SYNC_SECONDS
    stories_dir: Path = DEFAULT_STORIES_DIR
    # The daily retention job (antrean.protection.retention) runs in the console: the one long-running process
    # `make run` always starts. ANTREAN_RETENTION_DAILY=0 turns it off (e.g. a cron job runs
    # `python -m antrean retention run` instead).
    retention_daily: bool = True
    # The "Model" page: the registry's folder (None: ANTREAN_MODELS_DIR), what "Latih model baru"
    # trains from (None: the repository's data/, config.yml, domain.yml) and, for tests, the test
    # set's folder and the conversation tests a new model is evaluated with (None: the registry's).
    models_dir: Path | None = None
    training_inputs: TrainingInputs | None = None
    test_set_dir: Path | None = None
    story_files: list[Path] | None = None
    # Practice bookings (antrean.booking.practice) are deleted this many hours after they were made
    # (ANTREAN_PRACTICE_HOURS); the console checks every `practice_check_seconds`.
    practice_hours: float = 12.0
    practice_check_seconds: float = 600.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ConsoleConfig:
        environ = dict(os.environ if environ is None else environ)
        settings = Settings.from_env(environ)  # a wrong value stops the console before it starts
        return cls(environ=environ, session_idle=timedelta(minutes=settings.console.session_minutes),
                   secure_cookies=True if settings.console.secure_cookies else None,
                   trusted_proxies=settings.console.trusted_proxies, retention_daily=settings.retention.daily,
                   practice_hours=settings.console.practice_hours,
                   review_sync_seconds=settings.console.review_sync_seconds)

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.environ)

    def build_secret(self) -> bytes:
        if self.secret is None:
            self.secret = secret_key(self.settings)
        return self.secret

    def build_service(self) -> BookingService:
        if self.service is None:
            from antrean.runtime.bootstrap import booking_service

            self.service = booking_service(self.settings)
        return self.service

    def build_accounts(self) -> StaffAccounts:
        service = self.build_service()
        return StaffAccounts(
            service.engine, service.clock, self.password_hasher_factory(),
            session_idle=self.session_idle, session_max=self.session_max,
            throttle=self.login_throttle,
        )

    def build_tracker_engine(self) -> Engine:
        return make_tracker_engine(self.tracker_url or self.settings.tracker_url)

    def build_model_registry(self) -> ModelRegistry:
        from antrean.model_registry import open_registry

        settings = self.settings
        if self.models_dir is not None:
            settings = Settings.from_env({**self.environ, "ANTREAN_MODELS_DIR": str(self.models_dir)})
        registry = open_registry(settings, engine=self.build_service().engine)
        if self.test_set_dir is not None:
            registry.test_set_dir = Path(self.test_set_dir)
        if self.story_files is not None:
            registry.story_files = list(self.story_files)
        return registry

    def build_media_store(self) -> MediaStore:
        if self.media_store is None:
            from antrean.runtime.bootstrap import media_store

            self.media_store = media_store(self.settings)
        return self.media_store


def cheap_password_hasher() -> PasswordHasher:
    # Tests hash many passwords; the real parameters are slow on purpose (that is their defence).
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class TestingConfig(ConsoleConfig):
    __test__ = False  # not a pytest test class, despite the name
    name: str = field(default_factory=lambda: f"antrean_console_test_{next(_test_app_numbers)}")
    password_hasher_factory: Callable[[], PasswordHasher] = cheap_password_hasher
    secret: bytes | None = field(default_factory=lambda: secrets.token_bytes(32))
    review_settle_seconds: float = 0.0  # tests write events and look at them at once
    review_sync_seconds: float = 0.0  # no background timer: each test decides when to sync
    retention_daily: bool = False  # tests call antrean.protection.retention themselves
    practice_check_seconds: float = 0.0  # no practice clean-up timer: tests call it themselves
