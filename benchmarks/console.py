"""`make bench-console`: conversation pages with 100,000 conversations and 1,000,000 tracker events.

Seeds Rasa's `events` table (created by Rasa's own SQLTrackerStore model) in bulk from conversation
templates built with Rasa's event classes, so every row has the format Rasa writes; runs the real
sync into the read model; then serves the real console (antrean.console.devserver) and measures
list pages over a mix of filters, sorts and pages, and transcript pages, through HTTP (httpx).
SQLite always; PostgreSQL too when ANTREAN_TEST_POSTGRES_URL (or the default local server) answers."""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import secrets
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from antrean.booking.codes import BookingCodes
from antrean.booking.offices import load_offices
from antrean.booking.service import BookingService
from antrean.review.schema import review_conversations, review_tags
from antrean.review.sync import sync
from antrean.review.tracker import events as events_table
from antrean.review.tracker import make_tracker_engine
from antrean.runtime.clock import fixed_clock
from antrean.runtime.db import make_engine, upgrade_database

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc)
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
KEPT_DATABASE = "antrean_bench_kept"
LIST_QUERIES = [
    "", "hasil=booked", "hasil=abandoned&urut=terlama", "intent=human_handoff", "aksi=action_fallback",
    "keyakinan_maks=0,4&urut=keyakinan", "fallback=ya", "kantor=batam", "kanal=whatsapp&hasil=refused",
    "q=paspor", "q=kuota+anak", "nomor=1234", "dari=2026-10-01&sampai=2026-10-07", "label=salah-intent",
    "ditinjau=tidak&urut=giliran", "slot=application_type&nilai=renewal", "halaman=2", "halaman=500",
    "halaman=2000", "hasil=handoff&halaman=50",
]
WORDS = ["paspor", "antrean", "syarat", "anak", "kuota", "besok", "kantor", "biaya", "jam", "buka", "daftar",
         "tolong", "kak", "pak", "bu", "gimana", "hilang", "perpanjang", "online", "lokasi"]


# --- seeding ---------------------------------------------------------------------------------------

def _templates(offices: list[str]) -> list[list[dict]]:
    """Conversation shapes as Rasa event dicts (as_dict of Rasa's own classes), ~10 events each."""
    from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, SessionStarted, SlotSet, UserUttered

    def start():
        return [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]

    def said(text_, intent, runner="inform"):
        parse = {"intent": {"name": intent, "confidence": 0.9}, "entities": [],
                 "intent_ranking": [{"name": intent, "confidence": 0.9}, {"name": runner, "confidence": 0.05}],
                 "text": text_}
        return UserUttered(text_, intent=parse["intent"], parse_data=parse, input_channel="whatsapp",
                           metadata={"phone_number_id": "0", "office_id": "batam"})

    def act(name):
        return ActionExecuted(name)

    listen = act("action_listen")
    ask_name = BotUttered("Siapa nama lengkap pemohon?")
    ticket = BotUttered(None, data={"image": "http://x/webhooks/antrean/tiket/ABCD2345EFGH.png"})
    shapes = {
        "information": [*start(), said("jam buka kantor kapan", "ask_hours"), act("action_answer_question"),
                        BotUttered("Senin–Jumat 08.00–16.00"), listen, said("makasih", "thanks"),
                        act("utter_thanks"), BotUttered("Sama-sama!"), listen],
        "booked": [*start(), said("mau daftar paspor", "register"), act("registration_form"),
                   ActiveLoop("registration_form"), SlotSet("office", "batam"), SlotSet("application_type", "new"),
                   ask_name, listen, said("Budi Santoso", "inform"), SlotSet("person_name", "Budi Santoso"),
                   SlotSet("confirmed", True), ActiveLoop(None), act("action_submit_registration"),
                   BotUttered("Antrean Anda A-001"), ticket, listen],
        "handoff": [*start(), said("bisa bicara dengan petugas", "human_handoff"), act("action_handoff"),
                    BotUttered("Baik, diteruskan ke petugas."), listen],
        "fallback": [*start(), said("asdf paspor hilang di laut", "nlu_fallback", "replace_passport"),
                     act("action_fallback"), BotUttered("Maaf, saya belum mengerti."), listen,
                     said("paspor hilang", "replace_passport"), act("action_answer_question"), listen],
        "abandoned": [*start(), said("daftar antrean", "register"), act("registration_form"),
                      ActiveLoop("registration_form"), SlotSet("application_type", "renewal"),
                      BotUttered("Siapa nama lengkap pemohon?", data={"buttons": [{"title": "Batal",
                                                                                 "payload": "/deny"}]}),
                      listen],
        "refused": [*start(), said("daftar", "register"), act("registration_form"), ActiveLoop("registration_form"),
                    SlotSet("registration_blocked", True), ActiveLoop(None), act("action_submit_registration"),
                    BotUttered("Mohon maaf, kuota sudah penuh."), listen],
    }
    weights = {"information": 4, "booked": 2, "handoff": 1, "fallback": 1, "abandoned": 2, "refused": 1}
    built = []
    for name, events in shapes.items():
        dicts = [(e.type_name, e.as_dict()) for e in events]
        built.extend([dicts] * weights[name])
    return built


