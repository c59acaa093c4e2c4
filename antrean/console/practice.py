"""The console's training mode: practice bookings (antrean.booking.practice) are deleted a few hours
after they were made, by a timer in the console — the process where practice happens (simulator,
door, counter). Each run deletes by age again, so several consoles running it do no harm."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from antrean.booking.service import BookingService

logger = logging.getLogger(__name__)


class PracticeCleanup:
    def __init__(self, service: BookingService, hours: float, check_seconds: float):
        self.service = service
        self.kept = timedelta(hours=hours)
        self.check_seconds = check_seconds
        self._task: asyncio.Task | None = None

    def run(self) -> int:
        removed = self.service.purge_practice(self.service.clock() - self.kept)
        if removed:
            logger.info("practice: %d practice bookings older than %s removed", removed, self.kept)
        return removed

    async def start(self, *_args) -> None:
        self._task = asyncio.get_running_loop().create_task(self._every_check())

    async def stop(self, *_args) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _every_check(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run)
            except Exception:  # a database hiccup must not end the timer
                logger.exception("practice clean-up failed; retrying later")
            await asyncio.sleep(self.check_seconds)
