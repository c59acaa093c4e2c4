"""The audit log, for admins."""

from __future__ import annotations

from sanic import Blueprint, Request

from antrean.console.permissions import Permission
from antrean.console.views.common import office_for_times
from antrean.console.web import blocking, permission_required, render

bp = Blueprint("audit", url_prefix="/audit")

ACTION_LABELS = {
    "login": "Masuk",
    "login.refused": "Gagal masuk",
    "personal_data.viewed": "Melihat data pribadi lengkap",
    "photo.viewed": "Melihat foto KTP",
    "export.day_list": "Mengekspor daftar harian",
    "export.test_story": "Mengekspor percakapan sebagai cerita uji",
    "booking.checked_in": "Check-in",
    "booking.called": "Memanggil ke loket",
    "booking.served": "Selesai dilayani",
    "booking.no_show": "Tidak hadir",
    "handoff.answered": "Menjawab permintaan bantuan",
    "handoff.replied": "Membalas pemohon",
    "handoff.reply_failed": "Balasan ke pemohon gagal",
    "nlu.reviewed": "Meninjau contoh NLU",
    "nlu.exported": "Mengekspor contoh NLU",
    "privacy.erased": "Menghapus data pribadi pemohon",
    "privacy.exported": "Mengekspor data pribadi pemohon (hak akses)",
    "model.promoted": "Menjadikan model NLU aktif",
    "model.promotion_overridden": "Menjadikan model NLU aktif walau ditolak gerbang",
    "model.rolled_back": "Mengembalikan model NLU sebelumnya",
    "model.pruned": "Menghapus berkas model NLU lama",
}


@bp.get("", name="index")
@permission_required(Permission.ADMINISTER)
async def index(request: Request):
    actor = request.args.get("staf", "").strip() or None
    entries = await blocking(request.app.ctx.audit.recent, 300, actor)
    # Each entry in its office's time, like every other page (an entry without an office: the
    # staff member's office, else the first one); the zone is written beside it.
    rows = [(entry, office_for_times(request, entry.office_id)) for entry in entries]
    return render(request, "audit.html", rows=rows, labels=ACTION_LABELS, actor=actor or "",
                  staff_names=await blocking(request.app.ctx.accounts.display_names))
