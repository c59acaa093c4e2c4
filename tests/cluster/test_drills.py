"""Failure drills (issue 12 §2) on production's topology, during a small rush: one cluster for every
drill (benchmarks/drill.py, what `make drill` runs with more applicants). Each drill kills or stops
one part and brings it back; the rush must lose nothing, answer nothing twice and overbook no seat,
and the webhook must never answer 200 for a message it did not store."""

from __future__ import annotations

import pytest

from benchmarks.drill import DRILLS, PrivateRedis, drill_cluster, drills, table
from tests.conftest import absent

pytestmark = [pytest.mark.integration, pytest.mark.slow]

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
    assert result.given_up == 0 and result.unprocessed == 0
    assert result.tracked == result.accepted > 0  # every message in exactly one turn (checked, not empty)
    assert result.booked == result.applicants, result.outcomes
    assert result.before and result.fault_seconds >= 10  # the fault happened during the rush


def test_the_webhook_fails_loudly_while_the_database_is_down(results):
    """While PostgreSQL is gone the receivers cannot store a message: they must not say 200 for it.
    Meta re-sends a 5xx; the drill's driver did, and every message got through in the end."""
    result = results["postgresql"]

    refused = {code: n for code, n in result.statuses_during.items() if code != "200"}
    assert refused and all(code.startswith("5") for code in refused), result.statuses_during
    assert result.retried > 0


def test_a_killed_receiver_or_stopped_console_costs_applicants_nothing(results):
    for name in ("receiver", "console"):
        result = results[name]
        assert result.retried == 0 or all(c.startswith("5") or c == "err" for c in result.statuses_during
                                          if c != "200"), result.statuses_during
