"""`make bench-review-sync`: how soon an applicant's message reaches the console's conversation list
with two Rasa servers writing one PostgreSQL tracker store, and what the sync's polling costs that
database as the store grows to 100,000+ conversations.

1. Load: Rasa's `events` table seeded in bulk (benchmarks.console.seed_tracker: Rasa's own event
   classes) to a tenth of the size, then to the full size; at each size, the real sync copies it,
   then polls many times with nothing new ("idle") and with one new conversation before each poll
   ("busy"). Per poll: SQL statements sent, wall time, PostgreSQL CPU of the sync's own backends
   (found by their application_name, read from /proc: the server is on this machine) and rows the
   server read (index entries + sequential rows, from pg_stat_user_indexes / pg_stat_user_tables
   of both databases, which only this benchmark uses).
2. Delay: two independent Rasa servers (separate processes on their own ports, one worker each,
   sharing the tracker store and a lock store) take REST messages; every applicant's turns
   alternate between the servers. A console-like poller syncs every `--interval` seconds (the
   console's timer; a list page opening also syncs) and notes when each message first appears in
   the read model. Delay = that moment − when the message was sent (and − when its reply came).
   At the end, every user message in the tracker store must be in the read model exactly once."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import tempfile
import threading
import time
from collections import Counter as Counter_
from datetime import datetime, timezone
from pathlib import Path

import httpx
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from antrean.booking.offices import load_offices
from antrean.review import sync as sync_module
from antrean.review.schema import review_user_messages
from antrean.review.sync import SETTLE_SECONDS, sync
from antrean.review.tracker import events as events_table
from antrean.review.tracker import make_tracker_engine
from antrean.runtime.db import make_engine, upgrade_database
from antrean.runtime.serve import DEFAULT_MODEL, Stack
from benchmarks.console import DEFAULT_POSTGRES, seed_tracker
from benchmarks.processes import cpu_seconds
from benchmarks.rush import CLOCK, SECRET, Databases
from tests.whatsapp.server import free_port

TAG = "antrean_bench_review_sync"  # application_name of the sync's connections
TEXTS = ["halo", "jam buka kantor kapan", "syarat paspor baru apa saja", "makasih ya"]


def tagged(url: str) -> str:
    return make_url(url).update_query_dict({"application_name": TAG}).render_as_string(hide_password=False)


class Counter:
    """SQL statements an engine sends."""

    def __init__(self, *engines):
        self.count = 0
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self._one)

    def _one(self, *_args) -> None:
        self.count += 1


def backend_cpu(admin) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving the sync's connections."""
    with admin.connect() as connection:
        pids = connection.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :t"),
                                  {"t": TAG}).scalars().all()
    return sum(cpu_seconds(pid, with_descendants=False) for pid in pids)


def rows_read(urls: list[str]) -> dict[str, int]:
    """Index entries and table rows read so far in these databases (their own statistics views),
    per index (name) and per table read sequentially (name + " (sequential)")."""
    read: dict[str, int] = {}
    for url in urls:
        engine = create_engine(url, future=True)
        with engine.connect() as connection:
            read.update(connection.execute(text(
                "SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes")).all())
            read.update((f"{name} (sequential)", n) for name, n in connection.execute(text(
                "SELECT relname, coalesce(seq_tup_read, 0) FROM pg_stat_user_tables")).all())
        engine.dispose()
    return read


def difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}


def now() -> datetime:
    return datetime.now(timezone.utc)


# --- 1. the load ----------------------------------------------------------------------------------

