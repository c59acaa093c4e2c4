"""The simulator: a staff member chats with the assistant as an applicant would, in the browser,
before an office goes live and to train staff. Messages take the WhatsApp channel's own path — a
Meta-shaped webhook body, parsed and stored in the durable inbox, fed to Rasa by the channel's
worker — from a simulator number (antrean.whatsapp.simulated), whose replies are only recorded in
the outbox, never sent; the page shows them, buttons and QR ticket included. Photos are kept in
simulator_media, where the worker fetches them as it would from Meta. Registrations made here are
practice bookings at the office's practice twin (antrean.booking.practice): open at any hour, for
today, never a real seat; the door and the counter take them in their own training mode."""

from __future__ import annotations

import asyncio

import httpx
from sanic import Blueprint, Request, html
from sanic.exceptions import NotFound
from sanic.response import raw
from sqlalchemy import func, select

from antrean.booking.offices import practice_id
from antrean.console.permissions import Permission
from antrean.console.views.common import chosen_office, whole_number
from antrean.console.web import blocking, permission_required, pop_flash, redirect_with, render
from antrean.media.photos import MAX_BYTES
from antrean.runtime.http_limits import SMALL_BODY_BYTES
from antrean.whatsapp.inbox import Inbox
from antrean.whatsapp.sandbox import (
    SimulatorMedia,
    simulated_message,
    simulator_log,
    simulator_number,
    store_simulated,
)
from antrean.whatsapp.schema import whatsapp_inbox
from antrean.whatsapp.simulated import SIMULATOR_PREFIX, is_simulator_number

bp = Blueprint("simulator", url_prefix="/simulator")

PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp"}


def rasa_url(request: Request) -> str:
    return request.app.ctx.config.settings.console.rasa_url


async def assistant_problem(request: Request) -> str | None:
    """None when the Rasa server answers with its WhatsApp channel; otherwise why not, in Indonesian."""
    url = f"{rasa_url(request)}/webhooks/whatsapp/"
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            reply = await client.get(url)
    except httpx.HTTPError:
        return (f"Asisten tidak dapat dihubungi di {rasa_url(request)}: server Rasa belum berjalan atau masih "
                "memuat model. Jalankan `make run`, tunggu sampai siap, lalu coba lagi. Pesan Anda tidak dikirim.")
    if reply.status_code != 200:
        return (f"Asisten menjawab dengan galat (HTTP {reply.status_code}); saluran WhatsApp-nya mungkin tidak "
                "aktif (credentials.yml). Pesan Anda tidak dikirim.")
    return None


def simulator_offices(request: Request):
    return [o for o in request.app.ctx.service.offices.values()
            if o.whatsapp_phone_number_ids and request.ctx.user.may_see_office(o.id)]


def offices_without_number(request: Request):
    """Offices the simulator cannot play: a message reaches an office through its WhatsApp number id."""
    return [o for o in request.app.ctx.service.offices.values()
            if not o.whatsapp_phone_number_ids and request.ctx.user.may_see_office(o.id)]


def latest_conversation(engine, user_id: int) -> int:
    prefix = f"{SIMULATOR_PREFIX}{user_id % 1000:03d}"
    with engine.connect() as connection:
        latest = connection.execute(select(func.max(whatsapp_inbox.c.wa_id))
                                    .where(whatsapp_inbox.c.wa_id.like(prefix + "%"))).scalar()
    return int(latest[-3:]) if latest else 1


async def conversation_number(request: Request) -> int:
    chosen = whole_number(request.args.get("sesi") or (request.form.get("sesi") if request.form else None))
    if chosen is not None and 1 <= chosen <= 999:
        return chosen
    return await blocking(latest_conversation, request.app.ctx.service.engine, request.ctx.user.id)


async def page_context(request: Request) -> dict:
    office = chosen_office(request)
    number = await conversation_number(request)
    wa_id = simulator_number(request.ctx.user.id, number)
    items, waiting = await blocking(simulator_log, request.app.ctx.service.engine, wa_id)
    return {"office": office, "sesi": number, "wa_id": wa_id, "items": items, "waiting": waiting,
            "simulator_offices": simulator_offices(request), "without_number": offices_without_number(request),
            # Where the simulator's registrations go (the WhatsApp channel marks them as practice).
            "practice": request.app.ctx.service.practice_offices[practice_id(office.id)]}


