"""Conversations waiting for a person: the queue, one conversation's transcript, and the staff reply
through the applicant's channel (WhatsApp within its 24-hour window; REST: recorded for the client)."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.exceptions import NotFound

from antrean.console.permissions import Permission
from antrean.console.views.common import OfficeNotAllowed
from antrean.console.web import (
    blocking,
    permission_required,
    pop_flash,
    redirect_with,
    remote_addr,
    render,
)
from antrean.handoff import service as handoff
from antrean.protection.masking import mask_text
from antrean.whatsapp.identities import labels
from antrean.whatsapp.inbox import Inbox
from antrean.whatsapp.outbound import TEXT_LIMIT
from antrean.whatsapp.sandbox import (
    CUSTOMER_SERVICE_WINDOW,
    OUTSIDE_WINDOW_CODE,
    SendFailed,
    outbound_settings,
    send_staff_text,
)

bp = Blueprint("handoff", url_prefix="/bantuan")

OUTSIDE_WINDOW = ("Balasan tidak dikirim: pesan terakhir pemohon lewat WhatsApp sudah lebih dari 24 jam yang lalu "
                  "({last}). Di luar jendela 24 jam WhatsApp hanya mengizinkan pesan templat yang sudah disetujui "
                  "Meta, bukan teks bebas. Balasan bisa dikirim lagi begitu pemohon menulis pesan baru.")


@bp.get("", name="index")
@permission_required(Permission.HANDOFF)
async def index(request: Request):
    service = request.app.ctx.service
    user = request.ctx.user
    requests = [{**r, "last_message": mask_text(r["last_message"])}
                for r in await blocking(handoff.open_requests, service.engine)
                if r["office_id"] is None or user.may_see_office(r["office_id"])]
    shown = await blocking(labels, service.engine, [r["sender_id"] for r in requests])
    await pop_flash(request)
    return render(request, "handoff.html", requests=requests, now=service.clock(), labels=shown)


async def _visible_request(request: Request, request_id: int) -> dict:
    """The request, if it exists and belongs to the staff member's office: every route on one
    request (read, reply, mark answered) goes through here, so none can skip the office check."""
    found = await blocking(handoff.get_request, request.app.ctx.service.engine, request_id)
    if found is None:
        raise NotFound("Permintaan tidak ditemukan.")
    if found["office_id"] and not request.ctx.user.may_see_office(found["office_id"]):
        raise OfficeNotAllowed(found["office_id"])
    return found


async def _conversation_page(request: Request, request_id: int, revealed: bool):
    service = request.app.ctx.service
    found = await _visible_request(request, request_id)
    if revealed:
        # Recorded before the page is sent: no trace, no data.
        await blocking(request.app.ctx.audit.record, request.ctx.user.username, "personal_data.viewed",
                       target=f"bantuan:{request_id}", office_id=found["office_id"],
                       remote_addr=remote_addr(request), fields=["message_text", "whatsapp_number"])
    contact = await blocking(handoff.whatsapp_contact, service.engine, found["sender_id"])
    now = service.clock()
    window_open = contact is not None and now - contact.last_inbound_at <= CUSTOMER_SERVICE_WINDOW
    turns = await blocking(handoff.transcript, service.engine, found["sender_id"])
    if contact is None:  # REST: only the staff replies are known here, besides the request itself
        turns = [{"at": found["requested_at"], "who": "applicant", "text": found["last_message"] or ""}, *turns]
    if not revealed:
        # What applicants type, and the assistant's summary of it, carry NIKs and numbers.
        turns = [{**turn, "text": mask_text(turn["text"])} for turn in turns]
    review_id = (await blocking(handoff.latest_conversation_id, service.engine, found["sender_id"])
                 if request.ctx.user.can(Permission.REVIEW) else None)
    shown = (await blocking(labels, service.engine, [found["sender_id"]]))[found["sender_id"]]
    await pop_flash(request)
    return render(request, "handoff_conversation.html", item=found, sender_label=shown, contact=contact,
                  window_open=window_open, turns=turns, now=now, text_limit=TEXT_LIMIT, review_id=review_id,
                  revealed=revealed, staff_names=await blocking(request.app.ctx.accounts.display_names),
                  sandbox=outbound_settings(request.app.ctx.config.environ).sandbox)


@bp.get("/<request_id:int>", name="conversation")
@permission_required(Permission.HANDOFF)
async def conversation(request: Request, request_id: int):
    return await _conversation_page(request, request_id, revealed=False)


@bp.post("/<request_id:int>/buka", name="reveal")
@permission_required(Permission.HANDOFF | Permission.REVEAL_PERSONAL_DATA)
async def reveal(request: Request, request_id: int):
    # A POST (with CSRF) rather than a link: revealing leaves an audit entry, so it must be deliberate.
    return await _conversation_page(request, request_id, revealed=True)


@bp.post("/<request_id:int>/balas", name="reply")
@permission_required(Permission.HANDOFF)
async def reply(request: Request, request_id: int):
    service = request.app.ctx.service
    user = request.ctx.user.username
    found = await _visible_request(request, request_id)
    back = f"/bantuan/{request_id}"
    text = (request.form.get("pesan") or "").strip()
    if not text:
        return await redirect_with(request, back, "error", "Tulis balasannya dulu.")
    if len(text) > TEXT_LIMIT:
        return await redirect_with(request, back, "error",
                                   f"Balasan terlalu panjang: paling banyak {TEXT_LIMIT} karakter (WhatsApp).")
    now = service.clock()
    sender = found["sender_id"]
    contact = await blocking(handoff.whatsapp_contact, service.engine, sender)
    if contact is None:
        channel, status, outbox_id = "rest", "recorded", None
    else:
        channel = "whatsapp"
        if now - contact.last_inbound_at > CUSTOMER_SERVICE_WINDOW:
            return await _outside_window(request, back, contact)
        try:
            status, outbox_id = await send_staff_text(Inbox(service.engine),
                                                      outbound_settings(request.app.ctx.config.environ),
                                                      contact.phone_number_id, sender, text)
        except SendFailed as error:
            await blocking(request.app.ctx.audit.record, user, "handoff.reply_failed", target=str(request_id),
                           office_id=found["office_id"], remote_addr=remote_addr(request), error_code=error.code)
            if error.code == OUTSIDE_WINDOW_CODE:
                return await _outside_window(request, back, contact)
            return await redirect_with(request, back, "error",
                                       f"WhatsApp menolak balasan ini (kode galat {error.code or 'tidak ada'}). "
                                       "Coba lagi sebentar lagi; bila tetap gagal, hubungi admin.")
    await blocking(handoff.record_reply, service.engine, request_id, sender, channel, text, status, outbox_id,
                   user, now)
    await blocking(handoff.mark_answered, service.engine, request_id, user, now)
    await blocking(request.app.ctx.audit.record, user, "handoff.replied", target=str(request_id),
                   office_id=found["office_id"], remote_addr=remote_addr(request), channel=channel, status=status)
    done = {"sent": "Balasan terkirim lewat WhatsApp.",
            "sandbox": "Balasan dicatat di kotak keluar (mode sandbox: tidak dikirim ke WhatsApp).",
            "recorded": "Balasan disimpan; aplikasi pemohon mengambilnya dari server."}[status]
    return await redirect_with(request, "/bantuan", "ok", f"{done} Permintaan ditandai sudah dijawab.")


async def _outside_window(request: Request, back: str, contact: handoff.WhatsAppContact):
    found = next((o for o in request.app.ctx.service.offices.values()
                  if contact.phone_number_id in o.whatsapp_phone_number_ids), None)
    office = found or next(iter(request.app.ctx.service.offices.values()))
    local = contact.last_inbound_at.astimezone(office.zone)
    return await redirect_with(request, back, "error",
                               OUTSIDE_WINDOW.format(last=f"{local:%d-%m-%Y %H:%M}"))


@bp.post("/<request_id:int>/dijawab", name="answered")
@permission_required(Permission.HANDOFF)
async def answered(request: Request, request_id: int):
    service = request.app.ctx.service
    user = request.ctx.user.username
    found = await _visible_request(request, request_id)
    if not await blocking(handoff.mark_answered, service.engine, request_id, user, service.clock()):
        return await redirect_with(request, "/bantuan", "warning", "Permintaan ini sudah dijawab sebelumnya.")
    await blocking(request.app.ctx.audit.record, user, "handoff.answered", target=str(request_id),
                   office_id=found["office_id"], remote_addr=remote_addr(request))
    return await redirect_with(request, "/bantuan", "ok", "Ditandai sudah dijawab.")
