"""The core objects the actions use, built once per action-server process on first use (never at
import time) and replaceable by tests."""

from __future__ import annotations

from antrean.booking.offices import Office
from antrean.booking.service import BookingService
from antrean.media.photo_store import MediaStore

_booking: BookingService | None = None
_media: MediaStore | None = None


def booking() -> BookingService:
    global _booking
    if _booking is None:
        from antrean.runtime.bootstrap import booking_service

        _booking = booking_service()
    return _booking


def media() -> MediaStore:
    global _media
    if _media is None:
        from antrean.runtime.bootstrap import media_store

        _media = media_store()
    return _media


def use(booking_service: BookingService | None = None, media_store: MediaStore | None = None) -> None:
    """Tests put their own service (on a temporary database) and media store in place."""
    global _booking, _media
    _booking, _media = booking_service, media_store


def office(office_id: str | None) -> Office | None:
    """A real office or a practice twin (antrean.booking.practice), by id."""
    if not office_id:
        return None
    service = booking()
    return service.offices.get(office_id) or service.practice_offices.get(office_id)


def default_office() -> Office:
    """Where a conversation with no office yet gets its general answers (hours, fees): the first
    office in offices.yml, which is the one an installation lists first."""
    return next(iter(booking().offices.values()))
