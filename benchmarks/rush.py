"""`make bench-rush`: Batam's morning rush over WhatsApp, against the running stack.

N applicants (750 by default: three bookable days of Batam's 250 seats, a day's registrations) each
send the LAW text `Nama#TGL Lahir#Alamat` and a photo of their e-KTP, both within the first 60
seconds of the registration window, as signed webhook POSTs to the Rasa server's WhatsApp channel;
then they answer the assistant's questions like a person would (the latest question, once every
reply they are waiting for has come): application type, NIK (when it was not read from the card),
day, confirmation. Each applicant's photo is a generated e-KTP with their own details
(benchmarks/ektp_cards.py), read by the assistant unless `--reading off`. The Graph API is
the local stand-in (tests/whatsapp/standin.py): it serves the photos and records every /messages
call. The clock of the stack is frozen at the window's opening (ANTREAN_CLOCK), a working day.

Everything reported is counted from the booking database, the inbox/outbox tables and the
stand-in's record — never assumed:

- webhook answer latency p50/p99 (client side, every POST);
- reply latency p50/p95: per stored message, first reply claimed in the outbox − message stored;
- time until the last applicant had a first reply, and until the last conversation ended;
- applicants booked vs seats available (the booking days' capacity before the rush);
- messages lost: POSTed ids missing from the inbox, plus stored messages never processed;
- seats overbooked: active bookings beyond a session's capacity, or seat counters that disagree;
- duplicate replies: /messages calls at the stand-in beyond the outbox rows marked sent;
- first message → queue number p50/p95 per applicant, and when the last applicant was booked;
- where the time goes: CPU seconds of the Rasa server (webhook, inbox, worker, NLU, dialogue,
  outbound), the action server (actions, booking), PostgreSQL, and this process (load + stand-in);
- the SQL of a turn, per process and part (tracker store, WhatsApp inbox/outbox/leases, bookings):
  statements, transactions, round trips, pool checkouts, new connections, wall and CPU ms of the
  executions, counted inside the stack's processes by benchmarks/sql_census (a sitecustomize put on
  their PYTHONPATH), and on PostgreSQL the server's own count of transactions and rows.

    python -m benchmarks.rush [--applicants 750] [--database sqlite|postgresql|both] [--reading on|off|both]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from antrean.booking.model import BookingStatus
from antrean.booking.offices import load_offices
from antrean.booking.schema import bookings, session_seats
from antrean.runtime.db import make_engine, upgrade_database
from antrean.runtime.serve import DEFAULT_MODEL, Stack, default_rasa_workers
from antrean.runtime.settings import REPO_ROOT
from antrean.whatsapp.schema import whatsapp_inbox, whatsapp_outbox
from benchmarks.ektp_cards import Person, photo_of
from benchmarks.processes import cpu_seconds
from tests.builders import make_nik
from tests.whatsapp import meta
from tests.whatsapp.server import free_port
from tests.whatsapp.standin import GraphStandIn

POSTS_AT_ONCE = 100  # webhook POSTs in flight at most (the client's connections)
RECHECK_SECONDS = 0.25  # how soon an applicant with a question looks again whether the server is done
CLOCK = "2026-12-01T07:30:00+07:00"  # Tuesday, Batam's registration window opens
OFFICE = "batam"
BOOKABLE_DAYS = [date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4)]
SECRET = "bench-rush-secret-key-0123456789-0123456789"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
STREETS = ["Jl. Engku Putri", "Jl. Ahmad Yani", "Jl. Raja Ali Haji", "Jl. Sudirman", "Jl. Laksamana Bintan"]
NAMES = ["Budi Santoso", "Siti Aminah", "Rizky Pratama", "Dewi Lestari", "Agus Salim", "Nur Hidayah",
         "Hendra Wijaya", "Putri Ayu", "Fajar Nugroho", "Rina Marlina"]


# --- the stand-in, telling the applicants when a reply arrives ------------------------------------

class NotifyingStandIn(GraphStandIn):
    def __init__(self):
        super().__init__()
        self.listener = None  # (loop, callback(message, monotonic time))

    async def _messages(self, request):
        reply = await super()._messages(request)
        if reply.status == 200 and self.listener is not None:
            wamid = json.loads(reply.body)["messages"][0]["id"]
            with self.lock:
                message = next(m for m in reversed(self.sent) if m["wamid"] == wamid)
            loop, callback = self.listener
            with contextlib.suppress(RuntimeError):  # the benchmark's loop has ended: nobody listens
                loop.call_soon_threadsafe(callback, message, time.monotonic())
        return reply


# --- one applicant ---------------------------------------------------------------------------------

def choice_ids(message: dict) -> list[str]:
    action = message.get("interactive", {}).get("action", {})
    return ([b["reply"]["id"] for b in action.get("buttons", [])]
            + [r["id"] for s in action.get("sections", []) for r in s.get("rows", [])])


def body_text(message: dict) -> str:
    if message["type"] == "text":
        return message["text"]["body"]
    if message["type"] == "interactive":
        return message["interactive"]["body"]["text"]
    return message.get("image", {}).get("caption", "")


def classify(message: dict) -> str:
    """What a reply asks for (or tells), as the applicant understands it."""
    ids, words = choice_ids(message), body_text(message)
    if "Pendaftaran berhasil" in words:
        return "booked"
    if any('"application_type"' in i for i in ids):
        return "ask_type"
    if any('"visit_date"' in i for i in ids):
        return "ask_day"
    if "/affirm" in ids:
        return "ask_confirm"
    if "*NIK*" in words:
        return "ask_nik"
    if "foto e-KTP" in words or "kirim *foto*" in words or "kirim ulang foto" in words:
        return "ask_photo"
    if "sudah penuh" in words and "hari kerja ke depan" in words:
        return "full"
    return "other"


@dataclass
class Applicant:
    index: int
    wa_id: str
    law: str
    nik: str
    start_offset: float
    photo_delay: float
    person: Person | None = None
    media_id: str = ""
    nik_asked: int = 0
    sent_ids: list[str] = field(default_factory=list)
    sent: int = 0  # messages that each end in a question (or the end of the conversation)
    questions: int = 0
    first_sent_at: float | None = None  # when the first message was answered 200 by the webhook
    booked_at: float | None = None  # when the booking's confirmation (the queue number) arrived
    first_reply_at: float | None = None
    last_reply_at: float | None = None
    outcome: str = "no reply"
    last_words: str = ""  # the start of the latest reply (what a stuck applicant was left with)
    inbox: asyncio.Queue | None = None


def make_applicants(count: int, window: float, seed: int) -> list[Applicant]:
    rng = random.Random(seed)
    people = []
    for i in range(count):
        birth = date(1960, 1, 1) + timedelta(days=rng.randrange(0, 15000))  # 1960–2001: adults
        name = f"{NAMES[i % len(NAMES)]} {chr(65 + i % 26)}"
        address = f"{STREETS[i % len(STREETS)]} No. {i + 1} RT 0{i % 9 + 1}/RW 0{i % 7 + 1} Batam Centre"
        start = rng.uniform(0, max(window - 6, 0.1))
        nik = make_nik(birth, serial=i + 1)
        person = Person(nik=nik, name=name.upper(), birth_place="BATAM", birth_date=birth, sex="L",
                        address=address.upper(), province="KEPULAUAN RIAU", regency="KOTA BATAM")
        people.append(Applicant(index=i, wa_id=f"62812{i + 70000000:08d}", law=f"{name}#{birth:%d-%m-%Y}#{address}",
                                nik=nik, start_offset=start, photo_delay=rng.uniform(1, 5), person=person))
    return people


def _card_photo(applicant: Applicant) -> bytes:
    return photo_of(applicant.person, seed=applicant.index)


def card_photos(applicants: list[Applicant]) -> list[bytes]:
    """Each applicant's own e-KTP photo (~0.2 s of CPU each), drawn before the rush on every core."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(_card_photo, applicants, chunksize=8))


