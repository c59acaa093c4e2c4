"""The capacity model of the README ("Capacity"): servers, cores, database connections and size for
N offices' registration rush, computed from what `make bench-scale` measured (results/bench-scale.json).

Every number that is not measured is an assumption of `Demand` or `Assumptions`, with its reason;
change them on the command line to size another morning:

    python -m benchmarks.capacity [--measured results/bench-scale.json] [--offices 125]
        [--applicants 40000] [--minutes 10] [--peak-factor 2] [--utilisation 0.6]
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

from antrean.runtime.settings import REPO_ROOT

MEASURED = REPO_ROOT / "results" / "bench-scale.json"


@dataclass(frozen=True)
class Demand:
    offices: int = 125
    applicants: int = 40_000  # all offices together, in the window
    window_minutes: float = 10.0
    # `make bench-rush` (docs/benchmarks.md): 4,560 WhatsApp messages for 750 applicants to book,
    # LAW text, e-KTP photo and the answers. Each message is one Rasa turn.
    messages_per_applicant: float = 4560 / 750
    # The busiest minute against the window's mean: applicants do not arrive evenly, most come at
    # 07:30 sharp. 2 means the busiest minute carries a fifth of a ten-minute window's applicants.
    peak_factor: float = 2.0


@dataclass(frozen=True)
class Assumptions:
    # A core kept at most this busy at the peak minute: above ~70 %, queues (and reply delay) grow fast.
    utilisation: float = 0.6
    # A Rasa server is one process with one Sanic worker (the cluster's layout): it uses one core
    # at most, so the servers needed are the Rasa cores needed. Real machines: one server per core.
    cores_per_rasa_server: int = 1
    # Spare Rasa servers and receivers beyond the computed need, so one can fail or be upgraded
    # during the rush (the failure drills of issue 12 §2 kill one).
    spare_servers: int = 1
    # A WhatsApp receiver's CPU per message: `make bench-rush` on PostgreSQL, 8 s for 4,560 messages
    # (docs/benchmarks.md). bench-scale drives the REST channel, which does not pass through them.
    receiver_ms_per_message: float = 8000 / 4560
    minimum_receivers: int = 2  # two, so one can fail
    # Connections: a Rasa server's measured peak per database times this headroom (pools grow under
    # slower queries); receivers and the console hold their pool's steady size (make_engine's
    # pool_size, 10, on the bookings database); PostgreSQL reserves 3 for superusers.
    connection_headroom: float = 2.0
    receiver_connections: int = 10
    console_connections: int = 10
    reserved_connections: int = 3


@dataclass
class Plan:
    mean_turns_per_second: float
    peak_turns_per_second: float
    cores: dict[str, float]  # component → cores needed at the peak minute, at the utilisation assumed
    rasa_servers: int  # including the spare ones
    receivers: int
    connections: dict[str, int]  # database → connections at most
    max_connections: int  # PostgreSQL's setting, both databases on one server
    database_mb: dict[str, float]  # database → growth over the morning's rush


def plan(measured: dict, demand: Demand = Demand(), assumptions: Assumptions = Assumptions()) -> Plan:
    """The arithmetic, from bench-scale's summary: `cpu_ms_per_turn` (per component),
    `bytes_per_conversation` and `peak_connections_per_server` (per database)."""
    mean = demand.applicants * demand.messages_per_applicant / (demand.window_minutes * 60)
    peak = mean * demand.peak_factor
    per_turn = dict(measured["cpu_ms_per_turn"])
    per_turn.pop("load generator", None)  # the benchmark's client: applicants' phones in production
    # Where bench-scale measured the idle load, a turn costs what it adds to it (the marginal cost)
    # and each server adds its idle load (inbox polling, on itself and on PostgreSQL).
    per_turn.update(measured.get("marginal_ms_per_turn") or {})
    per_turn["receivers"] = assumptions.receiver_ms_per_message
    idle = measured.get("idle_cores") or {}
    work = {name: peak * ms / 1000 for name, ms in per_turn.items()}  # cores busy with turns
    room = assumptions.utilisation * assumptions.cores_per_rasa_server - idle.get("Rasa servers", 0.0)
    rasa = math.ceil(work["Rasa servers"] / room) + assumptions.spare_servers
    cores = {name: (busy + idle.get(name, 0.0) * (rasa if name in ("Rasa servers", "PostgreSQL") else 0))
             / assumptions.utilisation for name, busy in work.items()}
    receivers = max(assumptions.minimum_receivers, math.ceil(cores["receivers"]) + assumptions.spare_servers)
    per_server = measured["peak_connections_per_server"]
    connections = {
        "bookings": math.ceil(rasa * per_server["bookings"] * assumptions.connection_headroom)
        + receivers * assumptions.receiver_connections + assumptions.console_connections,
        "conversations": math.ceil(rasa * per_server["conversations"] * assumptions.connection_headroom)}
    size = {name: demand.applicants * per_conversation / 1e6
            for name, per_conversation in measured["bytes_per_conversation"].items()}
    return Plan(mean_turns_per_second=mean, peak_turns_per_second=peak, cores=cores, rasa_servers=rasa,
                receivers=receivers, connections=connections,
                max_connections=sum(connections.values()) + assumptions.reserved_connections, database_mb=size)


def report(measured: dict, demand: Demand, assumptions: Assumptions, result: Plan) -> str:
    lines = [f"{demand.offices} offices, {demand.applicants:,} applicants in {demand.window_minutes:g} minutes, "
             f"{demand.messages_per_applicant:.2f} messages each: {result.mean_turns_per_second:.0f} turns/s on "
             f"average, {result.peak_turns_per_second:.0f} turns/s in the busiest minute "
             f"(× {demand.peak_factor:g})",
             f"measured on {measured.get('machine', '?')}: CPU ms per turn, idle load included, "
             + ", ".join(f"{k} {v:.1f}" for k, v in measured["cpu_ms_per_turn"].items()),
             "",
             "| component | CPU ms per turn (beyond idle) | idle cores per server | cores at the peak minute "
             f"(≤ {assumptions.utilisation:.0%} busy) | processes |",
             "|---|---|---|---|---|"]
    counts = {"Rasa servers": f"{result.rasa_servers} (incl. {assumptions.spare_servers} spare)",
              "receivers": str(result.receivers)}
    ms = {**measured["cpu_ms_per_turn"], **(measured.get("marginal_ms_per_turn") or {}),
          "receivers": assumptions.receiver_ms_per_message}
    idle = measured.get("idle_cores") or {}
    for name, cores in result.cores.items():
        idle_text = f"{idle[name]:.3f}" if name in ("Rasa servers", "PostgreSQL") and name in idle else "–"
        lines.append(f"| {name} | {ms[name]:.1f} | {idle_text} | {cores:.1f} | {counts.get(name, '1')} |")
    lines += ["",
              f"PostgreSQL connections: bookings {result.connections['bookings']}, conversations "
              f"{result.connections['conversations']} → max_connections ≥ {result.max_connections}",
              f"database growth over the rush: bookings {result.database_mb['bookings']:.0f} MB, conversations "
              f"{result.database_mb['conversations']:.0f} MB"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measured", type=Path, default=MEASURED)
    for cls in (Demand, Assumptions):
        for f in fields(cls):
            parser.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    args = vars(parser.parse_args())
    demand = Demand(**{f.name: args[f.name] for f in fields(Demand)})
    assumptions = Assumptions(**{f.name: args[f.name] for f in fields(Assumptions)})
    measured = json.loads(args["measured"].read_text())
    result = plan(measured, demand, assumptions)
    print(report(measured, demand, assumptions, result))


if __name__ == "__main__":
    main()
