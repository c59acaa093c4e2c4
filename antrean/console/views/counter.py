"""The counter: call the next checked-in applicant, then mark them served or absent."""

from __future__ import annotations

from sanic import Blueprint, Request

from antrean.booking.model import BookingRefused, RefusalReason
from antrean.booking.replies import day_name
from antrean.console.permissions import Permission
from antrean.console.views.common import chosen_office, office_today, whole_number
from antrean.console.web import blocking, permission_required, pop_flash, redirect_with, remote_addr, render

bp = Blueprint("counter", url_prefix="/loket")


def _counter_label(request: Request, office) -> str:
    number = whole_number(request.args.get("loket") or (request.form.get("loket") if request.form else None)) or 1
    return str(min(max(number, 1), office.counters))


@bp.get("", name="index")
@permission_required(Permission.SERVE)
async def index(request: Request):
    queue = request.app.ctx.queue
    office = chosen_office(request, practice=True)
    day = office_today(request, office)
    await pop_flash(request)
    return render(request, "counter.html", office=office, day=day, counter=_counter_label(request, office),
                  waiting=await blocking(queue.waiting, office.id, day),
                  calls=await blocking(queue.at_counters, office.id, day),
                  staff_names=await blocking(request.app.ctx.accounts.display_names))


@bp.post("/panggil", name="call_next")
@permission_required(Permission.SERVE)
async def call_next(request: Request):
    office = chosen_office(request, practice=True)
    counter = _counter_label(request, office)
    back = f"/loket?kantor={office.id}&loket={counter}"
    user = request.ctx.user.username
    booking = await blocking(request.app.ctx.queue.call_next, office.id, office_today(request, office), counter, user)
    if booking is None:
        return await redirect_with(request, back, "warning", "Belum ada pemohon yang menunggu.")
    await blocking(request.app.ctx.audit.record, user, "booking.called", target=booking.code,
                   office_id=office.id, remote_addr=remote_addr(request), counter=counter)
    label = booking.queue_label(office.queue_prefix)
    return await redirect_with(request, back, "ok",
                               f"Memanggil {label} — {booking.applicant.full_name} ke loket {counter}.")


async def _close(request: Request, code: str, outcome: str):
    service = request.app.ctx.service
    office = chosen_office(request, practice=True)
    back = f"/loket?kantor={office.id}&loket={_counter_label(request, office)}"
    booking = await blocking(service.get_by_code, code)
    if booking is None or booking.office_id != office.id:
        return await redirect_with(request, back, "error", "Booking tidak ditemukan di kantor ini.")
    mark = service.mark_served if outcome == "served" else service.mark_no_show
    user = request.ctx.user.username
    label = booking.queue_label(office.queue_prefix)
    # Absent means called and not there: someone still waiting, or due on a later day, is not.
    if outcome == "no_show" and not await blocking(request.app.ctx.queue.was_called, booking.id):
        return await redirect_with(request, back, "error", f"{label} belum dipanggil ke loket: hanya pemohon yang "
                                   "sudah dipanggil yang bisa ditandai tidak hadir.")
    try:
        booking = await blocking(mark, code, user)
    except BookingRefused as refused:
        if refused.reason is RefusalReason.WRONG_DAY:
            return await redirect_with(request, back, "error",
                                       f"{label} untuk {day_name(refused.facts['day'])}: belum bisa diubah hari ini.")
        return await redirect_with(request, back, "error", f"{label} tidak bisa diubah: statusnya sudah berubah.")
    await blocking(request.app.ctx.audit.record, user, f"booking.{outcome}", target=booking.code,
                   office_id=office.id, remote_addr=remote_addr(request))
    text = "selesai dilayani" if outcome == "served" else "ditandai tidak hadir"
    return await redirect_with(request, back, "ok", f"{label} {text}.")


@bp.post("/<code>/selesai", name="served")
@permission_required(Permission.SERVE)
async def served(request: Request, code: str):
    return await _close(request, code, "served")


@bp.post("/<code>/tidak-hadir", name="no_show")
@permission_required(Permission.SERVE)
async def no_show(request: Request, code: str):
    return await _close(request, code, "no_show")