class Rush:
    # How long an applicant waits for another reply before asking the inbox whether their turn ended.
    reply_wait_seconds = 30.0

    def __init__(self, webhook_url: str, standin: NotifyingStandIn, photos: list[bytes], *, think: float,
                 idle_timeout: float, seed: int, database: str):
        self.url = webhook_url
        self.engine = make_engine(database, **({} if database.startswith("sqlite") else {"pool_size": 4}))
        self.standin = standin
        self.photos = photos
        self.think = think
        self.idle_timeout = idle_timeout
        self.rng = random.Random(seed + 1)
        self.post_latencies: list[float] = []
        self.server_times: list[float] = []  # Server-Timing of the same POSTs: time inside the receiver
        self.post_failures = 0
        self.by_wa_id: dict[str, Applicant] = {}
        self.started = 0.0
        self.unanswered: set[str] = set()  # senders with a message not processed yet (watch_inbox)
        self.readings_begun = self.readings_done = 0

    def on_reply(self, message: dict, at: float) -> None:
        applicant = self.by_wa_id.get(message.get("to"))
        if applicant is not None:
            applicant.first_reply_at = applicant.first_reply_at or at
            applicant.last_reply_at = at
            applicant.inbox.put_nowait((message, at))

    async def all_answered(self, wa_id: str) -> bool:
        """Whether every message this applicant sent has had its whole turn (the worker marks a
        message processed after its last reply went out). A person sees this as "the replies have
        stopped"; the simulation asks the inbox instead of guessing from silence — with one query
        for all applicants every RECHECK_SECONDS (`watch_inbox`), not one per waiting applicant: the
        load generator shares the stack's 2 cores, and hundreds of applicants asking four times a
        second took CPU from the stack the more, the slower it answered. Only a reading begun after
        this call counts, so a message posted just before is never missed."""
        wanted = self.readings_begun + 1
        async with self.inbox_read:
            await self.inbox_read.wait_for(lambda: self.readings_done >= wanted)
            return wa_id not in self.unanswered

    async def watch_inbox(self) -> None:
        query = select(whatsapp_inbox.c.wa_id).where(whatsapp_inbox.c.processed_at.is_(None)).distinct()

        def read() -> set[str]:
            with self.engine.connect() as connection:
                return set(connection.execute(query).scalars())

        while True:
            self.readings_begun += 1
            begun = self.readings_begun
            try:
                unanswered = await asyncio.to_thread(read)
            except Exception:  # the database is down (a drill): nothing is known until it is back
                await asyncio.sleep(RECHECK_SECONDS)
                continue
            async with self.inbox_read:
                self.unanswered, self.readings_done = unanswered, begun
                self.inbox_read.notify_all()
            await asyncio.sleep(RECHECK_SECONDS)

    async def post(self, client: httpx.AsyncClient, applicant: Applicant, message: dict) -> None:
        body = meta.encode(meta.notification(meta.messages_value(message)))
        for _ in range(5):  # like Meta: a delivery that was not answered 200 comes again
            started = time.perf_counter()
            try:
                async with self.posting:
                    reply = await client.post(self.url, content=body, headers=meta.signed_headers(body))
                ok = reply.status_code == 200
                timing = reply.headers.get("server-timing", "")
                if "dur=" in timing:
                    self.server_times.append(float(timing.split("dur=")[1].split(",")[0]) / 1000)
            except httpx.HTTPError:
                ok = False
            self.post_latencies.append(time.perf_counter() - started)
            if ok:
                applicant.first_sent_at = applicant.first_sent_at or time.monotonic()
                applicant.sent_ids.append(message["id"])
                applicant.sent += 1
                return
            self.post_failures += 1
            await asyncio.sleep(1)
        raise RuntimeError("a webhook POST failed five times")

    async def converse(self, client: httpx.AsyncClient, applicant: Applicant) -> None:
        applicant.inbox = asyncio.Queue()
        self.by_wa_id[applicant.wa_id] = applicant
        await asyncio.sleep(max(0.0, self.started + applicant.start_offset - time.monotonic()))
        await self.post(client, applicant, meta.text(applicant.wa_id, applicant.law))
        await asyncio.sleep(applicant.photo_delay)
        await self.post(client, applicant, meta.image(applicant.wa_id, applicant.media_id))
        latest: dict | None = None  # the latest question asked
        answered: Counter = Counter()
        answered_to: set[int] = set()  # ids of the question messages already answered
        deadline = time.monotonic() + self.idle_timeout
        question_waiting = False  # a question came before the server marked our last message handled
        while True:
            try:
                # With a question waiting, look again soon: the server marks a message handled just
                # after it sends the reply, and no further message will come to wake us up.
                wait = RECHECK_SECONDS if question_waiting else self.reply_wait_seconds
                message, at = await asyncio.wait_for(applicant.inbox.get(), timeout=wait)
            except asyncio.TimeoutError:
                message = None
            if message is not None:
                applicant.last_words = f"{message['type']}: {body_text(message)[:100]!r}"
                kind = classify(message)
                if kind == "booked":
                    applicant.outcome = "booked"
                    applicant.booked_at = at
                    return
                if kind == "full":
                    applicant.outcome = "refused: full"
                    return
                if kind != "other":
                    latest = message
                    applicant.outcome = f"waiting after {kind}"
                if not applicant.inbox.empty():
                    continue  # read everything that came before answering
            nothing_to_answer = latest is None or id(latest) in answered_to
            question_waiting = not nothing_to_answer
            if nothing_to_answer or not await self.all_answered(applicant.wa_id):
                if time.monotonic() > deadline:
                    applicant.outcome = f"gave up ({applicant.outcome})"
                    return
                # A reply may have come while the inbox was asked: only with none waiting is it stuck.
                if (message is None and nothing_to_answer and await self.all_answered(applicant.wa_id)
                        and applicant.inbox.empty()):
                    applicant.outcome = f"stuck ({applicant.outcome}): every message answered, no new question"
                    return
                continue
            if not applicant.inbox.empty():
                continue  # a reply came while the inbox was asked: a person reads it before answering
            kind = classify(latest)
            answered_to.add(id(latest))
            answered[kind] += 1
            if answered[kind] > 4:
                applicant.outcome = f"loop at {kind}"
                return
            deadline = time.monotonic() + self.idle_timeout
            await asyncio.sleep(self.think)
            if kind == "ask_type":
                reply = meta.button_reply(applicant.wa_id, '/inform{"application_type":"new"}', "Paspor baru")
            elif kind == "ask_nik":
                applicant.nik_asked += 1
                reply = meta.text(applicant.wa_id, applicant.nik)
            elif kind == "ask_photo":
                reply = meta.image(applicant.wa_id, applicant.media_id)
            elif kind == "ask_day":
                days = [i for i in choice_ids(latest) if '"visit_date"' in i]
                reply = meta.button_reply(applicant.wa_id, self.rng.choice(days), "Hari")
            else:
                reply = meta.button_reply(applicant.wa_id, "/affirm", "Ya, daftarkan")
            await self.post(client, applicant, reply)

    async def run(self, applicants: list[Applicant], database: str) -> tuple[float, float, bool]:
        """Returns when every conversation ended and the inbox is drained: (start, end, drained)."""
        self.standin.listener = (asyncio.get_running_loop(), self.on_reply)
        for applicant, photo in zip(applicants, self.photos, strict=True):
            applicant.media_id = self.standin.add_media(photo)
        limits = httpx.Limits(max_connections=POSTS_AT_ONCE, max_keepalive_connections=POSTS_AT_ONCE)
        # Never more requests than connections: with requests queued in httpcore's pool (a busy
        # machine, hundreds of applicants) its assignment loop spun and posting stopped for good.
        self.posting = asyncio.Semaphore(POSTS_AT_ONCE)
        self.inbox_read = asyncio.Condition()
        watcher = asyncio.get_running_loop().create_task(self.watch_inbox())
        try:
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                self.started = time.monotonic()
                await asyncio.gather(*(self.converse(client, a) for a in applicants))
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            self.engine.dispose()
        finished = time.monotonic()
        # The last turns' replies (the QR ticket after the confirmation) are still being sent.
        drained = await asyncio.to_thread(wait_drained, database, 120)
        sent = -1
        while sent != len(self.standin.sent):
            sent = len(self.standin.sent)
            await asyncio.sleep(3)
        self.standin.listener = None
        return self.started, finished, drained


