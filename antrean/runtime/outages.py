"""Telling an outage from a fault: a lost database or Redis connection is no fault of the message
or conversation being handled, and whoever meets one waits and tries again (the WhatsApp worker,
the tracker store) instead of failing the work."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


def outage(error: BaseException) -> str | None:
    """What is unreachable when `error` (or what caused it) is a lost database or Redis connection:
    "the database", "Redis", or None for any other error."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        module = type(error).__module__
        name = type(error).__name__
        if module.startswith("sqlalchemy") and (name == "OperationalError"
                                                 or getattr(error, "connection_invalidated", False)):
            return "the database"
        if module.startswith("psycopg2") and name in {"OperationalError", "InterfaceError"}:
            return "the database"
        if module.startswith("redis") and name in {"ConnectionError", "TimeoutError", "BusyLoadingError"}:
            return "Redis"
        error = error.__cause__ or error.__context__
    return None


async def patiently(operation: Callable[[], Awaitable[T]], what: str, patience: float) -> T:
    """`operation()`, tried again while it meets an outage, for at most `patience` seconds (a
    PostgreSQL restart takes seconds; a dropped pooled connection is replaced on the next try).
    Any other error, or an outage that outlasts the patience, is raised."""
    deadline, pause = time.monotonic() + patience, 0.25
    while True:
        try:
            return await operation()
        except Exception as error:
            unreachable = outage(error)
            if not unreachable or time.monotonic() > deadline:
                raise
            logger.warning("%s: %s unreachable (%s); trying again in %.1f s", what, unreachable,
                           error.__class__.__name__, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, 5.0)
