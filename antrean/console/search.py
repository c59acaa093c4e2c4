"""Finding bookings for the console: by code, name, WhatsApp number or NIK, within one office.

A read-only companion to BookingService (which has no name search). What the query looks like
decides the field: a booking code, 16 digits (NIK), a phone number, a WhatsApp business-scoped
user ID or @username, or otherwise part of a name. A number, BSUID or username finds the bookings
of the WhatsApp sender it belongs to (whatsapp_identities), whichever of them the booking is filed
under."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine

from antrean.booking import store
from antrean.booking.codes import BookingCodes
from antrean.booking.model import Booking
from antrean.booking.schema import bookings
from antrean.identity import IdentityError, is_bsuid, normalise_msisdn
from antrean.whatsapp.schema import whatsapp_identities

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
        conditions.append(_sender_is(whatsapp_identities.c.phone, _msisdn(digits)))
    elif is_bsuid(query):
        conditions.append(_sender_is(whatsapp_identities.c.user_id, query))
    elif query.startswith("@") and len(query) > 1:
        conditions.append(_sender_is(whatsapp_identities.c.username, query[1:], query))
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


def _sender_is(column, *values: str):
    named = select(whatsapp_identities.c.sender).where(column.in_(values))
    return or_(bookings.c.whatsapp_number.in_(values), bookings.c.whatsapp_number.in_(named))


def _msisdn(digits: str) -> str:
    try:
        return normalise_msisdn(digits)
    except IdentityError:
        return digits
