"""Builds the application's objects from the environment — the one place that wires things up,
so nothing connects to a database at import time."""

from __future__ import annotations

import os
from pathlib import Path

from antrean.booking.codes import BookingCodes
from antrean.booking.offices import load_offices
from antrean.booking.service import BookingService
from antrean.media.photo_store import MediaStore
from antrean.runtime.clock import clock_from_env
from antrean.runtime.db import VAR_DIR, database_url, make_engine
from antrean.runtime.settings import secret_key


def booking_service(environ: dict[str, str] | None = None) -> BookingService:
    environ = environ if environ is not None else dict(os.environ)
    offices_path = environ.get("ANTREAN_OFFICES")
    return BookingService(
        engine=make_engine(database_url(environ)),
        offices=load_offices(Path(offices_path) if offices_path else None),
        clock=clock_from_env(environ),
        codes=BookingCodes(secret_key(environ)),
    )


def media_store(environ: dict[str, str] | None = None) -> MediaStore:
    environ = environ if environ is not None else dict(os.environ)
    return MediaStore(Path(environ.get("ANTREAN_MEDIA_DIR") or VAR_DIR / "media"))
