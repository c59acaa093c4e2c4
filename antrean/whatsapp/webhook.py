"""The WhatsApp webhook's routes (Meta's handshake, signed deliveries into the durable inbox), on
any Sanic blueprint: the Rasa channel (antrean.assistant.whatsapp_channel) and the stand-alone
receiver (antrean.whatsapp.receiver) both mount them. Nothing here imports Rasa, so the receiver
process never loads it (time and memory it would never use).

    GET  <prefix>/          health
    GET  <prefix>/webhook   Meta's verification handshake (hub.mode, hub.verify_token, hub.challenge)
    POST <prefix>/webhook   notifications, signed with X-Hub-Signature-256

A POST is checked (size, signature over the raw body, structure) and its messages are written to the
inbox before it is answered 200; nothing else happens in the request, so Meta gets its answer in
milliseconds. An item that cannot be read is set aside and logged, the rest stored and answered
200; only a body of which nothing could be read gets 400."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time

from sanic import Blueprint, response
from sanic.request import Request

from antrean.runtime.http_limits import limit_bodies, read_limited
from antrean.runtime.outages import outage
from antrean.runtime.settings import WhatsAppSettings
from antrean.whatsapp.payloads import MalformedWebhook, parse_webhook, signature_is_valid

logger = logging.getLogger(__name__)


def add_webhook_routes(blueprint: Blueprint, settings: WhatsAppSettings, inbox, wake) -> None:
    """The webhook's routes, shared by the Rasa channel and the stand-alone receiver
    (antrean.whatsapp.receiver): `inbox()` gives the Inbox, `wake()` tells a worker in the same
    process that there is work (a worker elsewhere finds it by polling)."""

    @blueprint.listener("before_server_start")
    async def limit_other_bodies(app, _loop):
        # The webhook reads its own body (up to max_body_bytes); the verification GET and the
        # health check need none, and Sanic would otherwise read up to 100 MB of one.
        limit_bodies(app)

    @blueprint.route("/", methods=["GET"])
    async def health(_request: Request):
        return response.json({"status": "ok", "sandbox": settings.sandbox})

    @blueprint.route("/webhook", methods=["GET"])
    async def verify(request: Request):
        args = request.args
        if (args.get("hub.mode") == "subscribe" and isinstance(args.get("hub.verify_token"), str)
                and _same(args.get("hub.verify_token"), settings.verify_token)):
            return response.text(args.get("hub.challenge") or "")
        return response.text("forbidden", status=403)

    @blueprint.route("/webhook", methods=["POST"], stream=True)
    async def receive(request: Request):
        started = time.perf_counter()
        reply = await _receive(request)
        # Server-Timing: how long the answer took inside this process, so a slow answer seen by
        # the caller can be told apart from time spent waiting for a CPU or on the network.
        reply.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return reply

    async def _receive(request: Request):
        body = await read_limited(request, settings.max_body_bytes)
        if body is None:
            return response.json({"error": "payload too large"}, status=413)
        if not signature_is_valid(settings.app_secret, body, request.headers.get("x-hub-signature-256")):
            return response.json({"error": "invalid signature"}, status=403)
        try:
            webhook = parse_webhook(body)
        except MalformedWebhook as error:
            logger.warning("WhatsApp webhook refused: %s", error)
            return response.json({"error": "malformed notification"}, status=400)
        for rejected in webhook.rejected:
            logger.warning("WhatsApp webhook: %s set aside: %s", rejected.where, rejected.reason)
        if webhook.rejected and not webhook.understood:
            # Nothing in it could be kept: a 200 would claim we have it.
            return response.json({"error": "malformed notification"}, status=400)
        try:
            stored = await asyncio.to_thread(inbox().store, webhook)
        except Exception as error:
            # Not stored, so not acknowledged: Meta delivers it again later.
            unreachable = outage(error)
            if unreachable:  # one line per delivery while it lasts, not a traceback each time
                logger.error("WhatsApp webhook could not be stored: %s unreachable", unreachable)
            else:
                logger.exception("WhatsApp webhook could not be stored")
            return response.json({"error": "try again"}, status=503)
        if stored:
            wake()
        # What could be read is stored; what could not would fail the same way on every retry, and
        # answering 4xx would make Meta redeliver the good messages along with it for days.
        return response.json({"status": "ok", "set_aside": len(webhook.rejected)} if webhook.rejected
                             else {"status": "ok"})


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
