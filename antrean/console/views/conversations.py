"""Conversations with the assistant (reviewer and admin): the list with filters, sorting, paging
and saved filters; a transcript with intents, confidences, entities, buttons, actions and slots;
tags, review status, a note, flagged messages; the ID photo (audited) and export as a test story."""

from __future__ import annotations

import io
import logging
from urllib.parse import parse_qs

from PIL import Image
from sanic import Blueprint, Request
from sanic.exceptions import NotFound
from sanic.response import raw, redirect
from sqlalchemy.exc import SQLAlchemyError

from antrean.console.permissions import Permission
from antrean.console.present import CARD_MISMATCH_LABELS
from antrean.console.views.common import office_for_times, query_day
from antrean.console.web import (
    blocking,
    forbidden,
    permission_required,
    pop_flash,
    redirect_with,
    remote_addr,
    render,
)
from antrean.review import query, stories, transcript, work
from antrean.review import tracker as tracker_store
from antrean.review.schema import OUTCOMES

bp = Blueprint("conversations", url_prefix="/percakapan")
logger = logging.getLogger(__name__)

OUTCOME_LABELS = {
    "booked": "Terdaftar", "refused": "Ditolak", "abandoned": "Ditinggalkan", "handoff": "Ke petugas",
    "information": "Informasi saja",
}
THUMBNAIL_SIDE = 320
REVIEW = Permission.REVIEW
REVIEW_AND_REVEAL = Permission.REVIEW | Permission.REVEAL_PERSONAL_DATA


def _zone(request: Request, office_id: str | None):
    return office_for_times(request, office_id).zone


@bp.get("", name="index")
@permission_required(REVIEW)
async def index(request: Request):
    review = request.app.ctx.review
    # Page load copies what is new (at most one batch; the timer does the rest), so a reviewer
    # opening the list sees the conversation that just ended.
    synced = await blocking(review.sync, 1)
    user = request.ctx.user
    for name in ("dari", "sampai"):
        query_day(request, name)  # a day the list cannot filter on is said so, not silently dropped
    chosen = query.ConversationFilter.from_args(request.args)
    if user.office_id:
        chosen.kantor = user.office_id
    page = await blocking(query.list_conversations, request.app.ctx.service.engine, chosen,
                          _zone(request, chosen.kantor), [user.office_id] if user.office_id else None)
    choices = await blocking(review.choices)
    saved = await blocking(work.saved_filters, request.app.ctx.service.engine, user.username)
    await pop_flash(request)
    return render(request, "conversations/index.html", page=page, chosen=chosen, choices=choices, saved=saved,
                  outcomes=OUTCOMES, outcome_labels=OUTCOME_LABELS, zone_default=_zone(request, chosen.kantor),
                  card_labels=CARD_MISMATCH_LABELS,
                  tracker_unreachable=synced is None)


async def _conversation(request: Request, conversation_id: int) -> work.ConversationInfo:
    found = await blocking(work.get_conversation, request.app.ctx.service.engine, conversation_id)
    if found is None:
        raise NotFound("Percakapan tidak ditemukan.")
    return found


def _other_office(request: Request, conversation: work.ConversationInfo):
    if conversation.office_id and not request.ctx.user.may_see_office(conversation.office_id):
        return forbidden(request, "Percakapan ini milik kantor lain.")
    return None


async def _transcript_page(request: Request, conversation_id: int, revealed: bool):
    conversation = await _conversation(request, conversation_id)
    if refused := _other_office(request, conversation):
        return refused
    if revealed:
        # Recorded before the page is sent: no trace, no data.
        await blocking(request.app.ctx.audit.record, request.ctx.user.username, "personal_data.viewed",
                       target=f"percakapan:{conversation.id}", office_id=conversation.office_id,
                       remote_addr=remote_addr(request), fields=["message_text", "nik", "slots"])
    items = await _transcript(request, conversation, revealed)
    await pop_flash(request)
    office = request.app.ctx.service.all_offices.get(conversation.office_id or "")
    return render(request, "conversations/detail.html", conversation=conversation, items=items or [],
                  revealed=revealed, tracker_unreachable=items is None, office=office,
                  zone=_zone(request, conversation.office_id), outcome_labels=OUTCOME_LABELS,
                  card_labels=CARD_MISMATCH_LABELS,
                  back=request.args.get("kembali", ""),
                  staff_names=await blocking(request.app.ctx.accounts.display_names))


