"""Choosing the office and day a page is about, the same way on every page."""

from __future__ import annotations

from datetime import date

from sanic import Request
from sanic.exceptions import NotFound

from antrean.booking.offices import Office


class OfficeNotAllowed(Exception):
    pass


def chosen_office(request: Request) -> Office:
    """`?kantor=` (or the form's `kantor`), limited to the staff member's own office if they have
    one; otherwise the first office in offices.yml."""
    service = request.app.ctx.service
    user = request.ctx.user
    wanted = request.args.get("kantor") or (request.form.get("kantor") if request.form else None)
    if user.office_id:
        if wanted and wanted != user.office_id:
            raise OfficeNotAllowed(wanted)
        wanted = user.office_id
    wanted = wanted or next(iter(service.offices))
    office = service.offices.get(wanted)
    if office is None:
        raise NotFound("Kantor tidak dikenal.")
    return office


def office_today(request: Request, office: Office) -> date:
    service = request.app.ctx.service
    return service.calendar(office.id).today(service.clock())


def chosen_day(request: Request, office: Office) -> date:
    text = request.args.get("tanggal", "").strip()
    if text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    return office_today(request, office)
