"""`make bench-scale`: turns and bookings per second with one and two Rasa servers of the production
topology (`python -m antrean cluster`: haproxy, PostgreSQL, Redis lock store), and the CPU each
component spends per turn.

One cluster is started with two Rasa servers; the one-server runs put the second into maintenance
at haproxy (`set server assistant/rasa2 state maint`), so both cases run on the same processes,
databases and warm caches, alternately (1, 2, 1, 2, … servers). Each run is full registration
conversations over the REST channel (benchmarks/assistant.py: six turns, the last one books), many
applicants at once, through haproxy, which routes each sender to one server.

CPU per turn, per component, over each run:
- Rasa servers: /proc of each server process and its descendants (actions run in process);
- WhatsApp receivers: the same (idle here: REST does not pass through them, counted anyway);
- PostgreSQL: /proc of the backends serving this run's two databases (polled during the run, so
  connections opened and closed in between are counted); the server's shared background processes
  (WAL writer, checkpointer, autovacuum) are not;
- Redis: `INFO cpu` of the whole server (shared with anything else using it: an upper bound);
- haproxy: /proc of its process;
- the load generator (this process).
Before the runs, 15 s without traffic give each process's idle load (the servers poll the WhatsApp
inbox), so the CPU a turn adds beyond it can be told apart. Also: database growth per conversation
(pg_database_size before/after) and the most connections each database had at once. The figures go to
results/bench-scale.json, which `python -m benchmarks.capacity` turns into the README's capacity model.

    python -m benchmarks.scale [--applicants 32] [--rounds 1] [--repeats 2] [--servers 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from antrean.runtime.cluster import Cluster
from antrean.runtime.settings import REPO_ROOT
from benchmarks.assistant import run_conversations
from benchmarks.processes import cpu_seconds

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
RESULTS = REPO_ROOT / "results" / "bench-scale.json"
COMPONENTS = ["Rasa servers", "receivers", "PostgreSQL", "Redis", "haproxy", "load generator"]


@dataclass
class Run:
    servers: int
    turns: int
    booked: int
    conversations: int
    seconds: float
    p50_ms: float
    p95_ms: float
    cpu_seconds: dict[str, float]  # component → CPU seconds over the run
    database_bytes: dict[str, int]  # database → growth over the run
    peak_connections: dict[str, int]  # database → most connections at once
    rasa_processes: int = 2  # running, in rotation or not: every one polls the inbox (PostgreSQL's idle load)

    @property
    def turns_per_second(self) -> float:
        return self.turns / self.seconds

    @property
    def bookings_per_second(self) -> float:
        return self.booked / self.seconds

    def cpu_ms_per_turn(self) -> dict[str, float]:
        return {name: seconds / self.turns * 1000 for name, seconds in self.cpu_seconds.items()}


# --- CPU of the pieces that are not our children ----------------------------------------------------

class PostgresBackends:
    """CPU of the PostgreSQL backends serving some databases, polled from /proc while a run lasts:
    a backend that ends between two polls keeps the CPU last seen (at most one poll's worth lost)."""

    def __init__(self, admin_url: str, databases: list[str], every: float = 0.5):
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", future=True, pool_size=1)
        self.databases, self.every = databases, every
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.peak: dict[str, int] = dict.fromkeys(databases, 0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        with self.engine.connect() as connection:
            rows = connection.execute(text("SELECT pid, datname FROM pg_stat_activity WHERE datname = ANY(:names)"),
                                      {"names": self.databases}).all()
        counts = dict.fromkeys(self.databases, 0)
        for pid, database in rows:
            counts[database] += 1
            used = cpu_seconds(pid, with_descendants=False)
            if used:
                self.last[pid] = used
        for database, count in counts.items():
            self.peak[database] = max(self.peak[database], count)

    def __enter__(self) -> PostgresBackends:
        self._poll()
        self.start = dict(self.last)  # what existing backends had used before the run
        self.peak = dict.fromkeys(self.databases, 0)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._poll()

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()

    @property
    def cpu_seconds(self) -> float:
        return sum(used - self.start.get(pid, 0.0) for pid, used in self.last.items())

    def sizes(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            return {name: connection.execute(text("SELECT pg_database_size(:n)"), {"n": name}).scalar_one()
                    for name in self.databases}

    def close(self) -> None:
        self.engine.dispose()


def redis_cpu_seconds(client) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# --- one run ------------------------------------------------------------------------------------------

def set_servers(cluster: Cluster, count: int) -> None:
    """haproxy sends REST messages to the first `count` Rasa servers only."""
    for number, name in enumerate([n for n in cluster.names if n.startswith("rasa")], start=1):
        cluster.haproxy_command(f"set server assistant/{name} state {'ready' if number <= count else 'maint'}")


def measure(cluster: Cluster, servers: int, applicants: int, rounds: int, offset: int, admin_url: str,
            redis_client) -> Run:
    """`rounds` × `applicants` concurrent registrations through haproxy to `servers` Rasa servers.
    `offset` keeps senders and NIKs of this run apart from every other run's."""
    settings = cluster.settings()
    databases = [make_url(settings.database_url).database, make_url(settings.tracker_url).database]
    set_servers(cluster, servers)
    url = cluster.urls["rest_webhook"]
    asyncio.run(run_conversations(url, 1, offset=offset))  # warm-up: each phase starts from the same state
    pids = {"Rasa servers": [cluster.servers[n].pid for n in cluster.names[:servers] if n.startswith("rasa")],
            "receivers": [cluster.servers[n].pid for n in cluster.names if n.startswith("receiver")],
            "haproxy": [cluster.haproxy.pid]}
    backends = PostgresBackends(admin_url, databases)
    try:
        sizes_before = backends.sizes()
        before = {name: sum(map(cpu_seconds, members)) for name, members in pids.items()}
        before["Redis"] = redis_cpu_seconds(redis_client)
        before["load generator"] = cpu_seconds(os.getpid(), with_descendants=False)
        latencies, booked = [], 0
        with backends:
            started = time.perf_counter()
            for round_ in range(rounds):
                done_latencies, done = asyncio.run(run_conversations(url, applicants, offset + 1 + round_ * applicants))
                latencies += [seconds for _, seconds in done_latencies]
                booked += done
            elapsed = time.perf_counter() - started
        used = {name: sum(map(cpu_seconds, members)) - before[name] for name, members in pids.items()}
        used["Redis"] = redis_cpu_seconds(redis_client) - before["Redis"]
        used["load generator"] = cpu_seconds(os.getpid(), with_descendants=False) - before["load generator"]
        used["PostgreSQL"] = backends.cpu_seconds
        sizes_after = backends.sizes()
        peak = dict(zip(["bookings", "conversations"], (backends.peak[d] for d in databases), strict=True))
        growth = dict(zip(["bookings", "conversations"], (sizes_after[d] - sizes_before[d] for d in databases),
                          strict=True))
    finally:
        backends.close()
    latencies.sort()
    return Run(servers=servers, turns=len(latencies), booked=booked, conversations=applicants * rounds,
               seconds=elapsed, p50_ms=statistics.median(latencies) * 1000,
               p95_ms=latencies[int(len(latencies) * 0.95)] * 1000,
               cpu_seconds={name: used[name] for name in COMPONENTS}, database_bytes=growth,
               peak_connections=peak, rasa_processes=len([n for n in cluster.names if n.startswith("rasa")]))


def idle(cluster: Cluster, seconds: float, admin_url: str, redis_client) -> dict[str, float]:
    """CPU per second (cores) each component uses with no traffic at all, per process: the Rasa
    servers poll the WhatsApp inbox and renew their leases, haproxy checks health. Part of every
    run's CPU is this, whatever the turns; the capacity model counts it per server, not per turn."""
    settings = cluster.settings()
    databases = [make_url(settings.database_url).database, make_url(settings.tracker_url).database]
    set_servers(cluster, len([n for n in cluster.names if n.startswith("rasa")]))
    groups = {"Rasa servers": [n for n in cluster.names if n.startswith("rasa")],
              "receivers": [n for n in cluster.names if n.startswith("receiver")]}
    backends = PostgresBackends(admin_url, databases)
    try:
        before = {name: sum(cpu_seconds(cluster.servers[n].pid) for n in members) for name, members in groups.items()}
        before["haproxy"] = cpu_seconds(cluster.haproxy.pid)
        before["Redis"] = redis_cpu_seconds(redis_client)
        with backends:
            started = time.perf_counter()
            time.sleep(seconds)
            elapsed = time.perf_counter() - started
        used = {name: sum(cpu_seconds(cluster.servers[n].pid) for n in members) - before[name]
                for name, members in groups.items()}
        used["haproxy"] = cpu_seconds(cluster.haproxy.pid) - before["haproxy"]
        used["Redis"] = redis_cpu_seconds(redis_client) - before["Redis"]
        used["PostgreSQL"] = backends.cpu_seconds
    finally:
        backends.close()
    # PostgreSQL's idle load is the servers' polling: counted per Rasa server.
    processes = {name: len(members) for name, members in groups.items()}
    processes["PostgreSQL"] = processes["Rasa servers"]
    return {name: used[name] / elapsed / processes.get(name, 1) for name in COMPONENTS if name in used}


def table(runs: list[Run]) -> str:
    head = (f"{'servers':>7} {'turns':>6} {'s':>6} {'turns/s':>8} {'book/s':>7} {'p50 ms':>7} {'p95 ms':>7}  "
            + "  ".join(f"{name:>14}" for name in COMPONENTS))
    lines = [head, f"{'':>54}CPU ms per turn"]
    for run in runs:
        per_turn = run.cpu_ms_per_turn()
        lines.append(f"{run.servers:>7} {run.turns:>6} {run.seconds:>6.1f} {run.turns_per_second:>8.2f} "
                     f"{run.bookings_per_second:>7.2f} {run.p50_ms:>7.0f} {run.p95_ms:>7.0f}  "
                     + "  ".join(f"{per_turn[name]:>14.1f}" for name in COMPONENTS))
    return "\n".join(lines)


@dataclass
class Summary:
    """What the capacity model needs, averaged over every run (CPU per turn does not depend on the
    number of servers; throughput does, and is kept per server count)."""

    machine: str
    load_before: list[float]
    load_after: list[float]
    cpu_ms_per_turn: dict[str, float]
    turns_per_conversation: float
    bytes_per_conversation: dict[str, float]
    peak_connections_per_server: dict[str, float]
    # Cores per process with no traffic (PostgreSQL: its backends for the whole cluster).
    idle_cores: dict[str, float] = field(default_factory=dict)
    # CPU per turn beyond the idle load of the run's processes (Rasa servers and PostgreSQL: what the
    # capacity model scales with turns; the idle load it scales with servers).
    marginal_ms_per_turn: dict[str, float] = field(default_factory=dict)
    throughput: dict[str, dict[str, float]] = field(default_factory=dict)  # servers → turns/s, bookings/s
    runs: list[dict] = field(default_factory=list)


def summarise(runs: list[Run], load_before, load_after, idle_cores: dict[str, float] | None = None) -> Summary:
    turns = sum(r.turns for r in runs)
    idle_cores = idle_cores or {}
    marginal = {}
    if idle_cores:
        marginal = {
            "Rasa servers": sum(r.cpu_seconds["Rasa servers"] - idle_cores["Rasa servers"] * r.servers * r.seconds
                                for r in runs) / turns * 1000,
            "PostgreSQL": sum(r.cpu_seconds["PostgreSQL"] - idle_cores["PostgreSQL"] * r.rasa_processes * r.seconds
                              for r in runs) / turns * 1000}
    conversations = sum(r.conversations for r in runs)
    throughput = {}
    for count in sorted({r.servers for r in runs}):
        mine = [r for r in runs if r.servers == count]
        throughput[str(count)] = {"turns_per_second": statistics.mean(r.turns_per_second for r in mine),
                                  "bookings_per_second": statistics.mean(r.bookings_per_second for r in mine)}
    return Summary(
        machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.node()}",
        load_before=list(load_before), load_after=list(load_after),
        cpu_ms_per_turn={name: sum(r.cpu_seconds[name] for r in runs) / turns * 1000 for name in COMPONENTS},
        turns_per_conversation=turns / conversations,
        bytes_per_conversation={db: sum(r.database_bytes[db] for r in runs) / conversations
                                for db in ("bookings", "conversations")},
        # Per Rasa server: the load generator's and haproxy's side do not hold connections.
        peak_connections_per_server={db: max(r.peak_connections[db] / r.servers for r in runs)
                                     for db in ("bookings", "conversations")},
        idle_cores=idle_cores, marginal_ms_per_turn=marginal, throughput=throughput,
        runs=[{**asdict(r), "turns_per_second": r.turns_per_second, "bookings_per_second": r.bookings_per_second}
              for r in runs])


# --- the command --------------------------------------------------------------------------------------

def start_cluster(folder: Path, admin_url: str, redis_url: str, receivers: int = 1):
    """A cluster of two Rasa servers on fresh databases and a Redis key prefix of its own; the quota
    raised so every conversation can book. Returns (cluster, clean-up)."""
    import redis

    from antrean.runtime.db import upgrade_database
    from tests.conftest import _create_database, _drop_database
    from tests.whatsapp import meta
    from tests.whatsapp.server import free_port

    suffix = uuid.uuid4().hex[:10]
    bookings = _create_database(admin_url, f"antrean_bench_scale_{suffix}")
    conversations = _create_database(admin_url, f"antrean_bench_scale_rasa_{suffix}")
    upgrade_database(bookings)
    offices = folder / "offices.yml"
    offices.write_text((REPO_ROOT / "config" / "offices.yml").read_text().replace(
        "daily_quota: 250", "daily_quota: 100000"))
    client = redis.StrictRedis.from_url(redis_url)
    options = client.connection_pool.connection_kwargs
    prefix = f"benchscale{suffix}"
    cluster = Cluster(
        rasa_ports=[free_port(), free_port()], receiver_ports=[free_port() for _ in range(receivers)],
        console_port=free_port(), public_port=free_port(), console_public_port=free_port(),
        model_server_port=None, run_dir=folder / "run",
        environment={"ANTREAN_DATABASE_URL": bookings, "ANTREAN_TRACKER_URL": conversations,
                     "ANTREAN_VAR_DIR": str(folder / "var"), "ANTREAN_MEDIA_DIR": str(folder / "media"),
                     "ANTREAN_OFFICES": str(offices),
                     "ANTREAN_REDIS_HOST": options["host"], "ANTREAN_REDIS_PORT": str(options["port"]),
                     "ANTREAN_REDIS_DB": str(options["db"]), "ANTREAN_REDIS_KEY_PREFIX": prefix,
                     "ANTREAN_CLOCK": "2026-12-01T08:00:00+07:00",
                     "ANTREAN_SECRET_KEY": "bench-scale-secret-key-0123456789-0123456789",
                     "ANTREAN_WA_VERIFY_TOKEN": meta.VERIFY_TOKEN, "ANTREAN_WA_APP_SECRET": meta.APP_SECRET})

    def clean_up() -> None:
        cluster.stop()
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        _drop_database(admin_url, bookings.rsplit("/", 1)[1])
        _drop_database(admin_url, conversations.rsplit("/", 1)[1])

    return cluster, client, clean_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applicants", type=int, default=32, help="concurrent applicants per round")
    parser.add_argument("--rounds", type=int, default=1, help="conversations per applicant in a run")
    parser.add_argument("--repeats", type=int, default=2, help="runs per server count, alternating")
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--idle-seconds", type=float, default=15, help="the cluster's CPU without traffic")
    parser.add_argument("--postgres", default=os.environ.get("ANTREAN_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--redis", default=os.environ.get("ANTREAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; load average before: {os.getloadavg()}")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as folder:
        cluster, redis_client, clean_up = start_cluster(Path(folder), args.postgres, args.redis)
        try:
            started = time.perf_counter()
            cluster.start()
            cluster.wait_until_ready()
            print(f"cluster ready in {time.perf_counter() - started:.0f} s (2 Rasa servers, haproxy, "
                  f"PostgreSQL, Redis)")
            load_before = os.getloadavg()
            idle_cores = idle(cluster, args.idle_seconds, args.postgres, redis_client)
            print("idle, cores per process: " + ", ".join(f"{k} {v:.3f}" for k, v in idle_cores.items()))
            offset = 10_000
            for _ in range(args.repeats):
                for count in args.servers:
                    runs.append(measure(cluster, count, args.applicants, args.rounds, offset, args.postgres,
                                        redis_client))
                    offset += 10_000
                    print(table(runs[-1:]).splitlines()[-1], flush=True)
            load_after = os.getloadavg()
        finally:
            clean_up()
    print(table(runs))
    summary = summarise(runs, load_before, load_after, idle_cores)
    print(f"load average before / after the runs: {load_before} / {load_after}")
    print("CPU ms per turn over every run: "
          + ", ".join(f"{name} {ms:.1f}" for name, ms in summary.cpu_ms_per_turn.items()))
    if summary.marginal_ms_per_turn:
        print("beyond the idle load: " + ", ".join(f"{name} {ms:.1f} ms per turn"
                                                  for name, ms in summary.marginal_ms_per_turn.items()))
    print(f"database growth per conversation: {summary.bytes_per_conversation}; "
          f"peak connections per Rasa server: {summary.peak_connections_per_server}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(asdict(summary), indent=2) + "\n")
    print(f"written to {args.out}; the capacity model: python -m benchmarks.capacity --measured {args.out}")


if __name__ == "__main__":
    main()