@bp.get("", name="index")
@permission_required(Permission.REVIEW)
async def index(request: Request):
    context = await page_context(request)
    problem = await assistant_problem(request)
    await pop_flash(request)
    return render(request, "simulator.html", problem=problem, rasa=rasa_url(request), **context)


@bp.get("/log", name="log")
@permission_required(Permission.REVIEW)
async def log(request: Request):
    """The chat alone, polled by simulator.js while the assistant answers."""
    context = await page_context(request)
    page = request.app.ctx.templates.get_template("_simulator_log.html").render(
        csrf_token=request.ctx.csrf_token, **context)
    return html(page)


# A photo (at most MAX_BYTES) with the rest of the form: the one console route that takes more than a
# form's worth, so its body is read after the session check (antrean.console.web.read_upload).
@bp.post("/kirim", name="send", stream=True, ctx_body_limit=MAX_BYTES + SMALL_BODY_BYTES)
@permission_required(Permission.REVIEW)
async def send(request: Request):
    office = chosen_office(request)
    number = await conversation_number(request)
    back = f"/simulator?kantor={office.id}&sesi={number}"
    if not office.whatsapp_phone_number_ids:
        return await redirect_with(request, back, "error", "Kantor ini belum punya nomor WhatsApp di offices.yml.")
    wa_id = simulator_number(request.ctx.user.id, number)
    message = await _message(request)
    if isinstance(message, str):
        return await redirect_with(request, back, "error", message)
    problem = await assistant_problem(request)
    if problem:
        return await redirect_with(request, back, "error", problem)
    kind, body = message
    if kind == "image":
        photo, mime = body.pop("_data"), body["mime_type"]
        body["id"], body["sha256"] = await blocking(SimulatorMedia(request.app.ctx.service.engine).put, photo, mime)
    webhook = simulated_message(office.whatsapp_phone_number_ids[0], wa_id, kind, body)
    await blocking(store_simulated, Inbox(request.app.ctx.service.engine), webhook)
    return await redirect_with(request, back, "ok", "Terkirim. Balasan asisten muncul di bawah dalam beberapa detik.")


async def _message(request: Request) -> tuple[str, dict] | str:
    """The message to simulate from the form: a chosen button, a photo (with its caption) or text;
    or why there is none."""
    form = request.form or {}
    choice, title = (form.get("pilihan") or "").strip(), (form.get("judul") or "").strip()
    if choice:
        return "interactive", {"type": "button_reply", "button_reply": {"id": choice[:256], "title": title[:24]}}
    upload = (request.files or {}).get("foto")
    text = (form.get("pesan") or "").strip()
    if upload is not None and upload.body:
        mime = (upload.type or "").split(";")[0].strip().lower()
        if mime not in PHOTO_TYPES:
            return "Kirim foto JPEG, PNG atau WebP."
        if len(upload.body) > MAX_BYTES + 1:
            return "Foto terlalu besar untuk simulator."
        body = {"mime_type": mime, "_data": upload.body}
        if text:
            body["caption"] = text[:1024]
        return "image", body
    if not text:
        return "Tulis pesan atau pilih foto dulu."
    return "text", {"body": text[:4096]}


@bp.post("/baru", name="new")
@permission_required(Permission.REVIEW)
async def new_conversation(request: Request):
    office = chosen_office(request)
    latest = await blocking(latest_conversation, request.app.ctx.service.engine, request.ctx.user.id)
    number = latest % 999 + 1
    return await redirect_with(request, f"/simulator?kantor={office.id}&sesi={number}", "ok",
                               "Percakapan baru dimulai: asisten melihat Anda sebagai pemohon lain.")


@bp.get("/tiket/<code>", name="ticket")
@permission_required(Permission.REVIEW)
async def ticket(request: Request, code: str):
    """The QR ticket of a booking made in the simulator (only those: a real applicant's ticket is
    not the simulator's to show)."""
    from antrean.media.ticket import ticket_png

    service = request.app.ctx.service
    booking = await blocking(service.get_by_code, code.removesuffix(".png"))
    if booking is None or not is_simulator_number(booking.whatsapp_number):
        raise NotFound("Tiket tidak ditemukan.")
    png = await asyncio.to_thread(ticket_png, booking, service.office(booking.office_id))
    return raw(png, content_type="image/png")
