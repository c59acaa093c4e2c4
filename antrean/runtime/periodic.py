"""A blocking job run every few seconds beside a long-running asyncio server (the console's daily
retention and practice clean-up): in a worker thread, so a slow database never stalls a request,
from the server's start to its stop. A failed run is logged and the next one tries again: a
database hiccup must not end the timer for the rest of the process's life."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)


class PeriodicJob:
    def __init__(self, job: Callable[[], object], seconds: float, what: str):
        self.job = job
        self.seconds = seconds
        self.what = what
        self._task: asyncio.Task | None = None

    async def start(self, *_listener_args) -> None:
        self._task = asyncio.get_running_loop().create_task(self._every_period())

    async def stop(self, *_listener_args) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _every_period(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.job)
            except Exception:
                logger.exception("%s failed; trying again in %g s", self.what, self.seconds)
            await asyncio.sleep(self.seconds)
