"""Conversations waiting for a person. For now: the list and "answered"; replying through the
channel from here comes with the WhatsApp channel."""

from __future__ import annotations

from sanic import Blueprint, Request

from antrean import handoff
from antrean.console.permissions import Permission
from antrean.console.web import blocking, permission_required, pop_flash, redirect_with, remote_addr, render

bp = Blueprint("handoff", url_prefix="/bantuan")


@bp.get("", name="index")
@permission_required(Permission.HANDOFF)
async def index(request: Request):
    service = request.app.ctx.service
    user = request.ctx.user
    requests = [r for r in await blocking(handoff.open_requests, service.engine)
                if r["office_id"] is None or user.may_see_office(r["office_id"])]
    await pop_flash(request)
    return render(request, "handoff.html", requests=requests, now=service.clock())


@bp.post("/<request_id:int>/dijawab", name="answered")
@permission_required(Permission.HANDOFF)
async def answered(request: Request, request_id: int):
    service = request.app.ctx.service
    user = request.ctx.user.username
    if not await blocking(handoff.mark_answered, service.engine, request_id, user, service.clock()):
        return await redirect_with(request, "/bantuan", "warning", "Permintaan ini sudah dijawab sebelumnya.")
    await blocking(request.app.ctx.audit.record, user, "handoff.answered", target=str(request_id),
                   remote_addr=remote_addr(request))
    return await redirect_with(request, "/bantuan", "ok", "Ditandai sudah dijawab.")
