"""`python -m antrean cluster` (`make run-production`): production's topology on one machine.

What production runs across machines, started here as separate processes: several independent
Rasa servers (each a `rasa run` of its own, on its own port, one Sanic worker each), several
WhatsApp webhook receivers, the staff console and the model server, behind haproxy
(deploy/haproxy.cfg, rendered with the ports into the run folder). Bookings and conversations live
on PostgreSQL, Rasa's conversation locks on Redis (antrean/assistant/redis_lock_store.py: a real
mutex, unlike Rasa Open Source's RedisLockStore).

The processes are started by the same pieces as `python -m antrean run` (antrean/runtime/serve.py,
Stack). `Cluster` is also what tests and failure drills hold: `start()`, `stop()`, `kill(name)`,
`stop_server(name)` (drained at haproxy first), `restart(name)` and `urls`."""

from __future__ import annotations

import csv
import io
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from antrean.runtime.serve import DEFAULT_MODEL, Stack
from antrean.runtime.settings import REPO_ROOT, Settings, resolve

HAPROXY_TEMPLATE = REPO_ROOT / "deploy" / "haproxy.cfg"
LOCK_STORE = "antrean.assistant.redis_lock_store.RedisMutexLockStore"
BACKENDS = {"rasa": "assistant", "receiver": "whatsapp", "console": "console"}


class ClusterError(RuntimeError):
    """Something the cluster needs is missing or unreachable; the message says what to do."""


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if Path(p).exists()), None)


def check_postgresql(url: str, what: str, variable: str) -> None:
    from sqlalchemy import create_engine, text

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ClusterError(f"the cluster keeps {what} on PostgreSQL: set {variable} to postgresql://user@host/db "
                           f"(now {parsed.get_backend_name()})")
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        raise ClusterError(f"PostgreSQL for {what} is not reachable at {parsed.render_as_string()} ({variable}): "
                           f"{error.__class__.__name__}") from None
    finally:
        engine.dispose()


def check_redis(host: str, port: int, db: int, password: str | None) -> None:
    import redis

    try:
        redis.StrictRedis(host=host, port=port, db=db, password=password, socket_timeout=5).ping()
    except Exception as error:
        raise ClusterError(f"Redis (Rasa's lock store) is not reachable at {host}:{port} db {db} "
                           f"(ANTREAN_REDIS_HOST, _PORT, _DB): {error.__class__.__name__}") from None


# --- haproxy's runtime API (also for systemd's ExecStop: `python -m antrean.runtime.cluster drain …`) --

