"""`python -m antrean serve`: start the assistant — the Rasa server with Antrean's channels and its
custom actions (in the same process, see antrean/assistant/actions_in_process.py, or in a Rasa action server)
— on the embedded default, and stop everything together.

The endpoints file is written under var/run/ from the chosen ports and databases, so several stacks
(e.g. an end-to-end test next to a developer's `make run`) can run side by side.

A normal start shows what runs where, not the dependencies' deprecation notices: every process of the
stack calls `quiet_foreign_warnings` first (the Rasa server through `python -m antrean.runtime.serve`,
which is Rasa's own command line behind that call)."""

from __future__ import annotations

import logging
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from antrean.runtime.settings import (
    REPO_ROOT,
    VAR_DIR,
    Settings,
    SettingsError,
    local_development_secrets,
    resolve,
)

logger = logging.getLogger(__name__)

DEFAULT_MODEL = REPO_ROOT / "models" / "antrean.tar.gz"
TRACKER_STORE = "antrean.assistant.tracker_store.AntreanTrackerStore"  # Rasa's SQL store, tuned for SQLite
LOCK_STORE = "antrean.assistant.lock_store.FileLockStore"  # lets several Rasa workers share conversations
WORKER_HEADER = "X-Antrean-Worker"  # antrean.assistant.rest_channel.WORKER_HEADER
ACTIONS_MODULE = "actions_module"  # antrean.assistant.actions_in_process.ACTIONS_MODULE, without importing Rasa here
RASA_COMMAND = [sys.executable, "-m", "antrean.runtime.serve"]  # Rasa's command line, quietly


