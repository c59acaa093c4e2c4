"""Bookings per office and day: quota fill per session, the day list, search, a booking's detail
with its history, revealing the full NIK / number / photo (audited), and the CSV export (audited)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sanic import Blueprint, Request, response
from sanic.exceptions import NotFound
from sanic.response import raw

from antrean.booking.model import Booking, BookingRefused, BookingStatus
from antrean.console.permissions import Permission
from antrean.console.present import day_summary, masked_nik, masked_number, status_label
from antrean.console.search import search_bookings
from antrean.console.views.common import chosen_day, chosen_office, office_today
from antrean.console.web import (
    blocking,
    forbidden,
    permission_required,
    pop_flash,
    redirect_with,
    remote_addr,
    render,
)
from antrean.identity import is_bsuid, mask_msisdn, mask_nik
from antrean.protection.masking import mask_sender
from antrean.whatsapp import identities

bp = Blueprint("bookings", url_prefix="/pemesanan")


@bp.get("", name="index")
@permission_required(Permission.VIEW_BOOKINGS)
async def index(request: Request):
    return await _day_page(request, query="")


@bp.post("/cari", name="search")
@permission_required(Permission.VIEW_BOOKINGS)
async def search(request: Request):
    # A POST, so a searched NIK or phone number stays out of URLs, browser history and proxy logs.
    return await _day_page(request, query=(request.form.get("q") or "").strip()[:100])


async def _day_page(request: Request, query: str):
    service = request.app.ctx.service
    office = chosen_office(request, practice=True)
    day = chosen_day(request, office)
    availability = (await blocking(service.availability, office.id, [day]))[0]
    if query:
        bookings = await blocking(search_bookings, service.engine, service.codes, office.id, query)
    else:
        bookings = await blocking(service.day_list, office.id, day)
    senders = await blocking(identities.labels, service.engine, [b.whatsapp_number for b in bookings])
    return render(request, "bookings/index.html", office=office, day=day, query=query, shown_query=shown(query),
                  availability=availability, bookings=bookings, summary=day_summary(bookings), senders=senders,
                  today=office_today(request, office), previous_day=day - timedelta(days=1),
                  next_day=day + timedelta(days=1), closure=service.calendar(office.id).closure_reason(day))


def shown(query: str) -> str:
    """The query as echoed on the page: a typed NIK or phone number is masked like everywhere else."""
    digits = re.sub(r"[\s\-+().]", "", query)
    if re.fullmatch(r"\d{16}", digits):
        return mask_nik(digits)
    if re.fullmatch(r"\d{8,15}", digits):
        return mask_msisdn(digits)
    if is_bsuid(query):
        return mask_sender(query)
    return query


async def _booking_or_404(request: Request, code: str) -> Booking:
    booking = await blocking(request.app.ctx.service.get_by_code, code)
    if booking is None:
        raise NotFound("Booking tidak ditemukan.")
    return booking


async def _detail(request: Request, code: str, revealed: bool):
    service = request.app.ctx.service
    booking = await _booking_or_404(request, code)
    if not request.ctx.user.may_see_office(booking.office_id):
        return forbidden(request, "Booking ini milik kantor lain.")
    if revealed:
        # Recorded before the page is sent: no trace, no data.
        await blocking(request.app.ctx.audit.record, request.ctx.user.username, "personal_data.viewed",
                       target=booking.code, office_id=booking.office_id, remote_addr=remote_addr(request),
                       fields=["nik", "whatsapp_number", "birth_date", "address"])
    events = await blocking(service.events, booking.id)
    office = service.office(booking.office_id)
    whatsapp = await blocking(identities.find, service.engine, booking.whatsapp_number)
    if whatsapp is None:  # not (or no longer) a WhatsApp sender we know: the number as stored
        whatsapp_shown = booking.whatsapp_number if revealed else mask_sender(booking.whatsapp_number)
    else:
        whatsapp_shown = whatsapp.revealed if revealed else whatsapp.label
    await pop_flash(request)
    session = next((s for s in service.sessions(office.id, booking.day) if s.start == booking.session_start), None)
    return render(request, "bookings/detail.html", booking=booking, office=office, events=events,
                  staff_names=await blocking(request.app.ctx.accounts.display_names), revealed=revealed,
                  whatsapp=whatsapp_shown, session=session)


@bp.get("/<code>", name="detail")
@permission_required(Permission.VIEW_BOOKINGS)
async def detail(request: Request, code: str):
    return await _detail(request, code, revealed=False)


@bp.post("/<code>/buka", name="reveal")
@permission_required(Permission.VIEW_BOOKINGS | Permission.REVEAL_PERSONAL_DATA)
async def reveal(request: Request, code: str):
    # A POST (with CSRF) rather than a link: revealing leaves an audit entry, so it must be deliberate.
    return await _detail(request, code, revealed=True)


@bp.get("/<code>/foto", name="photo")
@permission_required(Permission.VIEW_BOOKINGS | Permission.REVEAL_PERSONAL_DATA)
async def photo(request: Request, code: str):
    booking = await _booking_or_404(request, code)
    if not request.ctx.user.may_see_office(booking.office_id):
        return forbidden(request, "Booking ini milik kantor lain.")
    if not booking.photo_ref:
        raise NotFound("Booking ini tidak punya foto KTP.")
    store = request.app.ctx.media()
    try:
        data = await blocking(store.open, booking.photo_ref)
    except (FileNotFoundError, ValueError):
        raise NotFound("Foto sudah dihapus (masa simpan berakhir).") from None
    await blocking(request.app.ctx.audit.record, request.ctx.user.username, "photo.viewed", target=booking.code,
                   office_id=booking.office_id, remote_addr=remote_addr(request))
    return raw(data, content_type="image/jpeg", headers={"Cache-Control": "no-store"})


@bp.post("/<code>/lepas", name="release")
@permission_required(Permission.VIEW_BOOKINGS | Permission.REVEAL_PERSONAL_DATA)
async def release(request: Request, code: str):
    """Someone booked with a stranger's NIK and so blocks its owner: staff who have checked the
    owner's e-KTP cancel that booking. The reason is required and goes to the audit log (which an
    erasure scrubs), not into the booking's history."""
    booking = await _booking_or_404(request, code)
    if not request.ctx.user.may_see_office(booking.office_id):
        return forbidden(request, "Booking ini milik kantor lain.")
    reason = " ".join((request.form.get("alasan") or "").split())[:500]
    back = f"/pemesanan/{booking.code}"
    if len(reason) < 10:
        return await redirect_with(request, back, "error", "Tulis alasan melepas NIK ini (paling sedikit 10 huruf), "
                                                           "misalnya siapa pemilik NIK yang datang dan apa yang dicek.")
    if not booking.is_active or booking.status is not BookingStatus.BOOKED:
        return await redirect_with(request, back, "error", "Hanya booking yang masih terdaftar (belum check-in) "
                                                           "yang bisa dilepas.")
    try:
        released = await blocking(request.app.ctx.service.release, booking.code, f"staff:{request.ctx.user.username}")
    except BookingRefused:
        return await redirect_with(request, back, "error", "Booking ini berubah sementara itu; muat ulang halaman.")
    await blocking(request.app.ctx.audit.record, request.ctx.user.username, "booking.released", target=released.code,
                   office_id=released.office_id, remote_addr=remote_addr(request), nik=mask_nik(released.applicant.nik),
                   reason=reason)
    return await redirect_with(request, back, "ok", "Booking dibatalkan dan NIK-nya dilepas: pemilik NIK kini bisa "
                                                    "mendaftar lewat WhatsApp.")


