"""The capacity model's arithmetic (benchmarks/capacity.py), on round numbers worked out by hand,
and the README's capacity table being what the model computes from the committed measurement."""

from __future__ import annotations

import json

import pytest

from benchmarks.capacity import MEASURED, Assumptions, Demand, plan, report
from benchmarks.scale import COMPONENTS

MEASURED_BY_HAND = {
    "machine": "test",
    "cpu_ms_per_turn": {"Rasa servers": 30.0, "receivers": 0.0, "PostgreSQL": 6.0, "Redis": 0.5, "haproxy": 1.0,
                        "load generator": 10.0},
    "bytes_per_conversation": {"bookings": 2000.0, "conversations": 25000.0},
    "peak_connections_per_server": {"bookings": 3.0, "conversations": 2.0},
}
DEMAND = Demand(offices=125, applicants=40_000, window_minutes=10, messages_per_applicant=6, peak_factor=2)
ASSUMPTIONS = Assumptions(utilisation=0.5, cores_per_rasa_server=1, spare_servers=1, receiver_ms_per_message=2.0,
                          minimum_receivers=2, connection_headroom=2, receiver_connections=10,
                          console_connections=10, reserved_connections=3)


def test_the_arithmetic_worked_by_hand():
    result = plan(MEASURED_BY_HAND, DEMAND, ASSUMPTIONS)
    # 40,000 × 6 messages / 600 s = 400 turns/s; the busiest minute twice that.
    assert result.mean_turns_per_second == pytest.approx(400)
    assert result.peak_turns_per_second == pytest.approx(800)
    # 800 turns/s × 30 ms = 24 cores busy; at most half busy: 48 cores.
    assert result.cores["Rasa servers"] == pytest.approx(48)
    assert result.cores["PostgreSQL"] == pytest.approx(9.6)
    assert result.cores["Redis"] == pytest.approx(0.8)
    assert result.cores["haproxy"] == pytest.approx(1.6)
    assert result.cores["receivers"] == pytest.approx(3.2)  # the receiver's assumed 2 ms replaces the 0 measured
    assert "load generator" not in result.cores  # the benchmark's client is applicants' phones in production
    assert result.rasa_servers == 49  # 48 one-core servers + 1 spare
    assert result.receivers == 5  # ceil(3.2) + 1 spare
    # 49 servers × 3 × 2 headroom + 5 receivers × 10 + console 10; 49 × 2 × 2.
    assert result.connections == {"bookings": 294 + 50 + 10, "conversations": 196}
    assert result.max_connections == 354 + 196 + 3
    assert result.database_mb == pytest.approx({"bookings": 80, "conversations": 1000})


def test_the_idle_load_counts_per_server_and_the_marginal_cost_per_turn():
    measured = {**MEASURED_BY_HAND, "idle_cores": {"Rasa servers": 0.1, "PostgreSQL": 0.05},
                "marginal_ms_per_turn": {"Rasa servers": 25.0, "PostgreSQL": 5.0}}
    result = plan(measured, DEMAND, ASSUMPTIONS)
    # 800 turns/s × 25 ms = 20 cores of turns; a server may be half busy, a tenth of that idle: 0.4
    # of a core for turns each → 50 servers, + 1 spare.
    assert result.rasa_servers == 51
    assert result.cores["Rasa servers"] == pytest.approx((20 + 0.1 * 51) / 0.5)
    # 800 × 5 ms = 4 cores of turns, plus each server's polling.
    assert result.cores["PostgreSQL"] == pytest.approx((4 + 0.05 * 51) / 0.5)
    assert result.cores["haproxy"] == pytest.approx(1.6)  # no marginal figure: the whole cost per turn


def test_small_demand_still_keeps_two_receivers_and_a_spare_server():
    result = plan(MEASURED_BY_HAND, Demand(applicants=100, window_minutes=10, messages_per_applicant=6,
                                            peak_factor=1), ASSUMPTIONS)
    assert result.peak_turns_per_second == pytest.approx(1)
    assert result.rasa_servers == 2  # ceil(0.06) + 1
    assert result.receivers == 2


def test_the_readme_shows_what_the_model_computes_from_the_committed_measurement():
    from antrean.runtime.settings import REPO_ROOT

    measured = json.loads(MEASURED.read_text())
    assert set(measured["cpu_ms_per_turn"]) == set(COMPONENTS)
    table = report(measured, Demand(), Assumptions(), plan(measured))
    assert table in (REPO_ROOT / "README.md").read_text()


@pytest.mark.integration
def test_postgresql_cpu_is_counted_from_the_backends_of_the_runs_databases(postgres_server_url, postgres_database):
    """`make bench-scale` counts PostgreSQL's CPU from /proc of the backends serving the run's
    databases, polled while it lasts: the work of a backend of the run's database is counted, that
    of another database's backend is not."""
    import time

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from benchmarks.scale import PostgresBackends

    busy_query = text("SELECT count(*) FROM generate_series(1, 3000000) AS n WHERE n % 7 = 0")
    one_backend_each = text("SET max_parallel_workers_per_gather = 0")
    backends = PostgresBackends(postgres_server_url, [make_url(postgres_database).database], every=0.1)
    ours = create_engine(postgres_database, future=True)
    elsewhere = create_engine(postgres_server_url, future=True)  # the maintenance database: not the run's
    try:
        with ours.connect() as connection, elsewhere.connect() as other:
            connection.execute(one_backend_each)
            other.execute(one_backend_each)
            with backends:
                started = time.perf_counter()
                assert connection.execute(busy_query).scalar_one() == 3000000 // 7
                ours_took = time.perf_counter() - started
                for _ in range(3):
                    other.execute(busy_query)
            counted = backends.cpu_seconds
    finally:
        backends.close()
        ours.dispose()
        elsewhere.dispose()
    # The run's query (~0.3 s of CPU here) is counted; the other database's three are not (a backend
    # cannot use more CPU than the wall time its query took, give or take a clock tick).
    assert counted >= 0.05
    assert counted < ours_took + 0.05
    assert backends.peak[make_url(postgres_database).database] >= 1