@dataclass
class Stack:
    rasa_port: int = 5005
    actions_port: int = 5055
    model: Path = DEFAULT_MODEL
    conversations_url: str = f"sqlite:///{VAR_DIR / 'conversations.sqlite3'}"
    run_dir: Path = VAR_DIR / "run"
    console_port: int | None = None  # the staff console too, when set (make run: 8080)
    console_url: str | None = None  # where this machine reaches it (https with ANTREAN_CONSOLE_TLS_CERT)
    receiver_port: int | None = None  # the WhatsApp webhook in a process of its own, when set
    # The registry's live model served here (`python -m antrean model serve`), when set: every Rasa
    # worker pulls it every `model_pull_seconds` and takes a promotion or rollback without a restart
    # (antrean/model_registry/serving.py); `model` is then unused.
    model_server_port: int | None = None
    model_pull_seconds: int = 10
    profile_rasa_to: Path | None = None  # run the Rasa server under cProfile, stats written here at exit
    # Rasa server processes (Sanic workers sharing the port; Rasa reads SANIC_WORKERS). One process
    # handles a conversation turn on one core; more use more cores. Killing the Rasa server
    # (restart_rasa) needs one: SIGKILL does not reach the workers a main process forked.
    rasa_workers: int = 1
    # The custom actions inside the Rasa server (no HTTP round trip per action); False starts
    # `rasa run actions` on actions_port instead, the classic deployment.
    actions_in_process: bool = True
    stop_seconds: float = 20  # how long a process may take to stop before it is killed
    environment: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)  # everything started, for stop()
    rasa: subprocess.Popen | None = None
    actions: subprocess.Popen | None = None  # None when the actions run in process
    receiver: subprocess.Popen | None = None
    console: subprocess.Popen | None = None
    model_server: subprocess.Popen | None = None
    # Rasa's lock_store endpoint; None: the file locks under run_dir (one machine). The cluster
    # gives its Redis store (antrean/assistant/redis_lock_store.py).
    lock_store: dict | None = None
    _env: dict[str, str] | None = field(default=None, repr=False)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def model_server_url(self) -> str | None:
        return f"http://127.0.0.1:{self.model_server_port}/models/live" if self.model_server_port else None

    def tracker_store(self) -> dict:
        url = make_url(self.conversations_url)
        if url.get_backend_name() == "sqlite":
            return {"type": TRACKER_STORE, "dialect": "sqlite", "db": url.database}
        return {"type": TRACKER_STORE, "dialect": "postgresql", "url": url.host, "port": url.port or 5432,
                "db": url.database, "username": url.username, "password": url.password or ""}

    def write_endpoints(self, rasa_port: int | None = None) -> Path:
        """The endpoints file of the Rasa server on `rasa_port` (default: this stack's)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / f"endpoints-{rasa_port or self.rasa_port}.yml"
        endpoints = {
            "action_endpoint": ({ACTIONS_MODULE: "actions"} if self.actions_in_process
                                else {"url": f"http://127.0.0.1:{self.actions_port}/webhook"}),
            "tracker_store": self.tracker_store(),
            "lock_store": self.lock_store or {"type": LOCK_STORE, "directory": str(self.run_dir / "locks")},
        }
        if self.model_server_port:
            endpoints["models"] = {"url": self.model_server_url, "wait_time_between_pulls": self.model_pull_seconds}
        path.write_text(yaml.safe_dump(endpoints))
        path.chmod(0o600)  # may hold a database password
        return path

    # The pieces a start is made of; `python -m antrean cluster` (antrean/runtime/cluster.py) puts
    # the same pieces together into several Rasa servers and receivers behind haproxy.

    def prepare(self) -> dict[str, str]:
        """The environment every process of the stack gets (checked first: a wrong value stops the
        start before any process runs)."""
        if self._env is not None:
            return self._env
        if not self.model_server_port and not self.model.exists():
            raise FileNotFoundError(f"no trained model at {self.model}: run `make train`")
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false",
               "SANIC_WORKERS": str(self.rasa_workers), **self.environment}
        settings = Settings.from_env(env)
        if settings.assistant.public_url is None:
            env["ANTREAN_PUBLIC_URL"] = self.rasa_url
        if not settings.whatsapp.account_configured:
            # No WhatsApp account configured: the WhatsApp channel still starts, in sandbox mode.
            # (A half-configured account is not papered over: the channel refuses to start.)
            env.update(local_development_secrets(settings.storage.var_dir))
        if self.receiver_port and settings.whatsapp.poll_seconds is None:
            # Nothing in the Rasa server is woken by the webhook any more: look often (an indexed
            # query over unprocessed rows only).
            env["ANTREAN_WA_POLL_SECONDS"] = "0.25"
        self._env = env
        return env

    def _spawn(self, command: list[str], environment: dict[str, str] | None = None) -> subprocess.Popen:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env={**self.prepare(), **(environment or {})})
        self.processes.append(process)
        return process

    def start_model_server(self) -> subprocess.Popen:
        # Up before Rasa: each worker pulls the live model once before it takes a message.
        self.model_server = self._spawn(
            [sys.executable, "-m", "antrean", "model", "serve", "--port", str(self.model_server_port)])
        self._wait_for(self.model_server_url, self.model_server)
        return self.model_server

    def start_actions(self) -> subprocess.Popen:
        self.actions = self._spawn([*RASA_COMMAND, "run", "actions", "--actions", "actions", "--port",
                                    str(self.actions_port)])
        return self.actions

    def start_rasa(self, port: int | None = None, environment: dict[str, str] | None = None) -> subprocess.Popen:
        """A Rasa server on `port` (default: this stack's), with its own endpoints file."""
        port = port or self.rasa_port
        rasa = RASA_COMMAND
        if self.profile_rasa_to:
            rasa = [sys.executable, "-m", "cProfile", "-o", str(self.profile_rasa_to), *rasa[1:]]
        return self._spawn(
            [*rasa, "run", "--model", str(self.model), "--endpoints", str(self.write_endpoints(port)),
             "--credentials", str(REPO_ROOT / "credentials.yml"), "--port", str(port), "--interface", "127.0.0.1"],
            environment)

    def start_console(self, port: int, rasa_url: str | None = None) -> subprocess.Popen:
        # The console's simulator talks to this stack's Rasa server (or the balancer in front).
        return self._spawn([sys.executable, "-m", "antrean", "console", "--port", str(port)],
                           {"ANTREAN_RASA_URL": rasa_url or self.rasa_url})

    def start_receiver(self, port: int) -> subprocess.Popen:
        return self._spawn([sys.executable, "-m", "antrean", "whatsapp", "receive", "--port", str(port)])

    def start(self) -> None:
        self.prepare()
        if self.model_server_port:
            self.start_model_server()
        if not self.actions_in_process:
            self.start_actions()
        self.rasa = self.start_rasa()
        if self.console_port:
            self.console = self.start_console(self.console_port)
        if self.receiver_port:
            self.receiver = self.start_receiver(self.receiver_port)

    @property
    def whatsapp_webhook_url(self) -> str:
        port = self.receiver_port or self.rasa_port
        return f"http://127.0.0.1:{port}/webhooks/whatsapp/webhook"

    def rasa_process(self) -> subprocess.Popen:
        return self.rasa

    def restart_rasa(self, kill: bool = True) -> None:
        """Stop the Rasa server (SIGKILL: a crash, nothing cleaned up) and start it again with the
        same arguments; the other processes keep running. Tests of crash recovery use this."""
        old = self.rasa
        if kill:
            old.kill()
        else:
            old.terminate()
        old.wait(timeout=30)
        self.rasa = subprocess.Popen(old.args, cwd=REPO_ROOT, env=self._env)
        self.processes[self.processes.index(old)] = self.rasa

    @staticmethod
    def _wait_for(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[:5]} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    reply.read(0)
                    return
            except urllib.error.HTTPError:
                return  # it answers (503: the live model's file is wrong; Rasa keeps asking)
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s") from None
                time.sleep(0.2)

    def wait_until_ready(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        checks = [f"{self.rasa_url}/webhooks/antrean/"]
        if self.actions:
            checks.insert(0, f"http://127.0.0.1:{self.actions_port}/health")
        if self.receiver_port:
            checks.append(f"http://127.0.0.1:{self.receiver_port}/webhooks/whatsapp/")
        if self.console_port:
            checks.append(f"{self.console_url or f'http://127.0.0.1:{self.console_port}'}/masuk")
        workers_seen: set[str] = set()
        while checks:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{process.args[:3]} exited with {process.returncode}")
            try:
                # The console's own certificate may be self-signed for the office network: only
                # whether it answers is checked here.
                with urllib.request.urlopen(checks[0], timeout=2, context=ssl._create_unverified_context()) as reply:
                    # Each Rasa worker loads the model before it accepts a connection; the first
                    # one ready answers alone until the others are, so count distinct workers.
                    rasa_check = checks[0].startswith(self.rasa_url)
                    if rasa_check:
                        workers_seen.add(reply.headers.get(WORKER_HEADER, ""))
                    if reply.status == 200 and (not rasa_check or len(workers_seen) >= self.rasa_workers):
                        checks.pop(0)
                        continue
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{checks[0]} did not answer within {timeout:.0f} s"
                                   + (f" from {self.rasa_workers} workers" if workers_seen else ""))
            time.sleep(0.05 if workers_seen else 1)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=self.stop_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


def default_rasa_workers(settings: Settings | None = None) -> int:
    """ANTREAN_RASA_WORKERS, else one Rasa process per core (at most 4): a conversation turn is CPU
    work for one core."""
    try:
        configured = resolve(settings).assistant.workers
    except SettingsError as error:
        raise SystemExit(str(error)) from None
    return configured or max(1, min(4, os.cpu_count() or 1))


def log_reading_status() -> bool:
    """Say once, at start-up, whether e-KTP photos will be read (Tesseract) or the NIK asked."""
    from antrean.identity import ektp

    available, why = ektp.status()
    (logger.info if available else logger.warning)(why)
    return available


def serve() -> int:
    from antrean.model_registry.serving import DEFAULT_PORT, ensure_live_model

    reading = log_reading_status()
    settings = resolve()
    # The Rasa workers run the registry's live model and take promotions without a restart; on a
    # fresh clone that is `make train`'s model, made live here on the first start.
    try:
        if ensure_live_model(DEFAULT_MODEL, by="serve") is None:
            raise SystemExit(f"no trained model at {DEFAULT_MODEL} and none live in the registry: run `make train`")
    except subprocess.CalledProcessError:
        raise SystemExit(f"{DEFAULT_MODEL} could not be made live (see above)") from None
    settings.console.check_tls()
    stack = Stack(rasa_port=settings.assistant.port, console_port=settings.console.port,
                  console_url=settings.console.local_url,
                  receiver_port=settings.whatsapp.receiver_port, rasa_workers=default_rasa_workers(settings),
                  conversations_url=settings.tracker_url, run_dir=settings.storage.var_dir / "run",
                  model_server_port=DEFAULT_PORT)
    stack.start()
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        stack.wait_until_ready()
        print(f"Antrean is running ({stack.rasa_workers} Rasa worker(s), actions in process):\n"
              f"  REST channel     {stack.rasa_url}/webhooks/antrean/webhook\n"
              f"  WhatsApp webhook {stack.whatsapp_webhook_url}\n"
              f"  staff console    {stack.console_url}/  (accounts: python -m antrean users add)\n"
              f"  e-KTP reading    {'on (Tesseract)' if reading else 'off: applicants are asked for their NIK'}\n"
              f"  live model       {stack.model_server_url} (pulled every {stack.model_pull_seconds} s)\n"
              "Ctrl-C stops everything.", flush=True)
        while not stopping and all(p.poll() is None for p in stack.processes):
            time.sleep(0.5)
    finally:
        stack.stop()
    return 0


# Notices meant for a dependency's authors (an API it uses will change), not for the operator.
FOREIGN_NOISE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
OWN_CODE = tuple(f"{REPO_ROOT / folder}{os.sep}" for folder in ("antrean", "actions"))


def quiet_foreign_warnings() -> None:
    """Drop the dependencies' deprecation notices (TensorFlow, jax, SQLAlchemy, pkg_resources, …) in
    this process; Antrean's own warnings, and every other kind, still show. A filter set here would
    not hold: Sanic, imported later, puts `once` for every DeprecationWarning ahead of all filters;
    so the notices are dropped where warnings are shown. Also quiets TensorFlow's C++ start-up log
    (read when TensorFlow loads) and SQLAlchemy's 2.0 migration notice."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    show = warnings.showwarning
    if getattr(show, "quiets_foreign_warnings", False):
        return

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, FOREIGN_NOISE) and not str(filename).startswith(OWN_CODE):
            return
        show(message, category, filename, lineno, file, line)

    showwarning.quiets_foreign_warnings = True
    warnings.showwarning = showwarning


if __name__ == "__main__":  # `python -m antrean.runtime.serve run …`: the `rasa` command, quietly
    quiet_foreign_warnings()
    from rasa.__main__ import main

    sys.argv[0] = "rasa"
    main()
