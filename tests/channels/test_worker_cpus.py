"""Each Rasa worker on a CPU of its own (antrean/assistant/worker_cpus.py)."""

import os
import threading

import pytest

from antrean.assistant import worker_cpus

CPUS = sorted(os.sched_getaffinity(0))
needs_two_cpus = pytest.mark.skipif(len(CPUS) < 2, reason=f"pinning needs 2 CPUs; this machine lets us use {CPUS}")


def test_only_several_workers_are_pinned_and_the_switch_turns_it_off():
    assert worker_cpus.wanted({"SANIC_WORKERS": "2"})
    assert not worker_cpus.wanted({})
    assert not worker_cpus.wanted({"SANIC_WORKERS": "1"})
    assert not worker_cpus.wanted({"SANIC_WORKERS": "zwei"})
    for off in ("0", "false", "off", "no"):
        assert not worker_cpus.wanted({"SANIC_WORKERS": "4", worker_cpus.ENV: off})


def _worker(write_end: int) -> None:
    """A forked stand-in for a Sanic worker: a thread already running, then pinning."""
    started, release = threading.Event(), threading.Event()
    thread = threading.Thread(target=lambda: (started.set(), release.wait()))
    thread.start()
    started.wait()
    cpu = worker_cpus.pin_this_worker({"SANIC_WORKERS": "2"})
    again = worker_cpus.pin_this_worker({"SANIC_WORKERS": "2"})  # a second channel's listener
    threads = {int(tid): os.sched_getaffinity(int(tid)) for tid in os.listdir("/proc/self/task")}
    later = threading.Thread(target=lambda: threads.setdefault(-1, os.sched_getaffinity(0)))
    later.start()
    later.join()
    release.set()
    thread.join()
    every_thread_pinned = all(allowed == {cpu} for allowed in threads.values())
    os.write(write_end, f"{cpu} {again} {int(every_thread_pinned)} {len(threads)}\n".encode())


@needs_two_cpus
def test_sibling_workers_take_different_cpus_for_all_their_threads():
    read_end, write_end = os.pipe()
    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            try:
                _worker(write_end)
            finally:
                os._exit(0)
        children.append(pid)
    os.close(write_end)
    for pid in children:
        os.waitpid(pid, 0)
    with os.fdopen(read_end) as answers:
        reports = [line.split() for line in answers.read().splitlines()]
    assert len(reports) == 2
    cpus = [int(report[0]) for report in reports]
    assert len(set(cpus)) == 2 and set(cpus) <= set(CPUS)  # two CPUs, each one we may use
    assert all(report[1] == report[0] for report in reports)  # pinning twice changes nothing
    assert all(report[2] == "1" for report in reports)  # the thread started before, and one after
    assert all(int(report[3]) >= 3 for report in reports)  # main + earlier thread + the later one
    assert os.sched_getaffinity(0) == set(CPUS)  # the parent (the test process) is left alone


def test_one_worker_is_not_pinned():
    assert worker_cpus.pin_this_worker({"SANIC_WORKERS": "1"}) is None
    assert os.sched_getaffinity(0) == set(CPUS)
