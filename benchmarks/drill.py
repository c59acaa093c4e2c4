"""`make drill`: failure drills on production's topology (issue 12 §2), during a rush of applicants.

One cluster (antrean/runtime/cluster.py: two Rasa servers, two WhatsApp receivers, the console,
haproxy, PostgreSQL, Redis) serves every drill in turn. For each drill a fresh group of applicants
(the applicant driver of benchmarks/rush.py, its WhatsApp messages signed like Meta's and POSTed to
haproxy) starts a small rush; a few seconds in, one part of the cluster fails and comes back:

- `rasa`: SIGKILL one Rasa server; a supervisor starts it again 10 s later (it reloads its model).
- `receiver`: SIGKILL one WhatsApp receiver; started again 10 s later.
- `postgresql`: the machine's PostgreSQL is shared (other runs use it), so it is not restarted:
  both databases of the cluster are closed to new connections (`ALTER DATABASE … ALLOW_CONNECTIONS
  false`) and every backend on them is terminated (`pg_terminate_backend`) every 0.2 s for 10 s;
  then connections are allowed again. What the cluster sees is what a PostgreSQL restart shows it:
  every connection dropped, new ones refused, then the database back.
- `postgresql-restart` (only when named: it stops the machine's PostgreSQL, and with it every
  other database on it): the real thing — `pg_ctlcluster … stop` (fast shutdown), 10 s without a
  server, `pg_ctlcluster … start`. Needs the rights to run pg_ctlcluster (root or postgres).
- `redis`: the cluster's Redis is a redis-server of its own (no persistence, like a lock store):
  SHUTDOWN NOSAVE, 10 s without it, started again on the same port, empty.
- `console`: the console is stopped (drained at haproxy, SIGTERM) for 10 s and started again.

Like Meta, the driver re-sends a delivery that was not answered 200 (backoff 1, 2, 4, … s, at most
16 s, for up to 5 minutes). Everything in the table is counted, never assumed:

- webhook answers: HTTP status codes of every delivery attempt (`err`: no HTTP answer);
- lost: messages answered 200 that are not in the inbox, plus stored messages never processed;
- twice: a message in two Rasa turns (its id twice in the tracker), a reply sent twice (the
  Graph API stand-in's calls beyond the outbox rows sent), or a reply written twice for one message;
- overbooked: active bookings beyond a session's capacity, seat counters that disagree, or an
  applicant booked twice;
- what applicants saw: reply time (first delivery attempt → first reply at the stand-in) of the
  messages first sent before the fault vs while it lasted (fault start → the part is back), p50/p95/max.

    python -m benchmarks.drill [--applicants 30] [--window 20] [--fault-at 8] [--drills rasa,receiver,…]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from antrean.booking.model import BookingStatus
from antrean.booking.schema import bookings
from antrean.runtime.cluster import Cluster, haproxy_binary
from antrean.runtime.db import upgrade_database
from antrean.runtime.serve import DEFAULT_MODEL
from antrean.whatsapp.inbox import SENDING, SENT
from antrean.whatsapp.schema import whatsapp_inbox, whatsapp_outbox
from benchmarks.ektp_cards import photo_of
from benchmarks.rush import (
    CLOCK,
    DEFAULT_POSTGRES,
    SECRET,
    Applicant,
    Databases,
    NotifyingStandIn,
    Rush,
    capacities_for,
    make_applicants,
    percentile,
    seats_taken,
)
from tests.whatsapp import meta
from tests.whatsapp.server import free_port

DRILLS = ["rasa", "receiver", "postgresql", "redis", "console"]
ONLY_WHEN_NAMED = ["postgresql-restart"]  # disturbs more than the cluster
HOLD_SECONDS = 10.0  # how long a part stays down (then the "supervisor" brings it back)
RETRY_FOR_SECONDS = 300.0  # Meta retries for days; the drill gives up on a delivery after this


# --- the cluster's own Redis ---------------------------------------------------------------------

class PrivateRedis:
    """A redis-server of the drill's own: stopping it stops nobody else's Redis."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.process = folder, free_port(), None

    @staticmethod
    def binary() -> str | None:
        return shutil.which("redis-server")

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [self.binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.StrictRedis(port=self.port, socket_timeout=1).ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the drill's redis-server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(redis.RedisError):
                redis.StrictRedis(port=self.port, socket_timeout=2).shutdown(nosave=True)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- the cluster the drills run on ------------------------------------------------------------------

@dataclass
class Setup:
    cluster: Cluster
    standin: NotifyingStandIn
    redis: PrivateRedis
    postgres: str  # the server (admin connection for the PostgreSQL drill)
    database: str
    conversations: str


@contextlib.contextmanager
def drill_cluster(postgres: str = DEFAULT_POSTGRES, model: Path = DEFAULT_MODEL, log=print):
    """Fresh databases, a redis-server and a Graph API stand-in, and the cluster on them; all gone after."""
    with tempfile.TemporaryDirectory(prefix="antrean-drill-") as folder_name:
        folder = Path(folder_name)
        with Databases("postgresql", folder, postgres) as (database, conversations):
            upgrade_database(database)
            own_redis = PrivateRedis(folder).start()
            standin = NotifyingStandIn().start()
            environment = {
                "ANTREAN_DATABASE_URL": database, "ANTREAN_TRACKER_URL": conversations,
                "ANTREAN_VAR_DIR": str(folder / "var"), "ANTREAN_MEDIA_DIR": str(folder / "media"),
                "ANTREAN_REDIS_HOST": "127.0.0.1", "ANTREAN_REDIS_PORT": str(own_redis.port),
                "ANTREAN_REDIS_DB": "0", "ANTREAN_REDIS_KEY_PREFIX": "drill",
                "ANTREAN_CLOCK": CLOCK, "ANTREAN_SECRET_KEY": SECRET,
                "ANTREAN_WA_VERIFY_TOKEN": meta.VERIFY_TOKEN, "ANTREAN_WA_APP_SECRET": meta.APP_SECRET,
                "ANTREAN_WA_ACCESS_TOKEN": standin.token, "ANTREAN_WA_GRAPH_URL": standin.url,
                "ANTREAN_WA_GRAPH_VERSION": standin.version,
                # As in the rush benchmark: a handful of messages per applicant is no flood; the
                # worker polls the inbox the receivers fill.
                "ANTREAN_WA_FLOOD_MAX_MESSAGES": "100", "ANTREAN_WA_POLL_SECONDS": "0.25",
                # Reading e-KTP photos is not what fails here: the applicants type their NIK.
                "ANTREAN_EKTP_READING": "0"}
            cluster = Cluster(
                rasa_ports=[free_port(), free_port()], receiver_ports=[free_port(), free_port()],
                console_port=free_port(), public_port=free_port(), console_public_port=free_port(),
                model_server_port=None, run_dir=folder / "run", model=model, drain_seconds=60,
                environment=environment)
            try:
                loaded = time.monotonic()
                cluster.start()
                cluster.wait_until_ready(timeout=900)
                log(f"cluster ready in {time.monotonic() - loaded:.0f} s")
                yield Setup(cluster, standin, own_redis, postgres, database, conversations)
            finally:
                cluster.stop()
                standin.stop()
                own_redis.stop()


# --- the faults ----------------------------------------------------------------------------------

def fault_rasa(setup: Setup) -> str:
    setup.cluster.kill("rasa1")
    time.sleep(HOLD_SECONDS)
    setup.cluster.restart("rasa1")
    return f"SIGKILL rasa1; started again after {HOLD_SECONDS:.0f} s (model load)"


def fault_receiver(setup: Setup) -> str:
    setup.cluster.kill("receiver1")
    time.sleep(HOLD_SECONDS)
    setup.cluster.restart("receiver1")
    return f"SIGKILL receiver1; started again after {HOLD_SECONDS:.0f} s"


def fault_postgresql(setup: Setup) -> str:
    names = [make_url(setup.database).database, make_url(setup.conversations).database]
    admin = create_engine(setup.postgres, isolation_level="AUTOCOMMIT", future=True)
    terminated = 0
    try:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            until = time.monotonic() + HOLD_SECONDS
            while time.monotonic() < until:
                terminated += sum(1 for (done,) in connection.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = ANY(:names) AND pid <> pg_backend_pid()"), {"names": names}) if done)
                time.sleep(0.2)
            for name in names:
                connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    finally:
        admin.dispose()
    return (f"both databases closed (ALLOW_CONNECTIONS false) and their backends terminated every 0.2 s "
            f"for {HOLD_SECONDS:.0f} s ({terminated} terminated); then allowed again")


def fault_postgresql_restart(setup: Setup) -> str:
    admin = create_engine(setup.postgres, future=True)
    with admin.connect() as connection:
        cluster = connection.execute(text("SHOW cluster_name")).scalar_one()  # Debian: "15/main"
    admin.dispose()
    control = shutil.which("pg_ctlcluster")
    if control is None or "/" not in cluster:
        raise RuntimeError("postgresql-restart needs Debian's pg_ctlcluster and a cluster_name such as 15/main")
    version, name = cluster.split("/", 1)
    subprocess.run([control, version, name, "stop"], check=True, capture_output=True)
    time.sleep(HOLD_SECONDS)
    subprocess.run([control, version, name, "start"], check=True, capture_output=True)
    return f"PostgreSQL {cluster} stopped (pg_ctlcluster stop) for {HOLD_SECONDS:.0f} s, then started"


def fault_redis(setup: Setup) -> str:
    setup.redis.stop()
    time.sleep(HOLD_SECONDS)
    setup.redis.start()
    return f"the cluster's redis-server shut down (SHUTDOWN NOSAVE), started again empty after {HOLD_SECONDS:.0f} s"


def fault_console(setup: Setup) -> str:
    setup.cluster.stop_server("console")
    answers = Counter()
    until = time.monotonic() + HOLD_SECONDS
    while time.monotonic() < until:  # what staff see meanwhile
        try:
            answers[httpx.get(f"{setup.cluster.urls['console']}/masuk", timeout=5).status_code] += 1
        except httpx.HTTPError:
            answers["err"] += 1
        time.sleep(1)
    setup.cluster.restart("console")
    return (f"console drained and stopped (SIGTERM) for {HOLD_SECONDS:.0f} s, started again; "
            f"console page meanwhile: {dict(answers)}")


FAULTS = {"rasa": fault_rasa, "receiver": fault_receiver, "postgresql": fault_postgresql,
          "postgresql-restart": fault_postgresql_restart, "redis": fault_redis, "console": fault_console}


# --- the applicants, re-sending like Meta -----------------------------------------------------------

class DrillRush(Rush):
    # The reply often comes before the worker marks the message processed: ask again soon, so a
    # drill's rush lasts as long as its conversations (not 30 s more per turn).
    reply_wait_seconds = 2.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.first_attempt: dict[str, float] = {}  # message id → monotonic time of its first delivery
        self.attempts: list[tuple[float, str]] = []  # (monotonic time, status code or "err")
        self.accepted: set[str] = set()  # message ids answered 200
        self.given_up: set[str] = set()
        self.resent: set[str] = set()  # message ids delivered more than once
        self.reply_at: dict[str, float] = {}  # outgoing wamid → when the stand-in got it

    def on_reply(self, message: dict, at: float) -> None:
        self.reply_at.setdefault(message["wamid"], at)
        super().on_reply(message, at)

    async def post(self, client: httpx.AsyncClient, applicant: Applicant, message: dict) -> None:
        body = meta.encode(meta.notification(meta.messages_value(message)))
        self.first_attempt[message["id"]] = first = time.monotonic()
        backoff = 1.0
        while True:
            started = time.perf_counter()
            try:
                async with self.posting:  # as many POSTs at once as the rush benchmark allows
                    reply = await client.post(self.url, content=body, headers=meta.signed_headers(body))
                status = str(reply.status_code)
            except httpx.HTTPError:
                status = "err"
            self.post_latencies.append(time.perf_counter() - started)
            self.attempts.append((time.monotonic(), status))
            if status == "200":
                applicant.first_sent_at = applicant.first_sent_at or time.monotonic()
                self.accepted.add(message["id"])
                applicant.sent_ids.append(message["id"])
                applicant.sent += 1
                return
            self.post_failures += 1
            self.resent.add(message["id"])
            if time.monotonic() - first > RETRY_FOR_SECONDS:
                self.given_up.add(message["id"])
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 16)


@dataclass
class DrillResult:
    name: str
    done: str
    applicants: int
    booked: int
    fault_seconds: float
    statuses_during: dict = field(default_factory=dict)
    statuses_outside: dict = field(default_factory=dict)
    retried: int = 0  # deliveries that needed more than one attempt
    accepted: int = 0
    tracked: int = 0  # stored messages found as a user turn in the tracker store
    lost: int = 0
    lost_after_200: int = 0
    given_up: int = 0
    unprocessed: int = 0
    failed: int = 0
    inbox_outcomes: dict = field(default_factory=dict)
    twice: int = 0
    unrecorded: int = 0  # replies that went out but whose outbox row was left "sending"
    overbooked: int = 0
    before: list = field(default_factory=list)  # reply seconds of messages first sent before the fault
    during: list = field(default_factory=list)
    outcomes: dict = field(default_factory=dict)
    not_booked: list = field(default_factory=list)  # what each applicant not booked was left with

    def summary(self, values: list[float]) -> str:
        if not values:
            return "–"
        return f"{percentile(values, .5):.1f}/{percentile(values, .95):.1f}/{max(values):.1f}"


def run_drill(setup: Setup, name: str, number: int, count: int, window: float, fault_at: float,
              photo: bytes, log=print) -> DrillResult:
    applicants = make_applicants(count, window, seed=100 + number)
    for applicant in applicants:  # every drill its own senders
        applicant.wa_id = f"628139{number:02d}{applicant.index:05d}"
    runner = DrillRush(setup.cluster.urls["whatsapp_webhook"], setup.standin, [photo] * count, think=0.5,
                       idle_timeout=420, seed=100 + number, database=setup.database)
    window_of_fault: list[float] = []
    done: list[str] = []

    async def both():
        async def fault():
            while not runner.started:
                await asyncio.sleep(0.05)
            await asyncio.sleep(max(0.0, runner.started + fault_at - time.monotonic()))
            window_of_fault.append(time.monotonic())
            done.append(await asyncio.to_thread(FAULTS[name], setup))
            window_of_fault.append(time.monotonic())
            log(f"[{name}] {done[0]} ({window_of_fault[1] - window_of_fault[0]:.0f} s)")

        await asyncio.gather(runner.run(applicants, setup.database), fault())

    asyncio.run(both())
    start, end = window_of_fault
    return count_drill(setup, name, done[0], applicants, runner, start, end)


def count_drill(setup: Setup, name: str, done: str, applicants: list[Applicant], runner: DrillRush,
                start: float, end: float) -> DrillResult:
    wa_ids = [a.wa_id for a in applicants]
    engine = create_engine(setup.database)
    with engine.connect() as connection:
        stored = connection.execute(select(whatsapp_inbox.c.id, whatsapp_inbox.c.wa_message_id,
                                           whatsapp_inbox.c.processed_at, whatsapp_inbox.c.outcome)
                                    .where(whatsapp_inbox.c.wa_id.in_(wa_ids))).all()
        replies = connection.execute(select(whatsapp_outbox.c.inbox_id, whatsapp_outbox.c.seq,
                                            whatsapp_outbox.c.wa_outgoing_id, whatsapp_outbox.c.status,
                                            whatsapp_outbox.c.wa_id)
                                     .where(whatsapp_outbox.c.wa_id.in_(wa_ids))).all()
        active, counters = seats_taken(connection)
        booked_numbers = Counter(connection.execute(
            select(bookings.c.whatsapp_number).where(bookings.c.status == BookingStatus.BOOKED.value,
                                                     bookings.c.whatsapp_number.in_(wa_ids))).scalars())
    engine.dispose()
    tracker = create_engine(setup.conversations)
    with tracker.connect() as connection:
        turns = Counter(json.loads(data).get("message_id") for (data,) in connection.execute(
            text("SELECT data FROM events WHERE type_name = 'user' AND sender_id = ANY(:s)"), {"s": wa_ids}))
    tracker.dispose()

    _seats, capacities = capacities_for(None)
    stored_ids = {row.wa_message_id for row in stored}
    unprocessed = sum(1 for row in stored if row.processed_at is None)
    # Given up by the worker (the applicant was asked to send it again): not handled, so lost too.
    failed = sum(1 for row in stored if row.outcome == "failed")
    lost_after_200 = len(runner.accepted - stored_ids)
    in_two_turns = sum(1 for wamid in stored_ids if turns[wamid] > 1)
    written_twice = sum(n - 1 for n in Counter((r.inbox_id, r.seq) for r in replies).values() if n > 1)
    standin_calls = Counter(m["to"] for m in setup.standin.sent if m["to"] in set(wa_ids))
    # Every reply is claimed (a row) before it is sent, and a claimed reply is never sent again: more
    # messages at Meta than rows that may have gone out is a reply sent twice. (Rows, not rows marked
    # "sent": a send whose result could not be written down was still sent once.)
    sendable_rows = Counter(r.wa_id for r in replies if r.status in {SENT, SENDING})
    sent_twice = sum(max(0, standin_calls[w] - sendable_rows[w]) for w in standin_calls)
    unrecorded = sum(1 for r in replies if r.status == SENDING)
    overbooked = (sum(max(0, n - capacities.get((d, s), 0)) for d, s, n in active)
                  + sum(1 for d, s, n in active if counters.get((d, s)) != n)
                  + sum(n - 1 for n in booked_numbers.values() if n > 1))

    # What applicants saw: per message, first delivery attempt → first reply to it at the stand-in.
    wamid_of_inbox = {row.id: row.wa_message_id for row in stored}
    first_reply: dict[str, float] = {}
    for row in replies:
        at = runner.reply_at.get(row.wa_outgoing_id)
        wamid = wamid_of_inbox.get(row.inbox_id)
        if at is not None and wamid is not None:
            first_reply[wamid] = min(at, first_reply.get(wamid, at))
    before, during = [], []
    for wamid, reply_at in first_reply.items():
        sent_at = runner.first_attempt.get(wamid)
        if sent_at is None:
            continue
        if sent_at < start:
            before.append(reply_at - sent_at)
        elif sent_at <= end:
            during.append(reply_at - sent_at)
    statuses_during = Counter(s for t, s in runner.attempts if start <= t <= end)
    statuses_outside = Counter(s for t, s in runner.attempts if not start <= t <= end)
    return DrillResult(
        name=name, done=done, applicants=len(applicants),
        booked=sum(1 for a in applicants if a.outcome == "booked"), fault_seconds=end - start,
        statuses_during=dict(statuses_during), statuses_outside=dict(statuses_outside),
        retried=len(runner.resent), tracked=sum(1 for wamid in stored_ids if turns[wamid]),
        accepted=len(runner.accepted), lost=lost_after_200 + unprocessed + failed + len(runner.given_up), failed=failed,
        inbox_outcomes=dict(Counter(row.outcome for row in stored)),
        lost_after_200=lost_after_200, given_up=len(runner.given_up), unprocessed=unprocessed,
        twice=in_two_turns + written_twice + sent_twice, unrecorded=unrecorded, overbooked=overbooked,
        before=before, during=during, outcomes=dict(Counter(a.outcome for a in applicants)),
        not_booked=[f"#{a.index} {a.outcome}; last reply {a.last_words}" for a in applicants
                    if a.outcome != "booked"])


def table(results: list[DrillResult]) -> str:
    def codes(counter: dict) -> str:
        return " ".join(f"{k}×{v}" for k, v in sorted(counter.items())) or "–"

    lines = ["| drill | down (s) | webhook answers while down | other answers | re-sent | lost | twice "
             "| overbooked | booked | reply s before p50/p95/max | reply s while down p50/p95/max |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.name} | {r.fault_seconds:.0f} | {codes(r.statuses_during)} | {codes(r.statuses_outside)} "
                     f"| {r.retried} | {r.lost} | {r.twice} | {r.overbooked} | {r.booked}/{r.applicants} "
                     f"| {r.summary(r.before)} | {r.summary(r.during)} |")
    lines.append("")
    lines += [f"- {r.name}: {r.done}. Messages answered 200: {r.accepted}, in the tracker: {r.tracked}; "
              f"inbox outcomes {r.inbox_outcomes}; replies sent but left unrecorded: {r.unrecorded}; "
              f"applicants {r.outcomes}" + "".join(f"\n  - {line}" for line in r.not_booked) for r in results]
    return "\n".join(lines)


def drills(setup: Setup, names: list[str], count: int, window: float, fault_at: float, log=print) -> list[DrillResult]:
    photo = photo_of(make_applicants(1, window, 1)[0].person, seed=0)  # reading is off: one photo serves everyone
    results = []
    for number, name in enumerate(names, start=1):
        results.append(run_drill(setup, name, number, count, window, fault_at, photo, log=log))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applicants", type=int, default=30, help="applicants per drill")
    parser.add_argument("--window", type=float, default=20, help="seconds in which their first messages come")
    parser.add_argument("--fault-at", type=float, default=8, help="seconds into each rush the fault starts")
    parser.add_argument("--drills", default=",".join(DRILLS),
                        help=f"comma-separated, of {', '.join(DRILLS + ONLY_WHEN_NAMED)}")
    arguments = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not DEFAULT_MODEL.exists():
        print("no trained model: run `make train` first", file=sys.stderr)
        return 2
    if haproxy_binary() is None or PrivateRedis.binary() is None:
        print("the drills need haproxy and redis-server (apt-get install haproxy redis-server)", file=sys.stderr)
        return 2
    names = arguments.drills.split(",")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    with drill_cluster(os.environ.get("ANTREAN_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
                       log=lambda m: print(m, flush=True)) as setup:
        results = drills(setup, names, arguments.applicants, arguments.window, arguments.fault_at,
                         log=lambda m: print(m, flush=True))
    print(table(results))
    print(f"load average after: {'/'.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    return 1 if any(r.lost or r.twice or r.overbooked for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
