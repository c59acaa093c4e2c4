"""Choosing the office and day a page is about, the same way on every page."""

from __future__ import annotations

import re
from datetime import date

from sanic import Request
from sanic.exceptions import NotFound

from antrean.booking.offices import Office, real_office_id
from antrean.console.web import home_office

# The days a page can be about: far beyond any booking, and far enough from date.min/max that a
# day before or after, or a whole range in any time zone, is still a date.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
_WHOLE = re.compile(r"[0-9]{1,9}")  # ASCII digits only (str.isdigit also takes "²"), and few of them


class OfficeNotAllowed(Exception):
    pass


class BadQuery(Exception):
    """A query parameter no page can work with; answered 400 with this message (for staff)."""


def query_day(request: Request, name: str) -> date | None:
    return day_in_query(request.args.get(name), name)


def day_in_query(text: str | None, name: str) -> date | None:
    """The day in a query parameter; None when absent or not a day (the page's default applies);
    BadQuery when it is a day no page can show (9999-12-31: the day after is not a date)."""
    try:
        day = date.fromisoformat(text.strip()) if text else None
    except ValueError:
        return None
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise BadQuery(f"Tanggal di alamat halaman ({name}) di luar rentang yang bisa ditampilkan "
                       f"({FIRST_DAY.isoformat()} sampai {LAST_DAY.isoformat()}).")
    return day


def whole_number(text: str | None) -> int | None:
    """A small non-negative whole number, or None (callers fall back to their default)."""
    text = (text or "").strip()
    return int(text) if _WHOLE.fullmatch(text) else None


def chosen_office(request: Request, practice: bool = False) -> Office:
    """`?kantor=` (or the form's `kantor`), limited to the staff member's own office if they have
    one; otherwise the first office in offices.yml. With `practice`, the page also serves the
    offices' practice twins (`?kantor=latihan-batam`, antrean.booking.practice); other pages
    (the dashboard, …) are about real offices only."""
    service = request.app.ctx.service
    user = request.ctx.user
    wanted = request.args.get("kantor") or (request.form.get("kantor") if request.form else None)
    if user.office_id:
        if wanted and real_office_id(wanted) != user.office_id:
            raise OfficeNotAllowed(wanted)
        wanted = wanted or user.office_id
    wanted = wanted or next(iter(service.offices))
    office = service.offices.get(wanted) or (service.practice_offices.get(wanted) if practice else None)
    if office is None:
        raise NotFound("Kantor tidak dikenal.")
    return office


def office_for_times(request: Request, office_id: str | None) -> Office:
    """The office whose local time a record is shown in: its own office, else the staff member's,
    else the first one (times are never shown in UTC)."""
    return request.app.ctx.service.all_offices.get(office_id or "") or home_office(request, request.ctx.user)


def office_today(request: Request, office: Office) -> date:
    service = request.app.ctx.service
    return service.calendar(office.id).today(service.clock())


def chosen_day(request: Request, office: Office) -> date:
    return query_day(request, "tanggal") or office_today(request, office)