def polls(database: str, conversations_url: str, admin, count: int, busy: bool, settle: float) -> dict:
    """`count` polls of the sync (with fresh engines, as a console has); per poll figures."""
    engine, tracker_engine = make_engine(tagged(database)), make_tracker_engine(tagged(conversations_url))
    offices = load_offices()
    sync(engine, tracker_engine, offices, now(), settle_seconds=settle)  # connections open, caches warm
    counter = Counter(engine, tracker_engine)
    writer = make_tracker_engine(conversations_url)  # a "Rasa server": the new events of a busy poll
    time.sleep(1.2)  # let the backends flush their statistics before the count starts
    read_before, cpu_before = rows_read([database, conversations_url]), backend_cpu(admin)
    copied, wall = 0, 0.0
    for n in range(count):
        if busy:
            seed_tracker(writer, 2, 20, list(offices), seed=n)
            time.sleep(settle)
        started = time.perf_counter()
        copied += sync(engine, tracker_engine, offices, now(), settle_seconds=settle).events
        wall += time.perf_counter() - started
    cpu_after = backend_cpu(admin)
    statements = counter.count
    engine.dispose()  # backends exit and flush their statistics
    tracker_engine.dispose()
    writer.dispose()
    time.sleep(1.5)
    read_after = rows_read([database, conversations_url])
    return {"statements": statements / count, "wall_ms": wall / count * 1000,
            "cpu_ms": (cpu_after - cpu_before) / count * 1000,
            "rows": sum(difference(read_after, read_before).values()) / count,
            "rows_by": sorted(((n / count, name) for name, n in difference(read_after, read_before).items()),
                              reverse=True)[:4],
            "copied": copied / count}


