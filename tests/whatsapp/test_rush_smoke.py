"""A few applicants through `make bench-rush` (benchmarks/rush.py) on SQLite and PostgreSQL, so
the benchmark keeps working: every one is booked, and nothing is lost, overbooked or sent twice."""

from __future__ import annotations

import pytest

from antrean.identity import ektp
from benchmarks.rush import report, rush

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_small_rush_books_everyone_and_loses_nothing(kind, request, trained_model):
    postgres = request.getfixturevalue("postgres_server_url") if kind == "postgresql" else None
    figures = rush(kind, 4, window=8, think=0.2, idle_timeout=180, log=lambda _m: None,
                   **({"postgres": postgres} if postgres else {}))
    print(report(figures))
    assert (figures["lost"], figures["overbooked"], figures["duplicates"]) == (0, 0, 0)
    assert figures["seat_counter_mismatches"] == 0
    assert figures["booked"] == 4 and figures["without_any_reply"] == 0
    # LAW text, photo, type, day, confirmation; and the NIK when the card was not read.
    assert figures["messages_posted"] == figures["messages_stored"] >= 4 * 5
    assert figures["nik_asked"] == (0 if ektp.status()[0] else 4)
    # Each applicant waited for a queue number; the SQL census saw every part of a turn.
    assert 0 < figures["to_number_p50_s"] <= figures["to_number_p95_s"] <= figures["last_booked_s"]
    census = figures["sql_census"]
    for part in ("Rasa server: tracker store", "Rasa server: WhatsApp inbox/outbox/leases",
                 "Rasa server: bookings (actions)", "receiver: WhatsApp inbox/outbox/leases"):
        assert census[part]["statements"] > 0, part
    if kind == "postgresql":  # the worker's single statements go without BEGIN/COMMIT (issue 12 §3)
        inbox = census["Rasa server: WhatsApp inbox/outbox/leases"]
        assert inbox["transactions"] < inbox["statements"] / 4
