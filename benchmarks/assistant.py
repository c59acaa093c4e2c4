"""`make bench-assistant`: how fast the assistant answers, measured in one run on one machine.

1. parse-only: NLU parses per second of the trained model, in-process (the floor of the work);
2. end to end: full registration conversations through the REST channel of a running stack
   (Rasa server + action server + booking database), 32 applicants at once: turns per second and
   reply latency p50/p95; every conversation must end with a booking;
3. the ratio end-to-end turns/s ÷ parse-only parses/s, and the Rasa server's memory;
4. Rasa's floor: turns/s of the cheapest possible turn (a greeting and its fixed response) on the
   same server, which bounds any end-to-end ratio from above."""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import aiohttp

from antrean.assistant.rest_channel import WORKER_HEADER, client_headers
from antrean.runtime.db import REPO_ROOT, upgrade_database
from antrean.runtime.serve import DEFAULT_MODEL, Stack
from benchmarks.processes import cpu_seconds, memory_mb
from tests.actions.conftest import card_photo
from tests.builders import make_nik

PARSE_SAMPLES = [
    "mau daftar antrian paspor", "Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12", "brp biaya paspor 10 th",
    "jam buka kantor imigrasi batam", "cek antrian saya dong", "batalin antrian", "iya benar", "gak jadi",
    "paspor sy ilang gmn", "nik saya 2171031708900001", "lahir 17 agustus 1990", "bisa bicara dgn petugas?",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def parse_only(model: Path, seconds: float) -> float:
    from rasa.core.agent import load_agent

    from antrean.assistant.startup import install_speedups

    install_speedups()  # as in the Rasa server (its tracker store installs them): the same floor
    agent = asyncio.run(load_agent(model_path=str(model)))

    async def loop() -> float:
        for text in PARSE_SAMPLES:  # warm-up
            await agent.parse_message(text)
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            await agent.parse_message(PARSE_SAMPLES[count % len(PARSE_SAMPLES)])
            count += 1
        return count / (time.perf_counter() - started)

    return asyncio.run(loop())


# The NIK is typed before the photo is asked for (the NLU takes it as an entity at any point), so
# every conversation has the same six turns whether or not the photo's e-KTP is read.
STEPS = ["LAW text", "application type", "NIK", "e-KTP photo", "day", "confirmation"]


def conversation(index: int, photo_base64: str) -> list[dict]:
    birth = date(1960, 1, 1) + timedelta(days=index * 37 % 15000)  # always a valid adult birth date
    sender = f"62813{index:08d}"
    return [
        {"sender": sender, "message": f"Pemohon Uji#{birth:%d-%m-%Y}#Jl. Engku Putri No. {index} Batam Centre"},
        {"sender": sender, "message": '/inform{"application_type":"new"}'},
        {"sender": sender, "message": make_nik(birth, serial=index % 9000 + 1)},
        {"sender": sender, "message": "", "photo_base64": photo_base64},
        {"sender": sender, "message": '/inform{"visit_date":"2026-12-02"}'},
        {"sender": sender, "message": "/affirm"},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applicants", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="conversations per applicant")
    parser.add_argument("--parse-seconds", type=float, default=15)
    parser.add_argument("--rasa-workers", type=int, default=2,
                        help="Rasa server processes (Sanic workers); one per core is the default")
    parser.add_argument("--action-server", action="store_true",
                        help="run the custom actions in a Rasa action server instead of in the Rasa server")
    parser.add_argument("--train", action="store_true", help="also time a full training run")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.train:
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            subprocess.run([str(Path(sys.executable).with_name("rasa")), "train", "--out", out, "--force"],
                           cwd=REPO_ROOT, check=True, capture_output=True)
            print(f"training (rasa train --force): {time.perf_counter() - started:.0f} s")
    parses = parse_only(DEFAULT_MODEL, args.parse_seconds)
    print(f"parse-only: {parses:.1f} parses/s (one process, sequential)")

    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{folder}/bookings.sqlite3"
        upgrade_database(database)
        offices = Path(folder) / "offices.yml"
        offices.write_text((REPO_ROOT / "config" / "offices.yml").read_text().replace(
            "daily_quota: 250", "daily_quota: 100000"))
        stack = Stack(rasa_port=free_port(), actions_port=free_port(), run_dir=Path(folder),
                      rasa_workers=args.rasa_workers, actions_in_process=not args.action_server,
                      conversations_url=f"sqlite:///{folder}/conversations.sqlite3",
                      environment={"ANTREAN_DATABASE_URL": database, "ANTREAN_CLOCK": "2026-12-01T08:00:00+07:00",
                                   "ANTREAN_MEDIA_DIR": f"{folder}/media", "ANTREAN_OFFICES": str(offices),
                                   "ANTREAN_SECRET_KEY": "bench-secret-key-0123456789-0123456789"})
        stack.start()
        try:
            stack.wait_until_ready()
            url = f"{stack.rasa_url}/webhooks/antrean/webhook"
            asyncio.run(run_conversations(url, 1, offset=0))  # warm-up conversation
            # The client's own time only: the stack's processes are its children.
            pids = {"Rasa server": (stack.rasa.pid, True), "benchmark client": (os.getpid(), False)}
            if stack.actions:
                pids["action server"] = (stack.actions.pid, True)
            cpu_before = {name: cpu_seconds(*pid) for name, pid in pids.items()}
            all_latencies, booked, started = [], 0, time.perf_counter()
            for round_ in range(args.rounds):
                offset = 1000 * (round_ + 1)
                latencies, done = asyncio.run(run_conversations(url, args.applicants, offset))
                all_latencies += latencies
                booked += done
            elapsed = time.perf_counter() - started
            cpu_used = {name: cpu_seconds(*pid) - cpu_before[name] for name, pid in pids.items()}
            rasa_memory = memory_mb(stack.rasa.pid)
            actions_memory = memory_mb(stack.actions.pid) if stack.actions else None
            cpu_before_floor = cpu_seconds(*pids["Rasa server"])
            floor, floor_turns = asyncio.run(greeting_turns(url, args.applicants, turns_each=12))
            floor_cpu = (cpu_seconds(*pids["Rasa server"]) - cpu_before_floor) / floor_turns
        finally:
            stack.stop()
    turns = len(all_latencies) / elapsed
    by_step = {step: sorted(seconds for name, seconds in all_latencies if name == step) for step in STEPS}
    all_latencies = sorted(seconds for _, seconds in all_latencies)
    print(f"end to end: {args.applicants} concurrent applicants × {args.rounds} conversations, "
          f"{len(all_latencies)} turns in {elapsed:.1f} s = {turns:.1f} turns/s; "
          f"latency p50 {statistics.median(all_latencies) * 1000:.0f} ms, "
          f"p95 {all_latencies[int(len(all_latencies) * 0.95)] * 1000:.0f} ms; "
          f"booked {booked}/{args.applicants * args.rounds}")
    print(f"ratio end-to-end ÷ parse-only: {turns / parses:.2f}")
    print(f"Rasa's floor: the simplest turn (greeting -> one response, no custom action, no form), "
          f"{args.applicants} senders at once: {floor:.1f} turns/s = {floor / parses:.2f} of parse-only, "
          f"{floor_cpu * 1000:.1f} ms of Rasa CPU per turn (a parse: {1000 / parses:.1f} ms)")
    print("by step (p50 / p95 ms): " + "; ".join(
        f"{step} {statistics.median(values) * 1000:.0f} / {values[int(len(values) * 0.95)] * 1000:.0f}"
        for step, values in by_step.items()))
    print("CPU per turn: " + ", ".join(f"{name} {seconds / len(all_latencies) * 1000:.1f} ms"
                                       for name, seconds in cpu_used.items()))
    print(f"memory: Rasa server ({args.rasa_workers} worker(s)) {rasa_memory[1]:.0f} MB PSS "
          f"({rasa_memory[0]:.0f} MB RSS summed over its processes)"
          + (f", action server {actions_memory[1]:.0f} MB PSS" if actions_memory else ", actions in process"))


async def greeting_turns(url: str, senders: int, turns_each: int) -> tuple[float, int]:
    """Turns per second of the cheapest turn there is (a greeting answered by a fixed response):
    what the server costs per message before any of the registration's work. No end-to-end
    ratio can exceed this one."""

    async def sender(client: aiohttp.ClientSession, index: int) -> None:
        for _ in range(turns_each):
            body = {"sender": f"62899{index:08d}", "message": "halo", "metadata": {"office_id": "batam"}}
            async with client.post(url, json=body, headers=client_headers()) as response:
                response.raise_for_status()
                reply = await response.json()
            assert reply and "Halo" in reply[0].get("text", ""), reply  # answered, not an error

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True),
                                     timeout=aiohttp.ClientTimeout(total=120)) as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client, i) for i in range(senders)))
        return senders * turns_each / (time.perf_counter() - started), senders * turns_each