def load_stage(database: str, conversations_url: str, admin, conversations: int, events: int, seeded: int,
               seed: int, count: int, settle: float) -> dict:
    engine = make_tracker_engine(conversations_url)
    started = time.perf_counter()
    written = seed_tracker(engine, conversations, events, list(load_offices()), seed=seed)
    seeded_s = time.perf_counter() - started
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(events_table)).scalar()
        connection.commit()
    engine.dispose()
    app, tracker_engine = make_engine(database), make_tracker_engine(conversations_url)
    started = time.perf_counter()
    copied = sync(app, tracker_engine, load_offices(), now(), settle_seconds=0).events
    synced_s = time.perf_counter() - started
    app.dispose()
    tracker_engine.dispose()
    idle = polls(database, conversations_url, admin, count, busy=False, settle=settle)
    busy = polls(database, conversations_url, admin, max(10, count // 10), busy=True, settle=0)
    return {"events": total, "conversations": seeded + conversations, "written": written, "seed_s": seeded_s,
            "sync_s": synced_s, "copied": copied, "idle": idle, "busy": busy}


# --- 2. the delay ---------------------------------------------------------------------------------

class Poller(threading.Thread):
    """The console's timer: sync, then note which user messages the read model shows now."""

    def __init__(self, database: str, conversations_url: str, interval: float, settle: float):
        super().__init__(daemon=True)
        self.engine, self.tracker_engine = make_engine(tagged(database)), make_tracker_engine(tagged(conversations_url))
        self.interval, self.settle = interval, settle
        self.seen: dict[tuple[str, str], float] = {}
        self.sync_times: list[float] = []
        self.held_by_gap = 0  # polls that stopped before a save in flight
        self.stop = threading.Event()
        self.last = 0
        # Where a slow poll's time goes: the slowest statements (seconds, SQL) and, sampled from
        # pg_stat_activity while a poll runs long, what the sync's backends were doing.
        self.statements: list[tuple[float, str]] = []
        self.samples: list[str] = []
        for engine in (self.engine, self.tracker_engine):
            event.listen(engine, "before_cursor_execute", self._before)
            event.listen(engine, "after_cursor_execute", self._after)
        self.polling = threading.Event()
        self.poll_started = 0.0

    def _before(self, conn, _cursor, statement, *_args) -> None:
        conn.info["started"] = time.perf_counter()

    def _after(self, conn, _cursor, statement, *_args) -> None:
        self.statements.append((time.perf_counter() - conn.info.pop("started", time.perf_counter()),
                                " ".join(statement.split())[:90]))

    def watch(self, admin) -> None:
        """Samples the sync's backends every 0.5 s while a poll runs longer than 1 s."""
        while not self.stop.is_set():
            if self.polling.is_set() and time.perf_counter() - self.poll_started > 1:
                with admin.connect() as connection:
                    for row in connection.execute(text(
                            "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity "
                            "WHERE application_name = :t AND state <> 'idle'"), {"t": TAG}):
                        self.samples.append(f"{row.state}/{row.wait_event_type}/{row.wait_event}: "
                                            f"{' '.join(row.query.split())[:80]}")
            time.sleep(0.5)

    def run(self) -> None:
        offices = load_offices()
        m = review_user_messages.c
        while not self.stop.is_set():
            started = self.poll_started = time.perf_counter()
            self.polling.set()
            sync(self.engine, self.tracker_engine, offices, now(), settle_seconds=self.settle)
            self.polling.clear()
            self.sync_times.append(time.perf_counter() - started)
            self.held_by_gap += bool(sync_module._gaps.get(self.tracker_engine))
            at = time.monotonic()
            with self.engine.connect() as connection:
                for row in connection.execute(select(m.event_id, m.sender_id, m.text).where(m.event_id > self.last)):
                    self.seen.setdefault((row.sender_id, row.text), at)
                    self.last = max(self.last, row.event_id)
            self.stop.wait(self.interval)

    def close(self) -> None:
        self.stop.set()
        self.join(30)
        self.engine.dispose()
        self.tracker_engine.dispose()


async def applicant(client: httpx.AsyncClient, servers: list[str], sender: str, index: int, think: float,
                    sent: dict, replied: dict, failures: list) -> None:
    await asyncio.sleep(index * 0.2)  # arrivals spread a little
    for turn, message in enumerate(TEXTS):
        server = servers[(index + turn) % len(servers)]  # no stickiness: turns alternate servers
        sent[(sender, message)] = time.monotonic()
        try:
            reply = await client.post(f"{server}/webhooks/antrean/webhook", json={"sender": sender, "message": message})
            reply.raise_for_status()
        except httpx.HTTPError as error:
            failures.append(f"{sender} {message!r}: {error.__class__.__name__}")
            continue
        replied[(sender, message)] = time.monotonic()
        await asyncio.sleep(think)


async def converse(servers: list[str], prefix: str, applicants: int, think: float) -> tuple[dict, dict, list]:
    sent, replied, failures = {}, {}, []
    async with httpx.AsyncClient(timeout=180) as client:
        await asyncio.gather(*(applicant(client, servers, f"{prefix}{n:05d}", n, think, sent, replied, failures)
                               for n in range(applicants)))
    return sent, replied, failures


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else float("nan")


class TwoServers:
    """Two Rasa servers, one worker each, sharing the tracker store and (run_dir) the lock store."""

    def __init__(self, database: str, conversations_url: str, folder: Path, model: Path):
        environment = {"ANTREAN_DATABASE_URL": database, "ANTREAN_CLOCK": CLOCK,
                       "ANTREAN_MEDIA_DIR": str(folder / "media"), "ANTREAN_SECRET_KEY": SECRET,
                       "ANTREAN_EKTP_READING": "0"}
        self.stacks = [Stack(rasa_port=free_port(), actions_port=free_port(), model=model, run_dir=folder,
                             rasa_workers=1, conversations_url=conversations_url, environment=environment)
                       for _ in range(2)]

    def __enter__(self) -> TwoServers:
        started = time.monotonic()
        try:
            for stack in self.stacks:
                stack.start()
            for stack in self.stacks:
                stack.wait_until_ready(timeout=900)
        except BaseException:
            self.__exit__()
            raise
        self.ready_s = time.monotonic() - started
        return self

    def __exit__(self, *_exc) -> None:
        for stack in self.stacks:
            stack.stop()


def _poll_in_process(server: str, database: str, conversations_url: str, interval: float, settle: float,
                     stop, results) -> None:
    """The console's process: polls until told to stop, then hands back what it saw."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT", future=True)
    poller = Poller(database, conversations_url, interval, settle)
    poller.start()
    threading.Thread(target=poller.watch, args=(admin,), daemon=True).start()
    while not poller.sync_times:
        time.sleep(0.05)
    results.put("ready")
    stop.wait()
    poller.close()
    admin.dispose()
    results.put({"seen": poller.seen, "sync_times": poller.sync_times, "held_by_gap": poller.held_by_gap,
                 "statements": sorted(poller.statements, reverse=True)[:3],
                 "sql_seconds": sum(t for t, _ in poller.statements), "samples": poller.samples})


def delay_run(servers: TwoServers, server: str, database: str, conversations_url: str, admin, prefix: str,
              applicants: int, think: float, interval: float, settle: float) -> dict:
    # The poller in a process of its own, as the console is (sharing this one's interpreter with the
    # 100 clients would slow it down for reasons a console does not have).
    context = multiprocessing.get_context("spawn")
    stop, results = context.Event(), context.Queue()
    process = context.Process(target=_poll_in_process, args=(server, database, conversations_url, interval, settle,
                                                            stop, results))
    process.start()
    assert results.get(timeout=300) == "ready"
    time.sleep(settle)  # caught up with what came before
    cpu_before, run_started = backend_cpu(admin), time.monotonic()
    sent, replied, failures = asyncio.run(converse([s.rasa_url for s in servers.stacks], prefix, applicants, think))
    app = make_engine(database)
    m = review_user_messages.c
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with app.connect() as connection:
            if connection.execute(select(func.count()).where(m.sender_id.like(f"{prefix}%"))).scalar() >= len(replied):
                break
        time.sleep(0.1)
    run_s, cpu = time.monotonic() - run_started, backend_cpu(admin) - cpu_before
    stop.set()
    polled = results.get(timeout=120)
    process.join(30)
    seen = {tuple(k): v for k, v in polled["seen"].items()}
    tracker = create_engine(conversations_url, future=True)
    with tracker.connect() as connection:
        said = connection.execute(select(events_table.c.sender_id, func.count()).where(
            events_table.c.type_name == "user", events_table.c.sender_id.like(f"{prefix}%"))
            .group_by(events_table.c.sender_id)).all()
    tracker.dispose()
    with app.connect() as connection:
        copied = dict(connection.execute(select(m.sender_id, func.count()).where(m.sender_id.like(f"{prefix}%"))
                                         .group_by(m.sender_id)).all())
    app.dispose()
    since_sent = [seen[k] - sent[k] for k in replied if k in seen]
    since_reply = [seen[k] - replied[k] for k in replied if k in seen]
    turns = [replied[k] - sent[k] for k in replied]
    return {"interval": interval, "settle": settle, "messages": len(sent), "answered": len(replied),
            "failures": failures, "never_seen": len(set(replied) - set(seen)),
            "tracker_user_events": sum(n for _, n in said), "read_model_messages": sum(copied.values()),
            "mismatched_senders": sum(1 for sender, n in said if copied.get(sender) != n),
            "turn_p50": percentile(turns, 0.5), "turn_p95": percentile(turns, 0.95),
            "sent_p50": percentile(since_sent, 0.5), "sent_p95": percentile(since_sent, 0.95),
            "sent_max": max(since_sent, default=float("nan")),
            "reply_p50": percentile(since_reply, 0.5), "reply_p95": percentile(since_reply, 0.95),
            "reply_max": max(since_reply, default=float("nan")),
            "polls": len(polled['sync_times']), "held_by_gap": polled['held_by_gap'],
            "poll_ms_p50": percentile(polled['sync_times'], 0.5) * 1000,
            "poll_ms_p95": percentile(polled['sync_times'], 0.95) * 1000,
            "poll_ms_max": max(polled['sync_times'], default=float("nan")) * 1000,
            "cpu_ms_per_s": cpu / run_s * 1000, "run_s": run_s,
            "slowest": polled["statements"],
            "sql_share": polled["sql_seconds"] / max(1e-9, sum(polled["sync_times"])),
            "samples": sorted(Counter_(polled["samples"]).items(), key=lambda x: -x[1])[:3]}


# --- report ---------------------------------------------------------------------------------------

def report_load(stage: dict, interval: float) -> None:
    print(f"  {stage['events']:,} events, {stage['conversations']:,} conversations "
          f"(this stage seeded {stage['written']:,} events in {stage['seed_s']:.0f} s; "
          f"sync copied {stage['copied']:,} in {stage['sync_s']:.0f} s)")
    for name in ("idle", "busy"):
        f = stage[name]
        print(f"    {name:4s} poll: {f['statements']:.1f} statements, {f['wall_ms']:.1f} ms wall, "
              f"{f['cpu_ms']:.2f} ms PostgreSQL CPU, {f['rows']:.0f} rows read ("
              + ", ".join(f"{name} {n:.0f}" for n, name in f["rows_by"]) + f"), {f['copied']:.0f} events copied"
              + (f"; every {interval:g} s: {f['cpu_ms'] / interval:.2f} ms CPU per second" if name == "idle" else ""))


def report_delay(f: dict) -> None:
    print(f"  polling every {f['interval']:g} s, settle {f['settle']:g} s: {f['messages']} messages, "
          f"{f['answered']} answered (reply p50 {f['turn_p50']:.2f} s, p95 {f['turn_p95']:.2f} s)")
    print(f"    in the console after it was sent:    p50 {f['sent_p50']:.2f} s  p95 {f['sent_p95']:.2f} s  "
          f"max {f['sent_max']:.2f} s")
    print(f"    in the console after its reply came: p50 {f['reply_p50']:.2f} s  p95 {f['reply_p95']:.2f} s  "
          f"max {f['reply_max']:.2f} s")
    print(f"    {f['polls']} polls ({f['held_by_gap']} stopped before a save in flight), "
          f"p50 {f['poll_ms_p50']:.0f} ms, p95 {f['poll_ms_p95']:.0f} ms, max {f['poll_ms_max']:.0f} ms; "
          f"the sync's PostgreSQL CPU {f['cpu_ms_per_s']:.2f} ms per second over {f['run_s']:.0f} s")
    print(f"    SQL {f['sql_share']:.0%} of the polls' time; slowest statements: "
          + "; ".join(f"{t * 1000:.0f} ms {q}" for t, q in f["slowest"]))
    if f["samples"]:
        print("    while a poll ran long: " + "; ".join(f"{n}× {what}" for what, n in f["samples"]))
    print(f"    tracker store: {f['tracker_user_events']} user messages; read model: {f['read_model_messages']}; "
          f"senders not matching: {f['mismatched_senders']}; answered but never seen: {f['never_seen']}"
          + (f"; failures: {f['failures'][:3]}" if f["failures"] else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--polls", type=int, default=200, help="idle polls measured at each size")
    parser.add_argument("--applicants", type=int, default=100, help="per delay run, arriving 0.2 s apart")
    parser.add_argument("--think", type=float, default=1.0, help="pause after each reply")
    parser.add_argument("--runs", default=f"2:{SETTLE_SECONDS:g},10:3,2:{SETTLE_SECONDS:g}",
                        help="delay runs, each INTERVAL:SETTLE seconds (the console's before this change: 10:3)")
    parser.add_argument("--no-rasa", action="store_true", help="the load only")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    server = os.environ.get("ANTREAN_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", future=True)
    with tempfile.TemporaryDirectory(prefix="antrean-review-sync-") as folder_name:
        folder = Path(folder_name)
        with Databases("postgresql", folder, server) as (database, conversations_url):
            upgrade_database(database)
            print("load of the sync's polling on PostgreSQL, per poll:")
            tenth = load_stage(database, conversations_url, admin, args.conversations // 10, args.events // 10, 0,
                               1, args.polls, 0)
            report_load(tenth, 2)
            full = load_stage(database, conversations_url, admin, args.conversations - args.conversations // 10,
                              args.events - args.events // 10, args.conversations // 10, 2, args.polls, 0)
            report_load(full, 2)
            if not args.no_rasa:
                with TwoServers(database, conversations_url, folder, args.model) as servers:
                    print(f"delay from an applicant's message to the console's list, two Rasa servers (ready in "
                          f"{servers.ready_s:.0f} s), {args.applicants} applicants × {len(TEXTS)} REST messages "
                          f"per run, load average {os.getloadavg()[0]:.1f}:")
                    for n, run in enumerate(args.runs.split(",")):
                        interval, settle = (float(x) for x in run.split(":"))
                        report_delay(delay_run(servers, server, database, conversations_url, admin, f"628139{n}",
                                               args.applicants, args.think, interval, settle))
    admin.dispose()
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
