"""Erasing an applicant's personal data (admins only): a form, a dry run that shows what would be
erased, and the erasure itself after an explicit confirmation. The work is antrean.protection.erasure.erase;
it writes the audit entry in the same transaction as the erasure."""

from __future__ import annotations

from sanic import Blueprint, Request

from antrean.console.permissions import Permission
from antrean.console.web import blocking, permission_required, pop_flash, redirect_with, remote_addr, render
from antrean.protection.erasure import ErasureRefused, Subject, erase

bp = Blueprint("privacy", url_prefix="/privasi")

CONFIRM_WORD = "HAPUS"

STORE_LABELS = {
    "bookings": "Booking dianonimkan (kursi & nomor antrean tetap tercatat)",
    "bookings_closed": "Booking aktif yang ditutup lebih dulu",
    "booking_events": "Riwayat booking dengan nomor WhatsApp disamarkan",
    "sender_quotas": "Kuota per nomor",
    "photos": "Foto KTP",
    "tracker_events": "Peristiwa percakapan Rasa",
    "review_conversations": "Percakapan (tinjauan)",
    "review_user_messages": "Pesan pemohon (tinjauan)",
    "nlu_reviews_anonymised": "Contoh NLU diterima (teks dianonimkan, tetap dipakai)",
    "nlu_reviews_deleted": "Keputusan NLU lain",
    "handoff_requests": "Permintaan bantuan staf",
    "handoff_replies": "Balasan staf",
    "whatsapp_inbox": "Pesan WhatsApp masuk",
    "whatsapp_outbox": "Pesan WhatsApp keluar",
    "whatsapp_statuses": "Status pengiriman WhatsApp",
    "whatsapp_reminders": "Pengingat",
    "whatsapp_sender_leases": "Penguncian pengirim",
    "simulator_media": "Unggahan simulator",
    "audit_log_scrubbed": "Catatan audit yang disamarkan",
    "exported_stories": "Cerita uji yang diekspor (tests/reviewed_stories)",
}


def _subject(request: Request) -> Subject:
    form = request.form or {}
    number = (form.get("nomor") or "").strip()
    nik = (form.get("nik") or "").strip() or None
    code = (form.get("kode") or "").strip()
    if not number and code:
        # From a booking page: the number and NIK come from the booking, never through the URL.
        booking = request.app.ctx.service.get_by_code(code)
        if booking is None or not booking.whatsapp_number:
            raise ErasureRefused("Booking tidak ditemukan atau datanya sudah dihapus.")
        number, nik = booking.whatsapp_number, booking.applicant.nik
    return Subject.from_input(number, nik, [code] if code else [])


async def _run(request: Request, apply: bool):
    subject = await blocking(_subject, request)
    service = request.app.ctx.service
    return await blocking(erase, service.engine, subject, actor=request.ctx.user.username, now=service.clock(),
                          tracker_engine=request.app.ctx.review.tracker_engine, media=request.app.ctx.media(),
                          offices=service.offices, apply=apply, remote_addr=remote_addr(request),
                          stories_dir=request.app.ctx.config.stories_dir)


@bp.get("", name="index")
@permission_required(Permission.ADMINISTER)
async def index(request: Request):
    await pop_flash(request)
    return render(request, "privacy/index.html", error=None)


@bp.post("/periksa", name="check")
@permission_required(Permission.ADMINISTER)
async def check(request: Request):
    try:
        report = await _run(request, apply=False)
    except ErasureRefused as refusal:
        return render(request, "privacy/index.html", status=400, error=str(refusal))
    return render(request, "privacy/confirm.html", report=report, labels=STORE_LABELS, confirm_word=CONFIRM_WORD,
                  form={k: (request.form.get(k) or "") for k in ("nomor", "nik", "kode")})


@bp.post("/hapus", name="erase")
@permission_required(Permission.ADMINISTER)
async def erase_now(request: Request):
    if (request.form.get("konfirmasi") or "").strip().upper() != CONFIRM_WORD:
        return render(request, "privacy/index.html", status=400,
                      error=f"Tidak dihapus: ketik {CONFIRM_WORD} untuk mengonfirmasi.")
    try:
        report = await _run(request, apply=True)
    except ErasureRefused as refusal:
        return render(request, "privacy/index.html", status=400, error=str(refusal))
    closed = "".join(f" Booking {code} " + ("dibatalkan (kursi dibebaskan)." if outcome == "cancelled"
                                            else "ditandai tidak hadir.") for code, outcome in report.closed)
    return await redirect_with(request, "/privasi", "ok",
                               f"Data pribadi {report.subject.masked} dihapus: {report.total} catatan.{closed}")