async def run_conversations(url: str, applicants: int, offset: int) -> tuple[list[float], int]:
    latencies: list[tuple[str, float]] = []  # (step, seconds)
    served_by: Counter[str] = Counter()  # turns per Rasa worker
    booked = 0
    failures: list[str] = []
    # Made once, before the clock starts: drawing it per applicant would stall this client's loop.
    photo_base64 = base64.b64encode(card_photo()).decode()

    async def applicant(client: aiohttp.ClientSession, index: int) -> None:
        nonlocal booked
        reply: list[dict] = []
        for step, body in zip(STEPS, conversation(offset + index, photo_base64), strict=True):
            body["metadata"] = {"office_id": "batam"}
            started = time.perf_counter()
            async with client.post(url, json=body, headers=client_headers()) as response:
                response.raise_for_status()
                reply = await response.json()
                served_by[response.headers.get(WORKER_HEADER, "?")] += 1
            latencies.append((step, time.perf_counter() - started))
        if any("Pendaftaran berhasil" in (m.get("text") or "") for m in reply):
            booked += 1
        elif len(failures) < 3:  # show a few, so a failed run says why
            failures.append(f"{offset + index}: {[m.get('text', '')[:120] for m in reply]}")

    # aiohttp rather than the project's httpx: the load generator shares the two cores with the
    # server it measures, and aiohttp needs about a third of httpx's CPU per request. A connection
    # per message, as from separate applicants: kept-alive connections would stay with the Rasa
    # worker that accepted them first, however busy it is.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True),
                                     timeout=aiohttp.ClientTimeout(total=120)) as client:
        await asyncio.gather(*(applicant(client, i) for i in range(applicants)))
    for failure in failures:
        print(f"not booked: applicant {failure}")
    print(f"turns per Rasa worker: {sorted(served_by.values(), reverse=True)}")
    return latencies, booked


if __name__ == "__main__":
    main()