# --- counting ------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def count_results(database: str, applicants: list[Applicant], standin: GraphStandIn, seats: int,
                  capacities: dict) -> dict:
    engine = make_engine(database)
    sent_ids = {i for a in applicants for i in a.sent_ids}
    with engine.connect() as connection:
        stored = connection.execute(select(whatsapp_inbox.c.id, whatsapp_inbox.c.wa_message_id,
                                           whatsapp_inbox.c.received_at, whatsapp_inbox.c.processed_at,
                                           whatsapp_inbox.c.outcome)).all()
        first_reply = dict(connection.execute(select(whatsapp_outbox.c.inbox_id, func.min(whatsapp_outbox.c.created_at))
                                              .group_by(whatsapp_outbox.c.inbox_id)).all())
        outbox_sent = Counter(dict(connection.execute(
            select(whatsapp_outbox.c.wa_id, func.count()).where(whatsapp_outbox.c.status == "sent")
            .group_by(whatsapp_outbox.c.wa_id)).all()))
        outbox_failed = connection.execute(select(func.count()).select_from(whatsapp_outbox).where(
            whatsapp_outbox.c.status != "sent")).scalar_one()
        active, counters = seats_taken(connection)
        booked = connection.execute(select(func.count()).select_from(bookings).where(
            bookings.c.status == BookingStatus.BOOKED.value)).scalar_one()
        distinct_numbers = connection.execute(select(func.count(func.distinct(bookings.c.whatsapp_number)))
                                              .where(bookings.c.status == BookingStatus.BOOKED.value)).scalar_one()
    engine.dispose()
    stored_ids = {row.wa_message_id for row in stored}
    unprocessed = sum(1 for row in stored if row.processed_at is None)
    latencies = [(first_reply[row.id] - row.received_at).total_seconds() for row in stored if row.id in first_reply]
    overbooked = sum(max(0, n - capacities.get((d, s), 0)) for d, s, n in active)
    counter_mismatch = sum(1 for d, s, n in active if counters.get((d, s)) != n)
    standin_count = Counter(m["to"] for m in standin.sent)
    duplicates = sum(max(0, standin_count[w] - outbox_sent[w]) for w in standin_count)
    wamids = Counter(m["wamid"] for m in standin.sent)
    return {
        "messages_posted": len(sent_ids), "messages_stored": len(stored),
        "lost": len(sent_ids - stored_ids) + unprocessed, "unprocessed": unprocessed,
        "outcomes": dict(Counter(row.outcome for row in stored)),
        "without_reply": sum(1 for row in stored if row.id not in first_reply),
        "reply_latencies": latencies, "booked": booked, "booked_numbers": distinct_numbers, "seats": seats,
        "overbooked": overbooked, "seat_counter_mismatches": counter_mismatch,
        "duplicates": duplicates + sum(n - 1 for n in wamids.values() if n > 1),
        "replies_sent": len(standin.sent), "replies_not_sent": outbox_failed,
    }


