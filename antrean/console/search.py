"""Finding bookings for the console: by code, name, WhatsApp number or NIK, within one office.

A read-only companion to BookingService (which has no name search). What the query looks like
decides the field: a booking code, 16 digits (NIK), a phone number, or otherwise part of a name."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func
from sqlalchemy.engine import Engine

from antrean.booking import store
from antrean.booking.codes import BookingCodes
from antrean.booking.model import Booking
from antrean.booking.schema import bookings
from antrean.identity import IdentityError, normalise_msisdn

MAX_RESULTS = 100


def search_bookings(engine: Engine, codes: BookingCodes, office_id: str, query: str,
                    day: date | None = None) -> list[Booking]:
    query = query.strip()
    if not query:
        return []
    conditions = [bookings.c.office_id == office_id]
    if day is not None:
        conditions.append(bookings.c.day == day)
    digits = re.sub(r"[\s\-+().]", "", query)
    code = codes.normalise(query)
    if code is not None:
        conditions.append(bookings.c.code == code)
    elif re.fullmatch(r"\d{16}", digits):
        conditions.append(bookings.c.nik == digits)
    elif re.fullmatch(r"\d{8,15}", digits):
        conditions.append(bookings.c.whatsapp_number == _msisdn(digits))
    elif len(query) >= 2:
        # Names are stored normalised (title case); compare case-insensitively on both backends.
        pattern = "%" + query.lower().replace("\\", "").replace("%", "").replace("_", "") + "%"
        conditions.append(func.lower(bookings.c.full_name).like(pattern))
    else:
        return []
    with engine.connect() as connection:
        found = store.list_bookings(connection, *conditions,
                                    order_by=(bookings.c.day.desc(), bookings.c.queue_number))
    return found[:MAX_RESULTS]


def _msisdn(digits: str) -> str:
    try:
        return normalise_msisdn(digits)
    except IdentityError:
        return digits