async def _transcript(request: Request, conversation: work.ConversationInfo, revealed: bool) -> list | None:
    """The transcript from Rasa's tracker store; None while it cannot be read (not created yet by
    Rasa, or down): the page then says so instead of failing."""
    try:
        return await blocking(transcript.transcript, request.app.ctx.review.tracker_engine, conversation, revealed)
    except SQLAlchemyError:
        logger.warning("tracker store unreadable for conversation %s", conversation.id, exc_info=True)
        return None


@bp.get("/<conversation_id:int>", name="detail")
@permission_required(REVIEW)
async def detail(request: Request, conversation_id: int):
    return await _transcript_page(request, conversation_id, revealed=False)


@bp.post("/<conversation_id:int>/buka", name="reveal")
@permission_required(REVIEW_AND_REVEAL)
async def reveal(request: Request, conversation_id: int):
    return await _transcript_page(request, conversation_id, revealed=True)


@bp.get("/<conversation_id:int>/foto/<event_id:int>", name="photo")
@permission_required(REVIEW_AND_REVEAL)
async def photo(request: Request, conversation_id: int, event_id: int):
    """A thumbnail of the ID photo sent in one user message of this conversation; each view audited."""
    conversation = await _conversation(request, conversation_id)
    if refused := _other_office(request, conversation):
        return refused
    items = await _transcript(request, conversation, False)
    if items is None:
        raise NotFound("Foto tidak dapat dicari: penyimpanan percakapan Rasa tidak dapat dibaca saat ini.")
    ref = next((i.photo_ref for i in items if i.event_id == event_id and i.photo_ref), None)
    if ref is None:
        raise NotFound("Pesan ini tidak membawa foto.")
    try:
        data = await blocking(request.app.ctx.media().open, ref)
    except (FileNotFoundError, ValueError):
        raise NotFound("Foto sudah dihapus (masa simpan berakhir).") from None
    await blocking(request.app.ctx.audit.record, request.ctx.user.username, "photo.viewed",
                   target=f"percakapan:{conversation.id}", office_id=conversation.office_id,
                   remote_addr=remote_addr(request), event_id=event_id)
    return raw(await blocking(_thumbnail, data), content_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _thumbnail(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def _back(conversation_id: int) -> str:
    return f"/percakapan/{conversation_id}"


async def _changed(request: Request, conversation_id: int, change, text: str):
    conversation = await _conversation(request, conversation_id)
    if refused := _other_office(request, conversation):
        return refused
    try:
        await blocking(change, conversation)
    except work.ReviewError as error:
        return await redirect_with(request, _back(conversation_id), "error", str(error))
    return await redirect_with(request, _back(conversation_id), "ok", text)


@bp.post("/<conversation_id:int>/ditinjau", name="reviewed")
@permission_required(REVIEW)
async def reviewed(request: Request, conversation_id: int):
    value = request.form.get("nilai") != "tidak"
    service = request.app.ctx.service
    return await _changed(
        request, conversation_id,
        lambda c: work.set_reviewed(service.engine, c.id, value, request.ctx.user.username, service.clock()),
        "Ditandai sudah ditinjau." if value else "Tanda ditinjau dihapus.")


@bp.post("/<conversation_id:int>/catatan", name="note")
@permission_required(REVIEW)
async def note(request: Request, conversation_id: int):
    text = request.form.get("catatan") or ""
    engine = request.app.ctx.service.engine
    return await _changed(request, conversation_id, lambda c: work.set_note(engine, c.id, text), "Catatan disimpan.")


@bp.post("/<conversation_id:int>/label", name="tag")
@permission_required(REVIEW)
async def tag(request: Request, conversation_id: int):
    service = request.app.ctx.service
    label = request.form.get("label") or ""
    if request.form.get("hapus"):
        return await _changed(request, conversation_id, lambda c: work.remove_tag(service.engine, c.id, label),
                              "Label dihapus.")
    return await _changed(
        request, conversation_id,
        lambda c: work.add_tag(service.engine, c.id, label, request.ctx.user.username, service.clock()),
        "Label ditambahkan.")


@bp.post("/<conversation_id:int>/pesan/<event_id:int>/tandai", name="flag")
@permission_required(REVIEW)
async def flag(request: Request, conversation_id: int, event_id: int):
    service = request.app.ctx.service
    value = request.form.get("nilai") != "tidak"

    def change(c):
        if not work.set_flag(service.engine, c.id, event_id, value, request.ctx.user.username, service.clock()):
            raise work.ReviewError("Hanya pesan pemohon yang bisa ditandai.")

    return await _changed(request, conversation_id, change,
                          "Pesan ditandai untuk ditinjau NLU." if value else "Tanda pesan dihapus.")


@bp.post("/<conversation_id:int>/ekspor", name="export")
@permission_required(REVIEW)
async def export(request: Request, conversation_id: int):
    """Writes the conversation as a test story under tests/; only once it has been reviewed."""
    conversation = await _conversation(request, conversation_id)
    if refused := _other_office(request, conversation):
        return refused
    if not conversation.reviewed:
        return await redirect_with(request, _back(conversation_id), "error",
                                   "Tandai percakapan sudah ditinjau sebelum mengekspornya sebagai cerita uji.")
    review = request.app.ctx.review

    def read_events():
        with review.tracker_engine.connect() as connection:
            return tracker_store.sender_events(connection, conversation.sender_id, conversation.first_event_id,
                                               conversation.last_event_id)

    try:
        events = await blocking(read_events)
    except SQLAlchemyError:
        return await redirect_with(request, _back(conversation_id), "error",
                                   "Penyimpanan percakapan Rasa tidak dapat dibaca saat ini; coba lagi nanti.")
    title = f"percakapan {conversation.id} ({conversation.outcome}, ditinjau {conversation.reviewed_by})"
    path = await blocking(stories.write_story, review.config.stories_dir, conversation.id, title, events)
    await blocking(request.app.ctx.audit.record, request.ctx.user.username, "export.test_story",
                   target=f"percakapan:{conversation.id}", office_id=conversation.office_id,
                   remote_addr=remote_addr(request), file=path.name)
    return await redirect_with(request, _back(conversation_id), "ok",
                               f"Cerita uji ditulis ke tests/{path.parent.name}/{path.name}.")


@bp.post("/filter", name="save_filter")
@permission_required(REVIEW)
async def save_filter(request: Request):
    service = request.app.ctx.service
    # Only the list's own keys are kept, normalised: a saved filter is a query string we wrote.
    given = {k: v[0] for k, v in parse_qs(request.form.get("query") or "").items() if v}
    chosen = query.ConversationFilter.from_args(given)
    try:
        await blocking(work.save_filter, service.engine, request.ctx.user.username, request.form.get("nama") or "",
                       chosen.query_string(halaman=1), service.clock())
    except work.ReviewError as error:
        return await redirect_with(request, "/percakapan?" + chosen.query_string(), "error", str(error))
    return await redirect_with(request, "/percakapan?" + chosen.query_string(halaman=1), "ok", "Filter disimpan.")


@bp.post("/filter/<filter_id:int>/hapus", name="delete_filter")
@permission_required(REVIEW)
async def delete_filter(request: Request, filter_id: int):
    await blocking(work.delete_filter, request.app.ctx.service.engine, request.ctx.user.username, filter_id)
    return redirect("/percakapan")