def capacities_for(offices_path: Path | None) -> tuple[int, dict]:
    from antrean.booking.capacity import sessions_for

    office = load_offices(offices_path)[OFFICE]
    capacity = {}
    for day in BOOKABLE_DAYS:
        for session in sessions_for(office, day):
            capacity[(day, session.start)] = session.capacity
    return sum(capacity.values()), capacity


# --- where the CPU goes --------------------------------------------------------------------------

def postgres_cpu() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in {"postgres", "postmaster"}:
                    total += cpu_seconds(int(entry.name), with_descendants=False)
            except OSError:
                continue
    return total


def cpu_snapshot(stack: Stack, postgres: bool) -> dict[str, float]:
    receiver = ({"webhook receiver (signature, inbox)": cpu_seconds(stack.receiver.pid)}
                if stack.receiver_port else {})
    actions = ({"action server (actions, booking core)": cpu_seconds(stack.actions.pid)} if stack.actions else {})
    rasa = "Rasa server (worker, NLU, dialogue, tracker store, outbound" + (")" if stack.actions else ", actions)")
    return {**receiver, rasa: cpu_seconds(stack.rasa.pid), **actions,
            **({"PostgreSQL (all backends on the machine)": postgres_cpu()} if postgres else {}),
            "benchmark (load generator + Graph API stand-in)": cpu_seconds(os.getpid(), with_descendants=False)}


# --- the SQL work per turn ------------------------------------------------------------------------

CENSUS_PATH = Path(__file__).resolve().parent / "sql_census"
CENSUS_SECONDS = 1.5


