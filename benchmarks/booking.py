"""`make bench-booking`: bookings per second with 16 concurrent clients, on SQLite and PostgreSQL.

Each client is a separate process with its own connection pool (like several action-server
workers), booking distinct applicants as fast as it can into one office's next working days.
The quota is raised so that every attempt is a real booking (seat + queue number + NIK rule +
per-number limit + event row), the full write path."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from antrean.booking.codes import BookingCodes
from antrean.booking.offices import load_offices
from antrean.booking.schema import bookings
from antrean.booking.service import BookingRequest, BookingService
from antrean.runtime.clock import fixed_clock
from antrean.runtime.db import make_engine, upgrade_database
from tests.conftest import wib

MOMENT = wib(2026, 12, 1, 7, 45)
DAYS = [date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4)]


def _request(client: int, i: int) -> BookingRequest:
    birth = date(1960, 1, 1) + timedelta(days=(client * 100_000 + i) // 9000)
    serial = (client * 100_000 + i) % 9000 + 1
    nik = f"217103{birth.day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"
    return BookingRequest(
        office_id="batam", day=DAYS[i % len(DAYS)], full_name="Pemohon Uji", birth_date=birth,
        address="Jl. Engku Putri No. 1, Batam Centre", nik=nik, application_type="new",
        whatsapp_number=f"628{client:02d}{i:09d}",
    )


def _client(url, offices, client, count, barrier, results):
    service = BookingService(make_engine(url, pool_size=1, max_overflow=0) if url.startswith("postgresql")
                             else make_engine(url), offices, fixed_clock(MOMENT), BookingCodes(b"b" * 32))
    service.book(_request(client, 0))  # warm the connection before the clock starts
    barrier.wait()
    latencies = []
    for i in range(1, count + 1):
        started = time.perf_counter()
        service.book(_request(client, i))
        latencies.append(time.perf_counter() - started)
    service.engine.dispose()
    results.put(latencies)


def run(url: str, clients: int, per_client: int) -> dict:
    offices = load_offices()
    offices = {"batam": offices["batam"].copy(update={"daily_quota": 1_000_000})}
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(clients + 1), context.Queue()
    processes = [context.Process(target=_client, args=(url, offices, c, per_client, barrier, results))
                 for c in range(clients)]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    latencies = [x for _ in processes for x in results.get(timeout=600)]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    engine = make_engine(url)
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(bookings)).scalar_one()
    engine.dispose()
    assert stored == clients * (per_client + 1), f"expected {clients * (per_client + 1)} bookings, found {stored}"
    latencies.sort()
    return {
        "bookings": len(latencies),
        "seconds": elapsed,
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95)] * 1000,
    }


def _postgres(server_url: str):
    name = f"antrean_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=250)
    parser.add_argument("--postgres", default=os.environ.get(
        "ANTREAN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.clients} client processes × {args.per_client} bookings")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.sqlite3"
        upgrade_database(url)
        report("SQLite", run(url, args.clients, args.per_client))
    try:
        url, drop = _postgres(args.postgres)
    except Exception as error:  # the benchmark still reports SQLite where no server runs
        print(f"PostgreSQL: skipped ({error.__class__.__name__}: {str(error).splitlines()[0]})")
        return
    try:
        upgrade_database(url)
        report("PostgreSQL", run(url, args.clients, args.per_client))
    finally:
        drop()


def report(backend: str, result: dict) -> None:
    print(f"{backend:<11} {result['bookings']:>6} bookings in {result['seconds']:.2f} s = "
          f"{result['per_second']:.0f} bookings/s; "
          f"latency p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms")


if __name__ == "__main__":
    main()
