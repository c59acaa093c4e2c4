"""One CPU per Rasa server worker, when the server runs several (SANIC_WORKERS > 1).

Why: a Rasa worker is one Python process whose threads (the event loop, the in-process action
thread, the photo thread) share one GIL. Left to the scheduler, the workers and the load they answer
migrate between CPUs, and a thread holding the GIL is often preempted on a CPU it shares with another
worker or a client it just woke, which stalls its whole process. Pinned, `make bench-assistant`
answers more turns per second with a lower p95 than unpinned (`ANTREAN_PIN_WORKERS=1` and `0`
alternating; the figures are in docs/benchmarks.md). The web servers in front of such services do
the same (nginx's worker_cpu_affinity).

Each worker takes the next free slot of a counter shared with its siblings (created by the parent
before Sanic forks them) and pins all of its threads to CPU ``slot mod n`` of the CPUs the server
may use. ``ANTREAN_PIN_WORKERS=0`` turns this off (for instance when the server shares its CPUs
with other heavy services)."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Mapping

from antrean.runtime.settings import resolve

logger = logging.getLogger(__name__)

ENV = "ANTREAN_PIN_WORKERS"  # antrean.runtime.settings.AssistantSettings.pin_workers

# Shared memory inherited by every worker Sanic forks from the process that imported this module.
_next_slot = multiprocessing.get_context("fork").Value("i", 0)
_pinned: dict[int, int] = {}  # pid -> CPU, so that a second listener (another channel) is harmless


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    try:  # Rasa's (Sanic's) variable, not a setting of ours
        workers = int((os.environ if environ is None else environ).get("SANIC_WORKERS") or 1)
    except ValueError:
        return False
    return workers > 1 and resolve(environ).assistant.pin_workers


def pin_this_worker(environ: dict[str, str] | None = None) -> int | None:
    """Pin the calling worker process (every thread of it) to a CPU of its own; the CPU, or None
    when pinning is off, pointless (one worker or one CPU) or refused by the system."""
    if os.getpid() in _pinned:
        return _pinned[os.getpid()]
    cpus = sorted(os.sched_getaffinity(0))
    if not wanted(environ) or len(cpus) < 2:
        return None
    with _next_slot.get_lock():
        slot = _next_slot.value
        _next_slot.value += 1
    cpu = cpus[slot % len(cpus)]
    try:
        # sched_setaffinity applies to one thread; threads started later inherit it from their creator.
        for thread_id in os.listdir("/proc/self/task"):
            os.sched_setaffinity(int(thread_id), {cpu})
    except OSError as error:  # a container may forbid it: run unpinned rather than not at all
        logger.warning("could not pin Rasa worker %d to CPU %d: %s", os.getpid(), cpu, error)
        return None
    _pinned[os.getpid()] = cpu
    logger.info("Rasa worker %d runs on CPU %d", os.getpid(), cpu)
    return cpu