def sql_census(folder: Path, stack: Stack) -> dict[tuple[str, str], dict[str, float]]:
    """Totals so far of the stack's processes (benchmarks/sql_census), by (process, part)."""
    receiver = stack.receiver.pid if stack.receiver_port else None
    totals: dict[tuple[str, str], dict[str, float]] = {}
    for path in folder.glob("*.json"):
        process = "receiver" if int(path.stem) == receiver else "Rasa server"
        for part, counts in json.loads(path.read_text()).items():
            into = totals.setdefault((process, part), Counter())
            into.update(counts)
    return totals


def census_difference(before: dict, after: dict) -> dict[str, dict[str, float]]:
    return {f"{process}: {part}": {k: v - before.get((process, part), {}).get(k, 0) for k, v in counts.items()}
            for (process, part), counts in sorted(after.items())}


def database_counters(urls: tuple[str, ...]) -> dict[str, float]:
    """PostgreSQL's own count of the transactions and rows of the run's databases (nothing on SQLite)."""
    if not urls[0].startswith("postgresql"):
        return {}
    names = [make_url(url).database for url in urls]
    engine = create_engine(urls[0], future=True)
    try:
        with engine.connect() as connection:
            row = connection.execute(text(
                "SELECT sum(xact_commit) AS commits, sum(xact_rollback) AS rollbacks, "
                "sum(tup_returned) AS rows_scanned, sum(tup_fetched) AS rows_fetched, "
                "sum(tup_inserted + tup_updated + tup_deleted) AS rows_written "
                "FROM pg_stat_database WHERE datname = ANY(:names)"), {"names": names}).one()
            # Statistics reach the view with a delay of up to ~0.5 s (PostgreSQL 15: shared memory).
            return {key: float(value or 0) for key, value in row._mapping.items()}
    finally:
        engine.dispose()


def census_report(f: dict) -> list[str]:
    """The SQL work per answered message, by process and part: what a turn costs the database."""
    turns = max(f["turns"], 1)
    postgres = f["database"] == "postgresql"
    lines = [f"SQL per answered message ({turns} turns; "
             + ("round trips = statements + pre-pings + 2 × transactions (BEGIN, COMMIT/ROLLBACK)" if postgres
                else "SQLite: no round trips, calls into the library") + "):",
             f"  {'process: part':<48} {'stmts':>6} {'txns':>5} {'trips':>6} {'checkout':>8} {'new conn':>8} "
             f"{'ms wall':>8} {'ms CPU':>7}"]
    for name, c in f["sql_census"].items():
        transactions = c.get("transactions", 0) if postgres else c["begins"]
        trips = c["statements"] + c["pings"] + 2 * transactions if postgres else c["statements"]
        lines.append(f"  {name:<48} {c['statements'] / turns:6.2f} {transactions / turns:5.2f} {trips / turns:6.2f} "
                     f"{c['checkouts'] / turns:8.2f} {c['connects'] / turns:8.3f} "
                     f"{1000 * c['wall_s'] / turns:8.2f} {1000 * c['cpu_s'] / turns:7.2f}")
    if f["database_counters"]:
        d = f["database_counters"]
        lines.append(f"  PostgreSQL's count per turn: {(d['commits'] + d['rollbacks']) / turns:.2f} transactions, "
                     f"{d['rows_scanned'] / turns:.0f} rows scanned, {d['rows_fetched'] / turns:.0f} fetched, "
                     f"{d['rows_written'] / turns:.1f} written")
    cpu = f["cpu_seconds"]
    lines.append("  CPU per answered message: " + "; ".join(f"{k.split(' (')[0]} {1000 * v / turns:.1f} ms"
                                                           for k, v in cpu.items()))
    return lines


# --- one run -------------------------------------------------------------------------------------

