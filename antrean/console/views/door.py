"""The door: security staff type (or scan) a booking code and let the applicant in.

Every answer is one clear Indonesian sentence. A code is checked offline first (format, then the
check characters), so a forged code is told apart from a real code that is not in the database."""

from __future__ import annotations

from sanic import Blueprint, Request

from antrean.booking.model import Booking, BookingRefused, BookingStatus, RefusalReason
from antrean.booking.offices import is_practice
from antrean.booking.replies import clock_time, day_name
from antrean.console.permissions import Permission
from antrean.console.present import PUNCTUALITY, masked_nik
from antrean.console.views.common import chosen_office, office_today
from antrean.console.web import blocking, permission_required, pop_flash, redirect_with, remote_addr, render

bp = Blueprint("door", url_prefix="/pintu")

FINISHED = {
    BookingStatus.CANCELLED: "Booking ini sudah dibatalkan. Pemohon harus mendaftar lagi lewat WhatsApp.",
    BookingStatus.SERVED: "Booking ini sudah selesai dilayani dan tidak bisa dipakai lagi.",
    BookingStatus.NO_SHOW: "Booking ini sudah ditandai tidak hadir dan tidak bisa dipakai lagi.",
}


@bp.get("", name="index")
@permission_required(Permission.CHECK_IN)
async def index(request: Request):
    office = chosen_office(request, practice=True)
    await pop_flash(request)
    return render(request, "door.html", office=office, today=office_today(request, office))


@bp.post("", name="check_in")
@permission_required(Permission.CHECK_IN)
async def check_in(request: Request):
    service = request.app.ctx.service
    office = chosen_office(request, practice=True)
    back = f"/pintu?kantor={office.id}"
    typed = (request.form.get("kode") or "").strip()[:40]
    code = service.codes.normalise(typed)

    def refuse(text: str, booking: Booking | None = None):
        details = _summary(service, booking) if booking else {}
        return redirect_with(request, back, "error", text, typed=typed, **details)

    if code is None:
        return await refuse("Format kode tidak dikenali. Kode booking terdiri dari 12 huruf/angka, "
                            "misalnya ABCD-EFGH-JKMN.")
    if not service.codes.is_authentic(code):
        return await refuse("Kode ini tidak sah: bukan kode yang diterbitkan Antrean (salah ketik atau palsu). "
                            "Minta pemohon menunjukkan pesan WhatsApp aslinya.")
    booking = await blocking(service.get_by_code, code)
    if booking is None:
        return await refuse("Kode ini tidak terdaftar. Minta pemohon menunjukkan pesan WhatsApp aslinya.")
    if booking.office_id != office.id:
        if is_practice(booking.office_id) and not is_practice(office.id):
            return await refuse("Ini kode latihan dari simulator: check-in di Pintu masuk mode latihan.")
        if is_practice(office.id) and not is_practice(booking.office_id):
            return await refuse("Ini kode booking sungguhan: mode latihan tidak mengubahnya. "
                                "Check-in di Pintu masuk biasa.")
        other = service.all_offices.get(booking.office_id)
        return await refuse(f"Booking ini untuk {other.name if other else booking.office_id}, bukan kantor ini.")
    if booking.status in FINISHED:
        return await refuse(FINISHED[booking.status], booking)
    if booking.status is BookingStatus.CHECKED_IN:
        at = clock_time(booking.checked_in_at.astimezone(office.zone))
        return await redirect_with(request, back, "warning", f"Pemohon ini sudah masuk pukul {at}.",
                                   **_summary(service, booking))
    try:
        booking, punctuality = await blocking(service.check_in, code, request.ctx.user.username)
    except BookingRefused as refused:
        if refused.reason is RefusalReason.WRONG_DAY:
            return await refuse(f"Booking ini untuk {day_name(refused.facts['day'])}, bukan hari ini. "
                                "Pemohon diminta datang pada hari tersebut.", booking)
        return await refuse("Check-in tidak bisa dilakukan untuk booking ini.", booking)
    await blocking(request.app.ctx.audit.record, request.ctx.user.username, "booking.checked_in",
                   target=booking.code, office_id=office.id, remote_addr=remote_addr(request), punctuality=punctuality)
    label, advice = PUNCTUALITY[punctuality]
    return await redirect_with(request, back, "ok", f"Check-in berhasil — {label}.", advice=advice,
                               punctuality=punctuality, **_summary(service, booking))


def _summary(service, booking: Booking) -> dict:
    """What the guard needs to match the person and their e-KTP in front of them, and nothing more."""
    office = service.office(booking.office_id)
    session = next((s for s in service.sessions(office.id, booking.day) if s.start == booking.session_start), None)
    return {
        "name": booking.applicant.full_name,
        # Compared with the e-KTP in hand: a booking made with someone else's NIK shows its maker's
        # name and birth date, not the card holder's.
        "birth_date": day_name(booking.applicant.birth_date),
        "nik": masked_nik(booking),
        "queue": booking.queue_label(office.queue_prefix),
        "day": day_name(booking.day),
        "session": (f"{clock_time(session.start)}–{clock_time(session.end)}" if session
                    else clock_time(booking.session_start)),
    }
