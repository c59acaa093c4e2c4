"""The console's training mode: practice bookings (antrean.booking.practice) and their ID photos are
deleted a few hours after they were made, by a timer in the console — the process where practice
happens (simulator, door, counter). Each run deletes by age again, so several consoles running it
do no harm."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from antrean.booking.service import BookingService
from antrean.media.photo_store import MediaStore
from antrean.runtime.periodic import PeriodicJob

logger = logging.getLogger(__name__)


class PracticeCleanup(PeriodicJob):
    def __init__(self, service: BookingService, media: Callable[[], MediaStore], hours: float,
                 check_seconds: float):
        self.service = service
        self.media = media
        self.kept = timedelta(hours=hours)
        super().__init__(self.run, check_seconds, "practice clean-up")

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