def seed_tracker(engine, conversations: int, target_events: int, offices: list[str], seed: int = 7) -> int:
    from rasa.core.tracker_store import SQLTrackerStore

    SQLTrackerStore.Base.metadata.create_all(engine)  # Rasa's own table and its sender_id index
    rng = random.Random(seed)
    templates = _templates(offices)
    start = (NOW - timedelta(days=70)).timestamp()
    rows, written = [], 0
    per_conversation = target_events / conversations
    senders = [f"62812{n:08d}" for n in range(int(conversations * 0.8))]
    with engine.begin() as connection:
        for n in range(conversations):
            sender = senders[n] if n < len(senders) else rng.choice(senders)
            template = rng.choice(templates)
            # Repeat the last turn so the average reaches the target number of events per conversation.
            extra = max(0, round(rng.gauss(per_conversation - len(template), 2)))
            events = template + template[-4:] * (extra // 4)
            moment = start + (n / conversations) * 69 * 86400 + rng.random() * 3600
            office = rng.choice(offices)
            for type_name, data in events:
                moment += rng.random() * 20
                data = copy.copy(data)
                data["timestamp"] = moment
                intent = action = None
                if type_name == "user":
                    confidence = round(rng.betavariate(5, 1.5), 4)
                    parse = copy.deepcopy(data["parse_data"])
                    parse["intent"]["confidence"] = confidence
                    parse["intent_ranking"][0]["confidence"] = confidence
                    data["parse_data"] = parse
                    data["metadata"] = {"office_id": office}
                    data["text"] = data["text"] + " " + " ".join(rng.sample(WORDS, 2))
                    intent = parse["intent"]["name"]
                elif type_name == "action":
                    action = data.get("name")
                elif type_name == "slot" and data.get("name") == "office":
                    data["value"] = office
                rows.append({"sender_id": sender, "type_name": type_name, "timestamp": moment,
                             "intent_name": intent, "action_name": action, "data": json.dumps(data)})
            if len(rows) >= 20_000:
                connection.execute(insert(events_table), rows)
                written += len(rows)
                rows = []
        if rows:
            connection.execute(insert(events_table), rows)
            written += len(rows)
    return written


def tag_some(engine, share: float = 0.01, seed: int = 7) -> None:
    """Staff work the filters also look at: 1% tagged, 5% reviewed."""
    rng = random.Random(seed)
    with engine.begin() as connection:
        ids = list(connection.execute(select(review_conversations.c.id)).scalars())
        picked = rng.sample(ids, int(len(ids) * share))
        connection.execute(insert(review_tags), [{"conversation_id": i, "tag": "salah-intent", "tagged_by": "bench",
                                                  "tagged_at": NOW.replace(tzinfo=None)} for i in picked])
        reviewed = rng.sample(ids, int(len(ids) * 0.05))
        for start in range(0, len(reviewed), 5000):
            connection.execute(review_conversations.update().where(
                review_conversations.c.id.in_(reviewed[start:start + 5000])).values(reviewed=True))


# --- measuring -------------------------------------------------------------------------------------

def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(url: str, tracker_url: str, list_rounds: int, transcripts: int, tmp: Path) -> dict:
    from sanic import Sanic

    from antrean.console import create_app
    from antrean.console.config import ConsoleConfig, cheap_password_hasher
    from antrean.console.devserver import serving

    Sanic.test_mode = True
    service = BookingService(make_engine(url), load_offices(), fixed_clock(NOW), BookingCodes(secrets.token_bytes(32)))
    config = ConsoleConfig(service=service, name=f"antrean_bench_{uuid.uuid4().hex[:6]}", tracker_url=tracker_url,
                           review_settle_seconds=0, review_sync_seconds=0, stories_dir=tmp / "stories",
                           password_hasher_factory=cheap_password_hasher, environ={}, retention_daily=False)
    app = create_app(config)
    password = secrets.token_urlsafe(18)
    username = f"peninjau{uuid.uuid4().hex[:6]}"  # a fresh account each run (--dir reuses the database)
    app.ctx.accounts.add(username, "Peninjau Bench", "reviewer", password)
    with engine_ids(service.engine) as ids, serving(app) as base:
        client = httpx.Client(base_url=base, timeout=60)
        login = client.get("/masuk").text
        token = login.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/masuk", data={"username": username, "password": password, "csrf_token": token})
        for query in LIST_QUERIES[:3]:  # warm caches and connections
            client.get("/percakapan?" + query)
        list_times: dict[str, list[float]] = {q: [] for q in LIST_QUERIES}
        for _ in range(list_rounds):
            for query in LIST_QUERIES:
                started = time.perf_counter()
                response = client.get("/percakapan?" + query)
                list_times[query].append(time.perf_counter() - started)
                assert response.status_code == 200, (query, response.status_code)
        rng = random.Random(3)
        transcript_times = []
        for conversation_id in rng.sample(ids, transcripts):
            started = time.perf_counter()
            response = client.get(f"/percakapan/{conversation_id}")
            transcript_times.append(time.perf_counter() - started)
            assert response.status_code == 200
        client.close()
    app.ctx.review.close()
    service.engine.dispose()
    every_list = [t for times in list_times.values() for t in times]
    slowest = sorted(((percentile(t, 0.95), q) for q, t in list_times.items()), reverse=True)[:3]
    return {"list_p50": percentile(every_list, 0.5), "list_p95": percentile(every_list, 0.95),
            "list_n": len(every_list), "transcript_p50": percentile(transcript_times, 0.5),
            "transcript_p95": percentile(transcript_times, 0.95), "transcript_n": len(transcript_times),
            "slowest": slowest}


class engine_ids:
    def __init__(self, engine):
        self.engine = engine

    def __enter__(self) -> list[int]:
        with self.engine.connect() as connection:
            return list(connection.execute(select(review_conversations.c.id)).scalars())

    def __exit__(self, *exc) -> None:
        return None


def run(url: str, tracker_url: str, conversations: int, events: int, list_rounds: int, transcripts: int,
        tmp: Path) -> dict:
    upgrade_database(url)
    tracker_engine = make_tracker_engine(tracker_url)
    engine = make_engine(url)
    with engine.connect() as connection:
        seeded_before = connection.execute(select(func.count()).select_from(review_conversations)).scalar()
    if seeded_before:  # --dir with a store seeded by an earlier run: measure only
        written = seeded = synced = 0
        result = None
    else:
        started = time.perf_counter()
        written = seed_tracker(tracker_engine, conversations, events, list(load_offices()))
        seeded = time.perf_counter() - started
        started = time.perf_counter()
        result = sync(engine, tracker_engine, load_offices(), NOW, settle_seconds=0)
        synced = time.perf_counter() - started
        tag_some(engine)
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(review_conversations)).scalar()
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
    engine.dispose()
    tracker_engine.dispose()
    figures = measure(url, tracker_url, list_rounds, transcripts, tmp)
    return {"events": written, "conversations": stored, "seed_s": seeded, "sync_s": synced,
            "sync_events": result.events if result else 0, **figures}


