"""The console's link to Rasa's tracker store: one engine (built on first use, so the console
starts even before Rasa has created its database), the sync on page load and on a timer
(antrean.runtime.periodic, every ANTREAN_REVIEW_SYNC_SECONDS)."""

from __future__ import annotations

import logging
import time

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from antrean.booking.service import BookingService
from antrean.console.config import ConsoleConfig
from antrean.review import query
from antrean.review.sync import SyncResult, sync
from antrean.runtime.outages import outage

logger = logging.getLogger(__name__)
CHOICES_SECONDS = 60.0


class ReviewSource:
    def __init__(self, config: ConsoleConfig, service: BookingService):
        self.config = config
        self.service = service
        self._engine: Engine | None = None
        self._choices: tuple[float, dict] | None = None

    @property
    def tracker_engine(self) -> Engine:
        if self._engine is None:
            self._engine = self.config.build_tracker_engine()
        return self._engine

    def sync(self, max_batches: int | None = None) -> SyncResult | None:
        """None when the tracker store cannot be read (the page then says so and shows what it has)."""
        try:
            return sync(self.service.engine, self.tracker_engine, self.service.offices, self.service.clock(),
                        max_batches=max_batches, settle_seconds=self.config.review_settle_seconds)
        except SQLAlchemyError as error:
            unreachable = outage(error)  # one line per poll while it lasts; a traceback for anything else
            what = f"{unreachable} unreachable" if unreachable else error.__class__.__name__
            logger.warning("conversation sync failed: %s", what, exc_info=not unreachable)
            return None

    def choices(self) -> dict[str, list[str]]:
        """The filter form's options, recomputed at most once a minute: the distinct intent, action
        and slot names run over every facet row, which is too slow for each page load at 1,000,000 events."""
        now = time.monotonic()
        if self._choices is None or now - self._choices[0] > CHOICES_SECONDS:
            self._choices = (now, query.choices(self.service.engine))
        return self._choices[1]

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
