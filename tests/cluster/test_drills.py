"""Failure drills (issue 12 §2) on production's topology, during a small rush: one cluster for every
drill (benchmarks/drill.py, what `make drill` runs with more applicants). Each drill kills or stops
one part and brings it back; the rush must lose nothing, answer nothing twice and overbook no seat,
and the webhook must never answer 200 for a message it did not store."""

from __future__ import annotations

import pytest

from benchmarks.drill import DRILLS, PrivateRedis, drill_cluster, drills, table
from tests.conftest import absent

# One cluster start and five drills, each waiting for its rush to end: longer than one test's default.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

APPLICANTS = 6  # per drill: small, the cluster's CPU is the machine's


@pytest.fixture(scope="module")
def results(postgres_server_url, trained_model):
    from antrean.runtime.cluster import haproxy_binary

    if haproxy_binary() is None:
        absent("haproxy is absent (apt-get install haproxy)")
    if PrivateRedis.binary() is None:
        absent("redis-server is absent (apt-get install redis-server)")
    with drill_cluster(postgres_server_url, trained_model, log=print) as setup:
        found = {r.name: r for r in drills(setup, DRILLS, APPLICANTS, window=8, fault_at=4, log=print)}
    print(table(list(found.values())))
    return found


@pytest.mark.parametrize("name", DRILLS)
def test_nothing_lost_doubled_or_overbooked(results, name):
    result = results[name]

    assert result.lost_after_200 == 0  # a 200 for a message not stored would be data loss
    assert (result.lost, result.twice, result.overbooked) == (0, 0, 0), result
    assert result.unrecorded == 0  # every reply that went out has its result (Meta's id) written down
    assert result.given_up == 0 and result.unprocessed == 0
    assert result.tracked == result.accepted > 0  # every message in exactly one turn (checked, not empty)
    assert result.booked == result.applicants, result.not_booked
    assert result.before and result.fault_seconds >= 10  # the fault happened during the rush


def test_the_webhook_fails_loudly_while_the_database_is_down(results):
    """While PostgreSQL is gone the receivers cannot store a message: they must not say 200 for it.
    Meta re-sends a 5xx; the drill's driver did, and every message got through in the end."""
    result = results["postgresql"]

    refused = {code: n for code, n in result.statuses_during.items() if code != "200"}
    assert refused and all(code.startswith("5") for code in refused), result.statuses_during
    assert result.retried > 0


def test_a_killed_receiver_costs_at_most_a_resend(results):
    """haproxy takes the dead receiver out; a delivery it was holding fails (5xx or a dropped
    connection, never a 4xx Meta would not retry) and the re-sent one is stored."""
    result = results["receiver"]
    failed = sum(n for code, n in result.statuses_during.items() if code != "200")

    assert all(code == "200" or code == "err" or code.startswith("5") for code in result.statuses_during)
    assert result.retried <= failed and result.lost == 0


def test_the_console_is_not_in_the_applicants_path(results):
    result = results["console"]

    assert "stopped" in result.done and "503" in result.done  # staff saw it down meanwhile
    assert set(result.statuses_during) | set(result.statuses_outside) == {"200"}
    assert result.retried == 0
