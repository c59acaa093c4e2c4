"""Builds the application's objects from the environment — the one place that wires things up,
so nothing connects to a database at import time."""

from __future__ import annotations

from collections.abc import Mapping

from antrean.booking.codes import BookingCodes
from antrean.booking.offices import Office, load_offices
from antrean.booking.service import BookingService
from antrean.media.photo_store import MediaStore
from antrean.runtime.clock import clock_from_env
from antrean.runtime.db import make_engine
from antrean.runtime.settings import Settings, resolve, secret_key


def offices(settings: Settings | Mapping[str, str] | None = None) -> dict[str, Office]:
    return load_offices(resolve(settings).bookings.offices)


def booking_service(settings: Settings | Mapping[str, str] | None = None) -> BookingService:
    settings = resolve(settings)
    return BookingService(
        engine=make_engine(settings.database_url),
        offices=offices(settings),
        clock=clock_from_env(settings),
        codes=BookingCodes(secret_key(settings)),
    )


def media_store(settings: Settings | Mapping[str, str] | None = None) -> MediaStore:
    return MediaStore(resolve(settings).media_dir)