EXPORT_FIELDS = ["antrean", "sesi", "kode", "nama", "nik", "jenis", "anak", "whatsapp", "status", "hadir_pukul"]


@bp.get("/ekspor.csv", name="export")
@permission_required(Permission.VIEW_BOOKINGS | Permission.EXPORT)
async def export(request: Request):
    """The day list as CSV, NIK and numbers masked: the file leaves the system, the audit says who
    took it."""
    service = request.app.ctx.service
    office = chosen_office(request)
    day = chosen_day(request, office)
    bookings = await blocking(service.day_list, office.id, day)
    await blocking(request.app.ctx.audit.record, request.ctx.user.username, "export.day_list",
                   target=day.isoformat(), office_id=office.id, remote_addr=remote_addr(request), rows=len(bookings))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    for b in bookings:
        checked_in = b.checked_in_at.astimezone(office.zone).strftime("%H:%M") if b.checked_in_at else ""
        writer.writerow([b.queue_label(office.queue_prefix), f"{b.session_start:%H:%M}", b.code,
                         b.applicant.full_name, masked_nik(b), b.applicant.application_type.value,
                         "ya" if b.applicant.is_minor else "tidak", masked_number(b), status_label(b.status),
                         checked_in])
    filename = f"antrean-{office.id}-{day.isoformat()}.csv"
    return response.text(buffer.getvalue(), content_type="text/csv; charset=utf-8",
                         headers={"Content-Disposition": f'attachment; filename="{filename}"'})
