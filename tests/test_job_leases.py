"""Named jobs' leases (antrean/runtime/job_leases.py), on SQLite and PostgreSQL: of two runs of a
job one waits or is refused, a lease its holder stopped renewing is taken over, and the retention
and erasure jobs hold theirs in job_leases, not in the WhatsApp sender leases."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from antrean.runtime import job_leases
from antrean.runtime.db import make_engine
from antrean.runtime.job_leases import JobBusy, acquire, held, holder_of, release, renew, utcnow
from antrean.runtime.schema import job_leases as job_leases_table
from antrean.whatsapp.schema import whatsapp_sender_leases

pytestmark = pytest.mark.integration


@pytest.fixture
def engines(database_url):
    """Two engines on one database: two processes' views of it."""
    first, second = make_engine(database_url), make_engine(database_url)
    yield first, second
    first.dispose()
    second.dispose()


def job_name() -> str:
    return f"test-job-{uuid.uuid4().hex[:8]}"  # the PostgreSQL database is shared by the session's tests


def test_of_two_concurrent_runs_one_is_refused_and_one_that_waits_runs_after(engines):
    first, second = engines
    name = job_name()
    inside, finish = threading.Event(), threading.Event()
    ran: list[str] = []

    def first_run() -> None:
        with held(first, name, 60):
            ran.append("first")
            inside.set()
            finish.wait(60)

    runner = threading.Thread(target=first_run)
    runner.start()
    try:
        assert inside.wait(60)
        with pytest.raises(JobBusy), held(second, name, 60):
            ran.append("refused run")
        finish.set()  # the first run ends while the second waits for it
        with held(second, name, 60, wait=60):
            ran.append("second")
    finally:
        finish.set()
        runner.join(60)
    assert ran == ["first", "second"]
    assert holder_of(first, name) is None  # released after the run


def test_racing_takers_get_the_lease_exactly_once(engines):
    name = job_name()
    barrier = threading.Barrier(8)
    won: list[bool] = []

    def take(engine) -> None:
        barrier.wait(30)
        won.append(acquire(engine, name, job_leases.new_holder(), 60))

    threads = [threading.Thread(target=take, args=(engines[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(won) == [False] * 7 + [True]


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew_or_release_it(engines):
    first, second = engines
    name, start = job_name(), utcnow()
    assert acquire(first, name, "crashed-process", 30, now=start)
    assert not acquire(second, name, "next-process", 30, now=start + timedelta(seconds=29))
    assert acquire(second, name, "next-process", 30, now=start + timedelta(seconds=31))  # ran out: taken over
    assert not renew(first, name, "crashed-process", 30)
    release(first, name, "crashed-process")  # not its lease any more: nothing happens
    assert holder_of(second, name, now=start + timedelta(seconds=32)) == "next-process"


def test_renewing_keeps_the_job(engines):
    first, second = engines
    name, start = job_name(), utcnow()
    assert acquire(first, name, "long-job", 30, now=start)
    assert renew(first, name, "long-job", 30, now=start + timedelta(seconds=25))
    assert not acquire(second, name, "other", 30, now=start + timedelta(seconds=40))
    assert acquire(second, name, "other", 30, now=start + timedelta(seconds=56))


def test_the_daily_retention_run_holds_a_job_lease_not_a_sender_lease(database_url):
    from antrean.protection.retention import LEASE_KEY, DailyRetention, RetentionReport, RetentionSettings

    engine = make_engine(database_url)

    def forget_the_days_run() -> None:  # the PostgreSQL database is shared by the session's tests
        with engine.begin() as connection:
            connection.execute(job_leases_table.delete().where(job_leases_table.c.name == LEASE_KEY))

    forget_the_days_run()
    try:
        runs = []
        first = DailyRetention(engine, lambda: runs.append(1) or RetentionReport(True, RetentionSettings()))
        second = DailyRetention(engine, lambda: runs.append(2) or RetentionReport(True, RetentionSettings()))
        assert first.run_if_due() is not None and second.run_if_due() is None
        assert runs == [1] and holder_of(engine, LEASE_KEY) is not None
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(whatsapp_sender_leases)).scalar() == 0
    finally:
        forget_the_days_run()
        engine.dispose()
