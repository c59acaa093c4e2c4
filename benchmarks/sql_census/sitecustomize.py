"""Counts the SQL work of a process, for `make bench-rush` (loaded by Python at start-up when this
folder is on PYTHONPATH and RUSH_SQL_CENSUS_DIR names a folder; nothing happens otherwise).

Every SQLAlchemy engine of the process is counted (listeners on the Engine and Pool classes): per
part — the tracker store (Rasa's `events` table), the WhatsApp inbox/outbox/leases, the bookings —
the statements sent, the transactions psycopg2 opened (a BEGIN before, a COMMIT or ROLLBACK after:
two round trips), SQLAlchemy's begins, commits and rollbacks, pool checkouts, new connections, the
pre-ping of a checkout, and the wall and CPU time of the executions (compiling, the driver, the wait
for the database). Each process writes its totals to RUSH_SQL_CENSUS_DIR/<pid>.json every second;
the benchmark adds the processes up before and after the rush and divides by the turns.

Not part of the product: a benchmark's instrument, so it stays out of antrean/."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import defaultdict

FOLDER = os.environ.get("RUSH_SQL_CENSUS_DIR")
TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+\"?([a-z_]+)", re.IGNORECASE)
FIELDS = ("statements", "transactions", "begins", "commits", "rollbacks", "checkouts", "connects", "pings",
          "wall_s", "cpu_s", "executions")


def part_of(statement: str) -> str:
    match = TABLE.search(statement)
    table = match.group(1).lower() if match else ""
    if table == "events":
        return "tracker store"
    if table.startswith("whatsapp_"):
        return "WhatsApp inbox/outbox/leases"
    if table:
        return "bookings (actions)"
    return "other"


class Census:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
        self.local = threading.local()
        self.pid = None

    def add(self, part: str, field: str, amount: float = 1) -> None:
        with self.lock:
            self.totals[part][field] += amount
        if self.pid != os.getpid():  # the first count in this process (Sanic forks its workers)
            self.pid = os.getpid()
            threading.Thread(target=self.dump_forever, daemon=True).start()

    def dump_forever(self) -> None:
        path = os.path.join(FOLDER, f"{os.getpid()}.json")
        while True:
            time.sleep(1)
            with self.lock:
                text = json.dumps(self.totals)
            with open(path + ".tmp", "w") as handle:
                handle.write(text)
            os.replace(path + ".tmp", path)


def install(census: Census) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.default import DefaultDialect
    from sqlalchemy.pool import Pool

    def counting(do_ping):
        def do_ping_counted(self, dbapi_connection):
            census.local.pinged = True  # a round trip, charged to the statement that follows
            return do_ping(self, dbapi_connection)
        return do_ping_counted

    for dialect in {DefaultDialect, *_dialects()}:
        if "do_ping" in vars(dialect):
            dialect.do_ping = counting(vars(dialect)["do_ping"])

    def part(connection) -> str:
        return connection.info.get("census_part", "other")

    @event.listens_for(Pool, "checkout")
    def _checkout(_dbapi, record, _proxy):
        record.info["census_checked_out"] = True

    @event.listens_for(Pool, "connect")
    def _connect(_dbapi, record):
        record.info["census_new"] = True

    @event.listens_for(Engine, "before_cursor_execute")
    def _statement(connection, cursor, statement, _parameters, _context, _many):
        info = connection.info  # the pooled connection's: kept across checkouts
        if statement.lstrip()[:5].upper() == "BEGIN":  # SQLite's BEGIN IMMEDIATE: charged with what follows
            info["census_pending"] = info.get("census_pending", 0) + 1
            return
        name = part_of(statement)
        info["census_part"] = name
        # Begins, checkouts and new connections are charged to the part whose statement follows.
        census.add(name, "begins", info.pop("census_begins", 0))
        census.add(name, "statements", 1 + info.pop("census_pending", 0))
        driver = cursor.connection
        if getattr(driver, "get_transaction_status", None) and not driver.autocommit \
                and driver.get_transaction_status() == 0:  # psycopg2: idle, so it sends BEGIN first
            # … and the transaction ends with a COMMIT or ROLLBACK: two round trips besides the statements.
            census.add(name, "transactions")
        record = connection.connection._connection_record
        if census.local.__dict__.pop("pinged", False):  # this thread pinged the connection just before
            census.add(name, "pings")
        if record is not None and record.info.pop("census_checked_out", False):
            census.add(name, "checkouts")
        if record is not None and record.info.pop("census_new", False):
            census.add(name, "connects")

    @event.listens_for(Engine, "begin")
    def _begin(connection):
        connection.info["census_begins"] = connection.info.get("census_begins", 0) + 1

    @event.listens_for(Engine, "commit")
    def _commit(connection):
        census.add(part(connection), "commits")

    @event.listens_for(Engine, "rollback")
    def _rollback(connection):
        census.add(part(connection), "rollbacks")

    @event.listens_for(Engine, "before_execute")
    def _before(connection, *_args):
        stack = census.local.__dict__.setdefault("stack", [])
        stack.append((time.perf_counter(), time.thread_time()))

    @event.listens_for(Engine, "after_execute")
    def _after(connection, *_args):
        stack = census.local.__dict__.get("stack")
        if not stack:
            return
        wall, cpu = stack.pop()
        if stack:  # an execution inside another (a SQLAlchemy event): counted by the outer one
            return
        name = part(connection)
        census.add(name, "wall_s", time.perf_counter() - wall)
        census.add(name, "cpu_s", time.thread_time() - cpu)
        census.add(name, "executions")


def _dialects() -> list:
    try:
        from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
    except ImportError:  # no psycopg2: nothing of PostgreSQL to count
        return []
    return [PGDialect_psycopg2]


if FOLDER:
    install(Census())