def haproxy_command(socket_path: Path | str, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(5)
        connection.connect(str(socket_path))
        connection.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def haproxy_stats(socket_path: Path | str) -> list[dict[str, str]]:
    text = haproxy_command(socket_path, "show stat").lstrip("# ")
    return list(csv.DictReader(io.StringIO(text)))


def drain(socket_path: Path | str, backend: str, server: str, seconds: float = 60) -> float:
    """haproxy sends `server` nothing new; then wait until its requests in flight are answered (at
    most `seconds`). Returns the seconds waited."""
    haproxy_command(socket_path, f"set server {backend}/{server} state drain")
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        stats = next((row for row in haproxy_stats(socket_path)
                      if row["pxname"] == backend and row["svname"] == server), None)
        if stats is None or (int(stats["scur"] or 0) == 0 and int(stats["qcur"] or 0) == 0):
            break
        time.sleep(0.1)
    return time.monotonic() - started


@dataclass
class Cluster:
    rasa_ports: list[int]
    receiver_ports: list[int]
    console_port: int  # the console process itself; staff reach it through haproxy on console_public_port
    public_port: int  # haproxy: WhatsApp webhook and REST channel
    console_public_port: int  # haproxy: the staff console
    # The registry's live model, pulled by every Rasa server; None: each loads `model` from its file
    # (tests: registering a model evaluates it first, minutes of CPU the hot-swap tests spend already).
    model_server_port: int | None
    run_dir: Path
    model: Path = DEFAULT_MODEL
    environment: dict[str, str] = field(default_factory=dict)
    model_pull_seconds: int = 10
    drain_seconds: float = 60  # how long a stopping server may take to finish its requests
    stack: Stack = field(init=False)
    servers: dict[str, subprocess.Popen] = field(default_factory=dict)  # name → process
    haproxy: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        settings = self.settings()
        assistant = settings.assistant
        self.stack = Stack(
            rasa_port=self.rasa_ports[0], run_dir=self.run_dir, model=self.model,
            conversations_url=settings.tracker_url,
            model_server_port=self.model_server_port, model_pull_seconds=self.model_pull_seconds, rasa_workers=1,
            environment={"ANTREAN_PUBLIC_URL": self.urls["public"], **self.environment},
            lock_store={"type": LOCK_STORE, "url": assistant.redis_host or "127.0.0.1", "port": assistant.redis_port,
                        "db": assistant.redis_db, "key_prefix": assistant.redis_key_prefix,
                        **({"password": assistant.redis_password} if assistant.redis_password else {})},
            # The Rasa servers poll the inbox the receivers fill.
            receiver_port=self.receiver_ports[0])

    def settings(self) -> Settings:
        import os

        return resolve({**os.environ, **self.environment})

    @property
    def names(self) -> list[str]:
        return ([f"rasa{n}" for n in range(1, len(self.rasa_ports) + 1)]
                + [f"receiver{n}" for n in range(1, len(self.receiver_ports) + 1)] + ["console"])

    def port_of(self, name: str) -> int:
        if name == "console":
            return self.console_port
        kind, number = name.rstrip("0123456789"), int(name[len(name.rstrip("0123456789")):])
        return (self.rasa_ports if kind == "rasa" else self.receiver_ports)[number - 1]

    @property
    def urls(self) -> dict[str, str]:
        public = f"http://127.0.0.1:{self.public_port}"
        urls = {"public": public, "rest_webhook": f"{public}/webhooks/antrean/webhook",
                "whatsapp_webhook": f"{public}/webhooks/whatsapp/webhook",
                "console": f"http://127.0.0.1:{self.console_public_port}"}
        if self.model_server_port:
            urls["model_server"] = f"http://127.0.0.1:{self.model_server_port}/models/live"
        # Each process, past haproxy (the console's own port under "console_process").
        urls.update({name if name != "console" else "console_process": self.process_url(name)
                     for name in self.names})
        return urls

    def process_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port_of(name)}"

    def health_url(self, name: str) -> str:
        path = {"rasa": "/", "receiver": "/webhooks/whatsapp/", "console": "/masuk"}[name.rstrip("0123456789")]
        return self.process_url(name) + path

    # --- starting -----------------------------------------------------------------------------

    def check(self) -> None:
        """Everything the cluster needs, with what to set when something is missing."""
        settings = self.settings()
        check_postgresql(settings.database_url, "bookings", "ANTREAN_DATABASE_URL")
        check_postgresql(settings.tracker_url, "conversations (Rasa's tracker store)",
                         "ANTREAN_TRACKER_URL or ANTREAN_TRACKER_HOST, _PORT, _DB, _USER, _PASSWORD")
        assistant = settings.assistant
        check_redis(assistant.redis_host or "127.0.0.1", assistant.redis_port, assistant.redis_db,
                    assistant.redis_password)
        if haproxy_binary() is None:
            raise ClusterError("haproxy is not installed (apt-get install haproxy)")

    def render_haproxy(self) -> Path:
        def lines(kind: str, ports: list[int]) -> str:
            return "\n".join(f"    server {kind}{n} 127.0.0.1:{port} check"
                             for n, port in enumerate(ports, start=1))

        text = HAPROXY_TEMPLATE.read_text()
        for key, value in {"run_dir": str(self.run_dir), "public_port": str(self.public_port),
                           "console_public_port": str(self.console_public_port),
                           "rasa_servers": lines("rasa", self.rasa_ports),
                           "receivers": lines("receiver", self.receiver_ports),
                           "console": f"    server console 127.0.0.1:{self.console_port} check"}.items():
            text = text.replace("{{" + key + "}}", value)
        path = self.run_dir / "haproxy.cfg"
        path.write_text(text)
        return path

    def start(self) -> None:
        self.check()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.stack.prepare()
        if self.model_server_port:
            self.stack.start_model_server()
        for name in self.names:
            self.servers[name] = self._start(name)
        self.stack.rasa, self.stack.console = self.servers["rasa1"], self.servers["console"]
        config = self.render_haproxy()
        # -db: in the foreground, a child of this process like the others. Its log (servers going
        # down and up, requests) goes to a file: while the servers load their model, it reports
        # each of them down every few seconds.
        with open(self.haproxy_log, "ab") as log:
            self.haproxy = subprocess.Popen([haproxy_binary(), "-f", str(config), "-db"], cwd=REPO_ROOT,
                                            stdout=log, stderr=log)
        self.stack.processes.append(self.haproxy)

    def _start(self, name: str) -> subprocess.Popen:
        port = self.port_of(name)
        if name.startswith("rasa"):
            # A stable worker id: a restarted server takes its inbox leases back at once.
            return self.stack.start_rasa(port, {"ANTREAN_WA_WORKER_ID": name})
        if name.startswith("receiver"):
            return self.stack.start_receiver(port)
        return self.stack.start_console(port, self.urls["public"])

    def wait_until_ready(self, timeout: float = 900) -> None:
        """Every process answers its health check, and haproxy sees every server up."""
        deadline = time.monotonic() + timeout
        for name in self.names:
            self._wait_healthy(name, deadline)
        while True:
            if self.haproxy.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.haproxy.returncode}: see {self.haproxy_log}")
            down = [f"{row['pxname']}/{row['svname']}" for row in self.haproxy_stats()
                    if row["svname"] in self.names and not row["status"].startswith("UP")]
            if not down:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"haproxy still sees {', '.join(down)} down")
            time.sleep(0.5)

    def _wait_healthy(self, name: str, deadline: float) -> None:
        url, process = self.health_url(name), self.servers[name]
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=5, context=ssl._create_unverified_context()) as reply:
                    if reply.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} ({url}) did not answer")
            time.sleep(1)

    # --- haproxy's runtime API ---------------------------------------------------------------------

    @property
    def haproxy_log(self) -> Path:
        return self.run_dir / "haproxy.log"

    @property
    def haproxy_socket(self) -> Path:
        return self.run_dir / "haproxy.sock"

    def haproxy_command(self, command: str) -> str:
        return haproxy_command(self.haproxy_socket, command)

    def haproxy_stats(self) -> list[dict[str, str]]:
        return haproxy_stats(self.haproxy_socket)

    def server_stats(self, name: str) -> dict[str, str]:
        backend = BACKENDS[name.rstrip("0123456789")]
        return next(row for row in self.haproxy_stats() if row["pxname"] == backend and row["svname"] == name)

    # --- stopping -----------------------------------------------------------------------------------

    def drain(self, name: str) -> float:
        return drain(self.haproxy_socket, BACKENDS[name.rstrip("0123456789")], name, self.drain_seconds)

    def stop_server(self, name: str) -> float:
        """A graceful stop: drained at haproxy first, then SIGTERM (a Rasa server's WhatsApp worker
        finishes its turn and hands its senders back). Returns the seconds the drain waited."""
        waited = self.drain(name)
        process = self.servers[name]
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=self.stack.stop_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return waited

    def kill(self, name: str) -> None:
        """SIGKILL: a crash, nothing drained or cleaned up (failure drills)."""
        process = self.servers[name]
        process.kill()
        process.wait()

    def restart(self, name: str) -> None:
        """Starts `name` again (after kill or stop_server) and puts it back into haproxy's rotation."""
        old = self.servers[name]
        if old.poll() is None:
            self.stop_server(name)
        self.stack.processes.remove(old)
        self.servers[name] = self._start(name)
        self._wait_healthy(name, time.monotonic() + 600)
        self.haproxy_command(f"set server {BACKENDS[name.rstrip('0123456789')]}/{name} state ready")

    def stop(self) -> None:
        """Drains every server at once, then stops everything (haproxy last but one, the model server
        last: nothing asks it any more)."""
        if self.haproxy is not None and self.haproxy.poll() is None:
            for name, process in self.servers.items():
                if process.poll() is None:
                    try:
                        self.haproxy_command(f"set server {BACKENDS[name.rstrip('0123456789')]}/{name} state drain")
                    except OSError:
                        break
            deadline = time.monotonic() + self.drain_seconds
            while time.monotonic() < deadline:
                try:
                    busy = [row for row in self.haproxy_stats()
                            if row["svname"] in self.names and int(row["scur"] or 0) > 0]
                except OSError:
                    break
                if not busy:
                    break
                time.sleep(0.1)
        self.stack.stop()
        self.servers.clear()

    def describe(self) -> str:
        urls = self.urls
        rasa = ", ".join(f"{name} :{self.port_of(name)}" for name in self.names if name.startswith("rasa"))
        receivers = ", ".join(f"{name} :{self.port_of(name)}" for name in self.names if name.startswith("receiver"))
        settings = self.settings()
        assistant = settings.assistant
        return (f"Antrean cluster is running (haproxy {self.run_dir / 'haproxy.cfg'}):\n"
                f"  REST channel     {urls['rest_webhook']}  (by sender to: {rasa})\n"
                f"  WhatsApp webhook {urls['whatsapp_webhook']}  (to: {receivers})\n"
                f"  staff console    {urls['console']}/  (console :{self.console_port})\n"
                + (f"  live model       {urls['model_server']} (pulled every {self.model_pull_seconds} s)\n"
                   if self.model_server_port else f"  model            {self.model}\n")
                + f"  bookings         {make_url(settings.database_url).render_as_string()}\n"
                f"  conversations    {make_url(settings.tracker_url).render_as_string()}\n"
                f"  locks            redis://{assistant.redis_host or '127.0.0.1'}:{assistant.redis_port}/"
                f"{assistant.redis_db} prefix {assistant.redis_key_prefix}\n"
                f"  haproxy          runtime API {self.haproxy_socket}, log {self.haproxy_log}\n"
                "Ctrl-C drains and stops everything.")