def report(name: str, figures: dict) -> None:
    ms = 1000
    if figures["sync_s"]:
        print(f"{name}: {figures['conversations']} conversations, {figures['events']} events "
              f"(seeded in {figures['seed_s']:.0f} s, first sync {figures['sync_s']:.0f} s = "
              f"{figures['sync_events'] / figures['sync_s']:.0f} events/s)")
    else:
        print(f"{name}: {figures['conversations']} conversations (seeded earlier)")
    print(f"  list pages       n={figures['list_n']:4d}  p50 {figures['list_p50'] * ms:6.1f} ms  "
          f"p95 {figures['list_p95'] * ms:6.1f} ms")
    print(f"  transcript pages n={figures['transcript_n']:4d}  p50 {figures['transcript_p50'] * ms:6.1f} ms  "
          f"p95 {figures['transcript_p95'] * ms:6.1f} ms")
    print("  slowest list queries (p95): " + "; ".join(f"'{q or '(none)'}' {t * ms:.0f} ms"
                                                     for t, q in figures["slowest"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=10, help="passes over the list-query mix")
    parser.add_argument("--transcripts", type=int, default=100)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--dir", help="keep the SQLite files here and reuse them on the next run")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(args.dir) if args.dir else Path(tmp)
        tmp_path.mkdir(parents=True, exist_ok=True)
        if "sqlite" in args.backends:
            tracker_url = f"sqlite:///{tmp_path / 'conversations.sqlite3'}"
            figures = run(f"sqlite:///{tmp_path / 'antrean.sqlite3'}", tracker_url, args.conversations, args.events,
                          args.rounds, args.transcripts, tmp_path)
            report("SQLite", figures)
        if "postgresql" in args.backends:
            server = os.environ.get("ANTREAN_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
            # With --dir the database is kept (and reused) too, under a fixed name.
            name = KEPT_DATABASE if args.dir else f"antrean_bench_{uuid.uuid4().hex[:8]}"
            try:
                admin = create_engine(server, isolation_level="AUTOCOMMIT", future=True)
                with admin.connect() as connection:
                    exists_ = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
                    if not exists_.first():
                        connection.execute(text(f'CREATE DATABASE "{name}"'))
            except Exception as error:  # no server: say so and stop
                print(f"PostgreSQL skipped: {error.__class__.__name__}")
                return 0
            url = make_url(server).set(database=name).render_as_string(hide_password=False)
            try:
                report("PostgreSQL", run(url, url, args.conversations, args.events, args.rounds, args.transcripts,
                                         tmp_path))
            finally:
                if not args.dir:
                    with admin.connect() as connection:
                        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                                "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
                        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                admin.dispose()
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
