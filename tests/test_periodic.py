"""The console's timers: a job runs again and again until stop, and a failing run does not end it."""

from __future__ import annotations

import asyncio
import threading

from antrean.runtime.periodic import PeriodicJob


def test_a_failing_run_is_logged_and_the_next_one_still_comes(caplog):
    runs: list[str] = []

    def job():
        runs.append(threading.current_thread().name)
        if len(runs) == 1:
            raise RuntimeError("database went away")

    async def scenario():
        timer = PeriodicJob(job, 0.01, "test job")
        await timer.start()
        while len(runs) < 3:
            await asyncio.sleep(0.01)
        await timer.stop()
        await asyncio.sleep(0.05)
        return len(runs)

    stopped_at = asyncio.run(scenario())
    assert stopped_at >= 3
    assert len(runs) == stopped_at  # nothing ran after stop
    assert threading.main_thread().name not in runs  # off the server's event loop
    assert "test job failed" in caplog.text and "database went away" in caplog.text