def cluster(rasa_servers: int = 2, receivers: int = 2) -> int:
    """The command: ports from the settings (the public side on ANTREAN_CLUSTER_PORT, the console's
    on ANTREAN_CONSOLE_PORT), the processes on the ports after ANTREAN_CLUSTER_FIRST_PORT."""
    from antrean.model_registry.serving import DEFAULT_PORT, ensure_live_model
    from antrean.runtime.serve import log_reading_status

    settings = resolve()
    first = settings.assistant.cluster_first_port
    instance = Cluster(
        rasa_ports=[first + n for n in range(rasa_servers)],
        receiver_ports=[first + 20 + n for n in range(receivers)], console_port=first + 40,
        public_port=settings.assistant.cluster_port, console_public_port=settings.console.port,
        model_server_port=DEFAULT_PORT, run_dir=settings.storage.var_dir / "run" / "cluster")
    try:
        instance.check()
    except ClusterError as error:
        raise SystemExit(f"cannot start the cluster: {error}") from None
    log_reading_status()
    if ensure_live_model(DEFAULT_MODEL, by="cluster") is None:
        raise SystemExit(f"no trained model at {DEFAULT_MODEL} and none live in the registry: run `make train`")
    stopping = ready = False

    def stop(*_):
        nonlocal stopping
        stopping = True
        if not ready:  # still starting: stop waiting for the servers (the finally below stops them)
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        instance.start()
        instance.wait_until_ready()
        ready = True
        print(instance.describe(), flush=True)
        while not stopping and all(p.poll() is None for p in instance.stack.processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        instance.stop()
    return 0


if __name__ == "__main__":  # `python -m antrean.runtime.cluster drain BACKEND SERVER [--socket …]`
    import argparse

    parser = argparse.ArgumentParser(description="drain a server at haproxy before it is stopped")
    parser.add_argument("action", choices=["drain"])
    parser.add_argument("backend")
    parser.add_argument("server")
    parser.add_argument("--socket", default="/run/haproxy/admin.sock")
    parser.add_argument("--seconds", type=float, default=60)
    arguments = parser.parse_args()
    waited = drain(arguments.socket, arguments.backend, arguments.server, arguments.seconds)
    print(f"{arguments.backend}/{arguments.server} drained in {waited:.1f} s")
