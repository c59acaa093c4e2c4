"""The clock is injectable so rules that depend on the time (registration windows, "3 working days
ahead") can be demonstrated and tested at any moment. ANTREAN_CLOCK fixes it for a whole process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from antrean.runtime.settings import Settings, resolve

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
"""Returns the current moment as a timezone-aware datetime."""


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


def fixed_clock(moment: datetime) -> Clock:
    if moment.tzinfo is None:
        raise ValueError("a fixed clock needs a timezone-aware moment (e.g. 2026-12-01T07:45:00+07:00)")
    return lambda: moment


def clock_from_env(settings: Settings | Mapping[str, str] | None = None) -> Clock:
    """The system clock, unless ANTREAN_CLOCK holds an ISO-8601 timestamp with an offset."""
    moment = resolve(settings).bookings.clock
    if moment is None:
        return system_clock
    logger.warning("ANTREAN_CLOCK is set: the clock is frozen at %s (demo/test mode)", moment.isoformat())
    return fixed_clock(moment)