class Databases:
    """Fresh databases for one run: SQLite files in a folder, or new PostgreSQL databases dropped
    afterwards (bookings + WhatsApp tables in one, Rasa's tracker store in another)."""

    def __init__(self, kind: str, folder: Path, server: str):
        self.kind, self.folder, self.server, self.created = kind, folder, server, []

    def __enter__(self) -> tuple[str, str]:
        if self.kind == "sqlite":
            return f"sqlite:///{self.folder / 'bookings.sqlite3'}", f"sqlite:///{self.folder / 'conversations.sqlite3'}"
        admin = create_engine(self.server, isolation_level="AUTOCOMMIT", future=True)
        urls = []
        with admin.connect() as connection:
            for role in ("bookings", "conversations"):
                name = f"antrean_rush_{role}_{uuid.uuid4().hex[:8]}"
                connection.execute(text(f'CREATE DATABASE "{name}"'))
                self.created.append(name)
                urls.append(make_url(self.server).set(database=name).render_as_string(hide_password=False))
        admin.dispose()
        return urls[0], urls[1]

    def __exit__(self, *_exc) -> None:
        if not self.created:
            return
        admin = create_engine(self.server, isolation_level="AUTOCOMMIT", future=True)
        with admin.connect() as connection:
            for name in self.created:
                connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def rush(kind: str, count: int, *, window: float = 60, think: float = 1.0, idle_timeout: float = 3600,
         seed: int = 2017, concurrent_senders: int | None = None, postgres: str = DEFAULT_POSTGRES,
         model: Path = DEFAULT_MODEL, receiver: bool = True, profile: Path | None = None, rasa_workers: int = 1,
         reading: bool = True, photos: list[bytes] | None = None, log=print) -> dict:
    """One rush against a fresh stack and fresh databases; returns the figures (the smoke test
    calls this with a few applicants). `reading`: whether the stack reads the e-KTP photos;
    `photos`: the applicants' card photos when already drawn (the same for several runs)."""
    applicants = make_applicants(count, window, seed)
    photos = photos if photos is not None else card_photos(applicants)
    seats, capacities = capacities_for(None)
    with tempfile.TemporaryDirectory(prefix="antrean-rush-") as folder_name:
        folder = Path(folder_name)
        census_dir = folder / "sql-census"
        with Databases(kind, folder, postgres) as (database, conversations):
            upgrade_database(database)
            standin = NotifyingStandIn().start()
            environment = {
                "ANTREAN_DATABASE_URL": database, "ANTREAN_CLOCK": CLOCK, "ANTREAN_MEDIA_DIR": str(folder / "media"),
                "ANTREAN_SECRET_KEY": SECRET, "ANTREAN_WA_VERIFY_TOKEN": meta.VERIFY_TOKEN,
                "ANTREAN_WA_APP_SECRET": meta.APP_SECRET, "ANTREAN_WA_ACCESS_TOKEN": standin.token,
                "ANTREAN_WA_GRAPH_URL": standin.url, "ANTREAN_WA_GRAPH_VERSION": standin.version,
                # Every applicant sends a handful of messages; the flood limit is not what is measured.
                "ANTREAN_WA_FLOOD_MAX_MESSAGES": "100",
                # With the receiver in its own process the worker finds new messages by polling.
                "ANTREAN_WA_POLL_SECONDS": "0.25" if receiver else "2",
                "ANTREAN_EKTP_READING": "1" if reading else "0",
                # The SQL census (benchmarks/sql_census): each process of the stack counts its SQL work.
                "PYTHONPATH": f"{CENSUS_PATH}{os.pathsep}{REPO_ROOT}", "RUSH_SQL_CENSUS_DIR": str(census_dir)}
            census_dir.mkdir()
            if concurrent_senders:
                environment["ANTREAN_WA_CONCURRENT_SENDERS"] = str(concurrent_senders)
            stack = Stack(rasa_port=free_port(), actions_port=free_port(), model=model, run_dir=folder,
                          conversations_url=conversations, environment=environment,
                          receiver_port=free_port() if receiver else None, profile_rasa_to=profile,
                          rasa_workers=1 if profile else rasa_workers, stop_seconds=180 if profile else 20)
            loaded = time.monotonic()
            stack.start()
            try:
                stack.wait_until_ready(timeout=900)
                log(f"[{kind}] stack ready in {time.monotonic() - loaded:.0f} s; {count} applicants, "
                    f"first messages within {window:.0f} s")
                runner = Rush(stack.whatsapp_webhook_url, standin, photos, think=think,
                              idle_timeout=idle_timeout, seed=seed, database=database)
                cpu_before, load_before = cpu_snapshot(stack, kind == "postgresql"), os.getloadavg()
                time.sleep(CENSUS_SECONDS)  # the census files are rewritten every second
                sql_before = sql_census(census_dir, stack), database_counters((database, conversations))
                started, finished, drained = asyncio.run(runner.run(applicants, database))
                cpu_after, load_after = cpu_snapshot(stack, kind == "postgresql"), os.getloadavg()
                time.sleep(CENSUS_SECONDS)
                sql_after = sql_census(census_dir, stack), database_counters((database, conversations))
            finally:
                stack.stop()
            figures = count_results(database, applicants, standin, seats, capacities)
            standin.stop()
    first_replies = [a.first_reply_at - started for a in applicants if a.first_reply_at]
    last_replies = [a.last_reply_at - started for a in applicants if a.last_reply_at]
    to_number = [a.booked_at - a.first_sent_at for a in applicants if a.booked_at and a.first_sent_at]
    figures.update({
        "database": kind, "applicants": count, "window_seconds": window, "reading": reading,
        "nik_asked": sum(1 for a in applicants if a.nik_asked),
        "webhook": "receiver process" if receiver else "in the Rasa server",
        "webhook_p50_ms": percentile(runner.post_latencies, 0.50) * 1000,
        "webhook_p99_ms": percentile(runner.post_latencies, 0.99) * 1000,
        "webhook_over_1s": sum(1 for x in runner.post_latencies if x > 1) / max(1, len(runner.post_latencies)),
        "webhook_posts": len(runner.post_latencies), "webhook_failures": runner.post_failures,
        "webhook_server_p50_ms": percentile(runner.server_times, 0.50) * 1000,
        "webhook_server_p99_ms": percentile(runner.server_times, 0.99) * 1000,
        "reply_p50_s": percentile(figures["reply_latencies"], 0.50),
        "reply_p95_s": percentile(figures["reply_latencies"], 0.95),
        "last_first_reply_s": max(first_replies) if len(first_replies) == count else float("nan"),
        "without_any_reply": count - len(first_replies),
        "last_reply_s": max(last_replies, default=float("nan")), "run_seconds": finished - started,
        # What the applicant waits for: first message → queue number, and when the last one had it.
        "to_number_p50_s": percentile(to_number, 0.50), "to_number_p95_s": percentile(to_number, 0.95),
        "last_booked_s": max((a.booked_at - started for a in applicants if a.booked_at), default=float("nan")),
        "drained": drained, "applicant_outcomes": dict(Counter(a.outcome for a in applicants)),
        # Invented applicants: the replies hold no real person's data.
        "not_booked_last_replies": [f"#{a.index} {a.outcome}; last reply {a.last_words}" for a in applicants
                                    if a.outcome != "booked"][:10],
        "cpu_seconds": {k: cpu_after[k] - cpu_before[k] for k in cpu_after},
        "load_before": load_before, "load_after": load_after,
        "sql_census": census_difference(sql_before[0], sql_after[0]),
        "database_counters": {k: sql_after[1][k] - sql_before[1][k] for k in sql_after[1]},
    })
    figures["turns"] = len(figures.pop("reply_latencies"))
    return figures


