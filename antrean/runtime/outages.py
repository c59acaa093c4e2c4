"""Telling an outage from a fault: a lost database or Redis connection is no fault of the message
or conversation being handled, and whoever meets one waits and tries again (the WhatsApp worker,
the tracker store) instead of failing the work."""

from __future__ import annotations


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
