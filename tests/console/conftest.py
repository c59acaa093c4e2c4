"""The console under test: a real Sanic server on a free port (antrean.console.devserver), a real
migrated database, the shared MutableClock, and one staff account per role with a password made
up for this run (there is no default password anywhere)."""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import date

import httpx
import pytest
from sanic import Sanic

from antrean.console import create_app
from antrean.console.config import TestingConfig
from antrean.console.devserver import serving
from antrean.media.photo_store import MediaStore
from antrean.runtime.serve import Stack
from tests.builders import make_request
from tests.conftest import TEST_SECRET, wib
from tests.console.browser import chromium
from tests.whatsapp.server import free_port

# Sanic rewrites some of its own functions when an app starts ("touchup"); test mode makes that
# repeatable, so every test can start an app of its own in this one process.
Sanic.test_mode = True

ROLES = ("admin", "reviewer", "counter", "security", "maintainer")
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class StaffClient:
    """An HTTP client that remembers cookies and the CSRF token of its session, like a browser."""

    def __init__(self, base_url: str):
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        self.csrf_token = ""

    def get(self, path: str, **kwargs) -> httpx.Response:
        response = self.http.get(path, **kwargs)
        if match := CSRF_FIELD.search(response.text):
            self.csrf_token = match.group(1)
        return response

    def follow(self, response: httpx.Response) -> httpx.Response:
        while response.is_redirect:
            response = self.get(response.headers["location"])
        return response

    def post(self, path: str, data: dict | None = None, csrf: str | None = None) -> httpx.Response:
        form = dict(data or {})
        form["csrf_token"] = self.csrf_token if csrf is None else csrf
        return self.http.post(path, data=form)

    def login(self, username: str, password: str) -> httpx.Response:
        self.get("/masuk")
        return self.post("/masuk", {"username": username, "password": password})

    def close(self) -> None:
        self.http.close()


@dataclass
class Console:
    base_url: str
    app: object
    service: object
    clock: object
    tracker_url: str = ""  # Rasa's tracker store the conversation pages read
    passwords: dict[str, str] = field(default_factory=dict)
    clients: list[StaffClient] = field(default_factory=list)

    @property
    def audit(self):
        return self.app.ctx.audit

    @property
    def accounts(self):
        return self.app.ctx.accounts

    def client(self) -> StaffClient:
        client = StaffClient(self.base_url)
        self.clients.append(client)
        return client

    def add_user(self, username: str, role: str, office_id: str | None = None) -> str:
        password = secrets.token_urlsafe(18)
        self.accounts.add(username, f"Staf {username.title()}", role, password, office_id)
        self.passwords[username] = password
        return password

    def as_role(self, role: str) -> StaffClient:
        """A client logged in as the standard account of that role (user name = role name)."""
        client = self.client()
        response = client.login(role, self.passwords[role])
        assert response.status_code == 302, response.text
        client.follow(response)
        return client


def _start_console(service, clock, tmp_path, tracker_url):
    config = TestingConfig(service=service, media_store=MediaStore(tmp_path / "media"), tracker_url=tracker_url,
                           stories_dir=tmp_path / "reviewed_stories", models_dir=tmp_path / "models")
    return create_app(config)


@pytest.fixture
def console_sqlite_url(sqlite_url):
    return sqlite_url


@pytest.fixture
def console(make_service, console_sqlite_url, clock, tmp_path):
    """The console on SQLite, with accounts admin / reviewer / counter / security."""
    tracker_url = f"sqlite:///{tmp_path / 'conversations.sqlite3'}"  # Rasa's store, as in endpoints.yml
    yield from _console(make_service(console_sqlite_url), clock, tmp_path, tracker_url)


@pytest.fixture
def console_on_both(make_service, database_url, tracker_url, clock, tmp_path):
    """The same, once on SQLite and once on PostgreSQL."""
    yield from _console(make_service(database_url), clock, tmp_path, tracker_url)


def _console(service, clock, tmp_path, tracker_url):
    app = _start_console(service, clock, tmp_path, tracker_url)
    with serving(app) as base_url:
        console = Console(base_url, app, service, clock, tracker_url)
        for role in ROLES:
            console.add_user(role, role)
        yield console
        for client in console.clients:
            client.close()
        app.ctx.review.close()


WEDNESDAY = date(2026, 12, 2)


@pytest.fixture
def book(console):
    """Books through the real service while registration is open (the clock starts Tue 08:00)."""

    def make(serial: int = 1, day: date = WEDNESDAY, **overrides):
        return console.service.book(make_request(serial=serial, day=day, **overrides))

    return make


def on_wednesday(console, hour: int, minute: int = 0) -> None:
    """Moves the shared clock to the booking day (staff sessions would expire: log in after)."""
    console.clock.moment = wib(2026, 12, 2, hour, minute)


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@contextlib.contextmanager
def assistant_for(console, database_url: str, folder, clock: str):
    """The real assistant (Rasa server with the actions in process, WhatsApp channel in sandbox mode)
    on the console's database, its clock frozen at `clock`, wired into the console's simulator."""
    stack = Stack(rasa_port=free_port(), actions_port=free_port(),
                  conversations_url=f"sqlite:///{folder / 'conversations.sqlite3'}", run_dir=folder,
                  environment={"ANTREAN_DATABASE_URL": database_url, "ANTREAN_CLOCK": clock,
                               "ANTREAN_MEDIA_DIR": str(folder / "media"),
                               "ANTREAN_SECRET_KEY": TEST_SECRET.decode(),  # the console's booking codes
                               "ANTREAN_WA_ACCESS_TOKEN": ""})
    stack.start()
    try:
        stack.wait_until_ready(timeout=480)  # the model loads slowly on a busy 2-core machine
        console.app.ctx.config.environ["ANTREAN_RASA_URL"] = stack.rasa_url
        yield stack
    finally:
        stack.stop()