def seats_taken(connection) -> tuple[list, dict]:
    """Per (day, session) of the office: the active bookings counted, and the seat counter's value
    (the two must agree, and never exceed the capacity)."""
    active = connection.execute(
        select(bookings.c.day, bookings.c.session_start, func.count())
        .where(bookings.c.office_id == OFFICE, bookings.c.status.in_([BookingStatus.BOOKED.value,
                                                                      BookingStatus.CHECKED_IN.value]))
        .group_by(bookings.c.day, bookings.c.session_start)).all()
    counters = {(r.day, r.session_start): r.booked for r in connection.execute(
        select(session_seats).where(session_seats.c.office_id == OFFICE))}
    return active, counters


def wait_drained(database: str, timeout: float) -> bool:
    engine = make_engine(database)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                pending = connection.execute(select(func.count()).select_from(whatsapp_inbox).where(
                    whatsapp_inbox.c.processed_at.is_(None))).scalar_one()
            if pending == 0:
                return True
            time.sleep(1)
        return False
    finally:
        engine.dispose()


def report(f: dict) -> str:
    cpu = f["cpu_seconds"]
    total_cpu = sum(cpu.values()) or 1
    lines = [
        f"== {f['database']}: {f['applicants']} applicants, LAW text + e-KTP photo "
        f"within {f['window_seconds']:.0f} s; webhook {f['webhook']}; e-KTP reading "
        f"{'on' if f.get('reading', True) else 'off'} ==",
        f"applicants asked for their NIK: {f.get('nik_asked', 0)} of {f['applicants']}",
        f"webhook answer latency: p50 {f['webhook_p50_ms']:.1f} ms, p99 {f['webhook_p99_ms']:.1f} ms, "
        f"> 1 s: {f['webhook_over_1s']:.2%} ({f['webhook_posts']} POSTs, {f['webhook_failures']} not answered 200); "
        f"inside the receiver (Server-Timing) p50 {f['webhook_server_p50_ms']:.1f} ms, "
        f"p99 {f['webhook_server_p99_ms']:.1f} ms",
        f"time until the last applicant had a reply: {f['last_first_reply_s']:.0f} s "
        f"({f['without_any_reply']} without any reply); last reply of all at {f['last_reply_s']:.0f} s",
        f"reply latency (stored → first reply claimed): p50 {f['reply_p50_s']:.1f} s, p95 {f['reply_p95_s']:.1f} s "
        f"over {f['turns']} answered messages",
        f"first message → queue number: p50 {f['to_number_p50_s']:.1f} s, p95 {f['to_number_p95_s']:.1f} s; "
        f"last applicant booked at {f['last_booked_s']:.0f} s",
        f"applicants booked: {f['booked']} of {f['applicants']} (seats available: {f['seats']})",
        f"messages lost: {f['lost']} (posted {f['messages_posted']}, stored {f['messages_stored']}, "
        f"unprocessed {f['unprocessed']}); stored without any reply: {f['without_reply']}",
        f"seats overbooked: {f['overbooked']} "
        f"(seat counters disagreeing with bookings: {f['seat_counter_mismatches']})",
        f"duplicate replies: {f['duplicates']} ({f['replies_sent']} replies sent, {f['replies_not_sent']} not sent)",
        f"inbox outcomes: {f['outcomes']}",
        f"applicant outcomes: {f['applicant_outcomes']}",
        *(f"  not booked: {line}" for line in f.get("not_booked_last_replies", [])),
        "CPU seconds during the rush: " + "; ".join(f"{k} {v:.0f} s ({v / total_cpu:.0%})" for k, v in cpu.items()),
        *census_report(f),
        f"load average 1/5/15 min before {f['load_before'][0]:.1f}/{f['load_before'][1]:.1f}/{f['load_before'][2]:.1f}"
        f", after {f['load_after'][0]:.1f}/{f['load_after'][1]:.1f}/{f['load_after'][2]:.1f}",
    ]
    return "\n".join(lines)


