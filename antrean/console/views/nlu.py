"""The NLU inbox: what applicants wrote that the assistant was not trained on, least certain
first, grouped by the intent the model guessed. A reviewer confirms or corrects the intent, marks
entities by selecting part of the text, or discards the message (junk, or personal data)."""

from __future__ import annotations

import json

from sanic import Blueprint, Request

from antrean.console.permissions import Permission
from antrean.console.web import blocking, permission_required, pop_flash, redirect_with, remote_addr, render
from antrean.protection.masking import mask_text
from antrean.training import nlu_inbox as inbox
from antrean.training.data import load_domain

bp = Blueprint("nlu", url_prefix="/nlu")

DISCARDS = {"buang_sampah": "junk", "buang_pribadi": "personal"}


@bp.get("", name="index")
@permission_required(Permission.REVIEW)
async def index(request: Request):
    return await _inbox_page(request, revealed=False)


@bp.post("/buka", name="reveal")
@permission_required(Permission.REVIEW | Permission.REVEAL_PERSONAL_DATA)
async def reveal(request: Request):
    """The inbox with personal data unmasked: only with the personal-data right, and audited."""
    return await _inbox_page(request, revealed=True)


async def _inbox_page(request: Request, revealed: bool):
    service = request.app.ctx.service
    user = request.ctx.user
    domain = load_domain()
    wanted = (request.args.get("intent", "") or (request.form.get("intent", "") if request.form else "")).strip()
    synced = await blocking(request.app.ctx.review.sync, 1)  # what Rasa saw since the last look
    known = await blocking(inbox.known_examples)
    items = await blocking(inbox.pending, service.engine, domain, known, 150, wanted or None, user.office_id)
    if revealed:
        # Recorded before the page is sent: no trace, no data.
        await blocking(request.app.ctx.audit.record, user.username, "personal_data.viewed", target="nlu",
                       office_id=user.office_id, remote_addr=remote_addr(request), fields=["message_text"],
                       messages=len(items))
    values = {} if revealed else await blocking(
        inbox.known_values, service.engine, {i.conversation_id for i in items if i.conversation_id is not None})
    for item in items:
        # Same length as the text: entity offsets marked on the screen fit the stored text.
        item.shown = item.text if revealed else mask_text(
            item.text, values.get(item.conversation_id), item.entities, item.at.date())
        # The form carries spans only: their text is read from the page, and the server takes the
        # values from the stored message when the decision comes back.
        item.entities = [{key: e[key] for key in ("start", "end", "entity")} for e in item.entities]
    counts = await blocking(inbox.counts, service.engine)
    await pop_flash(request)
    return render(request, "nlu.html", groups=inbox.grouped(items), domain=domain, wanted=wanted,
                  counts=counts, total=len(items), tracker_unreachable=synced is None, revealed=revealed,
                  to_json=lambda value: json.dumps(value, ensure_ascii=False))


@bp.post("/<message_id:int>", name="decide")
@permission_required(Permission.REVIEW)
async def decide(request: Request, message_id: int):
    service = request.app.ctx.service
    user = request.ctx.user.username
    decision = request.form.get("keputusan", "")
    back = "/nlu" + (f"?intent={request.form.get('kembali')}" if request.form.get("kembali") else "")
    message = await blocking(inbox.get_message, service.engine, message_id)
    if message is not None and message.office_id and not request.ctx.user.may_see_office(message.office_id):
        return await redirect_with(request, back, "error", "Pesan ini milik kantor lain.")
    try:
        if decision in DISCARDS:
            await blocking(inbox.discard, service.engine, message_id, DISCARDS[decision], user, service.clock())
            detail = {"decision": "discarded", "reason": DISCARDS[decision]}
            text = "Pesan dibuang dan tidak akan muncul lagi."
        elif decision == "terima":
            try:
                entities = json.loads(request.form.get("entitas") or "[]")
            except ValueError:
                entities = None
            if not isinstance(entities, list):
                return await redirect_with(request, back, "error", "Entitas tidak terbaca.")
            result = await blocking(inbox.accept, service.engine, load_domain(), message_id,
                                    request.form.get("intent", ""), entities, user, service.clock())
            detail = {"decision": "accepted", **result}
            text = (f"Disimpan sebagai {result['intent']}" + (" (intent dikoreksi)" if result["changed"] else "")
                    + (f" dengan {result['entities']} entitas." if result["entities"] else "."))
        else:
            return await redirect_with(request, back, "error", "Pilih terima atau buang.")
    except inbox.ReviewRefused as refusal:
        return await redirect_with(request, back, "error", str(refusal))
    await blocking(request.app.ctx.audit.record, user, "nlu.reviewed", target=str(message_id),
                   office_id=message.office_id if message is not None else None,
                   remote_addr=remote_addr(request), **detail)
    return await redirect_with(request, back, "ok", text)
