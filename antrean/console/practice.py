"""The console's training mode: practice bookings (antrean.booking.practice) and their ID photos are
deleted a few hours after they were made, by a timer in the console — the process where practice
happens (simulator, door, counter). Each run deletes by age again, so several consoles running it
do no harm."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from antrean.booking.service import BookingService
from antrean.media.photo_store import MediaStore

logger = logging.getLogger(__name__)


class PracticeCleanup:
    def __init__(self, service: BookingService, media: Callable[[], MediaStore], hours: float,
                 check_seconds: float):
        self.service = service
        self.media = media
        self.kept = timedelta(hours=hours)
        self.check_seconds = check_seconds
        self._task: asyncio.Task | None = None

    def run(self) -> int:
        """Deletes the practice bookings older than the period and their ID photos; returns how many."""
        photo_refs = self.service.purge_practice(self.service.clock() - self.kept)
        store = self.media() if any(photo_refs) else None
        for ref in filter(None, photo_refs):
            try:
                store.delete(ref)
            except ValueError:  # not a well-formed reference: nothing on disk to remove
                continue
        if photo_refs:
            logger.info("practice: %d practice bookings older than %s removed", len(photo_refs), self.kept)
        return len(photo_refs)

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