PROFILE_GROUPS = [  # (label, function-name patterns in the Rasa server), first match wins
    ("NLU (featurizers, intent classifier, CRF, LAW reader)", ("rasa/nlu/", "antrean/assistant/nlu/")),
    ("dialogue policies (TED, rules, memoization)", ("rasa/core/policies/",)),
    ("tracker store (SQL load/save)", ("tracker_store.py",)),
    ("action server calls (HTTP)", ("rasa/core/actions/action.py:", "rasa/utils/endpoints.py")),
    ("WhatsApp worker, inbox, outbound", ("antrean/whatsapp/",)),
]


def profile_groups(path: Path) -> dict[str, float]:
    """Seconds spent in each part of the Rasa server (cumulative time of the outermost calls into
    the part; main thread only: database calls run in worker threads)."""
    import pstats

    stats = pstats.Stats(str(path)).stats
    totals = {}
    for label, patterns in PROFILE_GROUPS:
        entries = {key: value for key, value in stats.items() if any(p in f"{key[0]}:{key[2]}" for p in patterns)}
        # Only calls not made from another function of the same part: nothing is counted twice.
        totals[label] = sum(value[3] for value in entries.values() if not any(c in entries for c in value[4]))
    idle = sum(value[3] for key, value in stats.items() if "poll' of 'select.epoll" in key[2])
    totals["whole process (busy)"] = max(value[3] for value in stats.values()) - idle
    return totals


def profile_summary(rush_stats: Path, baseline_stats: Path) -> str:
    """The rush's profile minus a start-and-stop of the same stack (model loading is not the rush)."""
    rush_, base = profile_groups(rush_stats), profile_groups(baseline_stats)
    busy = max(rush_["whole process (busy)"] - base["whole process (busy)"], 1e-9)
    parts = [(label, rush_[label] - base[label]) for label, _ in PROFILE_GROUPS]
    other = busy - sum(seconds for _, seconds in parts)
    return ("Rasa server under cProfile, rush minus start/stop (main thread): busy " f"{busy:.0f} s = "
            + "; ".join(f"{label} {seconds:.0f} s ({seconds / busy:.0%})" for label, seconds in parts)
            + f"; other (event loop, Sanic, logging, …) {other:.0f} s ({other / busy:.0%})")


def profile_baseline(path: Path, model: Path = DEFAULT_MODEL) -> None:
    """Start the stack under the profiler and stop it at once: what loading alone costs."""
    with tempfile.TemporaryDirectory(prefix="antrean-rush-base-") as folder_name:
        folder = Path(folder_name)
        database = f"sqlite:///{folder / 'bookings.sqlite3'}"
        upgrade_database(database)
        environment = {"ANTREAN_DATABASE_URL": database, "ANTREAN_CLOCK": CLOCK, "ANTREAN_SECRET_KEY": SECRET,
                       "ANTREAN_WA_VERIFY_TOKEN": meta.VERIFY_TOKEN, "ANTREAN_WA_APP_SECRET": meta.APP_SECRET}
        stack = Stack(rasa_port=free_port(), actions_port=free_port(), model=model, run_dir=folder,
                      conversations_url=f"sqlite:///{folder / 'conversations.sqlite3'}", profile_rasa_to=path,
                      environment=environment, stop_seconds=180)
        stack.start()
        try:
            stack.wait_until_ready(timeout=900)
        finally:
            stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applicants", type=int, default=750)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--window", type=float, default=60, help="seconds in which every first message is sent")
    parser.add_argument("--think", type=float, default=1.0, help="seconds an applicant takes to answer")
    parser.add_argument("--concurrent-senders", type=int, help="ANTREAN_WA_CONCURRENT_SENDERS (default 32)")
    parser.add_argument("--webhook-in-rasa", action="store_true",
                        help="POST to the Rasa server's own webhook route instead of the receiver process")
    parser.add_argument("--profile", type=Path, help="run the Rasa server under cProfile; print where its time "
                        "goes and keep the stats in this file (slows the server down: not for the figures)")
    parser.add_argument("--rasa-workers", type=int, default=default_rasa_workers(),
                        help="Rasa server processes (default as `make run`: one per core, at most four; "
                             "one under --profile)")
    parser.add_argument("--reading", choices=("on", "off", "both"), default="on",
                        help="whether the assistant reads the e-KTP photos (both: one run each, same photos)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so the stack's processes are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not DEFAULT_MODEL.exists():
        print("no trained model: run `make train` first", file=sys.stderr)
        return 2
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    results, failed = [], False
    photos = card_photos(make_applicants(args.applicants, args.window, 2017))
    runs = [(kind, reading) for kind in (("sqlite", "postgresql") if args.database == "both" else (args.database,))
            for reading in ((True, False) if args.reading == "both" else (args.reading == "on",))]
    for kind, reading in runs:
        figures = rush(kind, args.applicants, window=args.window, think=args.think,
                       concurrent_senders=args.concurrent_senders, receiver=not args.webhook_in_rasa,
                       postgres=os.environ.get("ANTREAN_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
                       profile=args.profile, rasa_workers=args.rasa_workers, reading=reading, photos=photos,
                       log=lambda m: print(m, flush=True))
        print(report(figures), flush=True)
        if args.profile:
            baseline = args.profile.with_suffix(".baseline" + args.profile.suffix)
            profile_baseline(baseline)
            print(profile_summary(args.profile, baseline), flush=True)
        results.append(figures)
        failed |= bool(figures["lost"] or figures["overbooked"] or figures["duplicates"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
