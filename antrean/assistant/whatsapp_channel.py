"""WhatsApp Business Platform (Cloud API) channel for Rasa: `antrean.assistant.whatsapp_channel.WhatsAppInput`.

    GET  /webhooks/whatsapp/          health
    GET  /webhooks/whatsapp/webhook   Meta's verification handshake (hub.mode, hub.verify_token, hub.challenge)
    POST /webhooks/whatsapp/webhook   notifications, signed with X-Hub-Signature-256

A POST is checked (size, signature over the raw body, structure) and its messages are written to the
durable inbox before it is answered 200; nothing else happens in the request, so Meta gets its answer
in milliseconds. The worker (antrean.whatsapp.worker), started with the server, feeds stored messages
to Rasa in arrival order per sender. Settings come from the environment (antrean.runtime.settings);
without ANTREAN_WA_ACCESS_TOKEN the channel runs in sandbox mode: replies are recorded in the outbox
table instead of being sent."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request

from antrean.runtime.settings import Settings, SettingsError, WhatsAppSettings, current
from antrean.whatsapp.payloads import MalformedWebhook, parse_webhook, signature_is_valid

logger = logging.getLogger(__name__)


class WhatsAppInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WhatsAppInput:
        # Secrets live in the environment only; credentials.yml merely switches the channel on.
        try:
            return cls(current().whatsapp.for_webhook())
        except SettingsError as error:
            raise RasaException(str(error)) from error

    def __init__(self, settings: WhatsAppSettings, environ: Settings | dict[str, str] | None = None):
        self.settings = settings
        self.environ = environ  # None: the process environment's settings (database, media folder, secret key)
        self._runtime = None

    @property
    def runtime(self):
        # Built on first use (a request or server start), never at import or from_credentials.
        if self._runtime is None:
            from antrean.whatsapp.runtime import Runtime

            self._runtime = Runtime(self.settings, self.environ)
        return self._runtime

    def get_output_channel(self) -> OutputChannel | None:
        return None  # replies need the receiving phone-number id, known only per message

    def blueprint(self, on_new_message) -> Blueprint:
        blueprint = Blueprint("whatsapp_webhook", __name__)

        @blueprint.listener("after_server_start")
        async def start_worker(app, _loop):
            self.runtime.start_worker(on_new_message, app)

        @blueprint.listener("before_server_stop")
        async def stop_worker(_app, _loop):
            await self.runtime.close()

        add_webhook_routes(blueprint, self.settings, lambda: self.runtime.inbox, lambda: self.runtime.wake())
        return blueprint


def add_webhook_routes(blueprint: Blueprint, settings: WhatsAppSettings, inbox, wake) -> None:
    """The webhook's routes, shared by the Rasa channel and the stand-alone receiver
    (antrean.whatsapp.receiver): `inbox()` gives the Inbox, `wake()` tells a worker in the same
    process that there is work (a worker elsewhere finds it by polling)."""

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
        body = await _read_limited(request, settings.max_body_bytes)
        if body is None:
            return response.json({"error": "payload too large"}, status=413)
        if not signature_is_valid(settings.app_secret, body, request.headers.get("x-hub-signature-256")):
            return response.json({"error": "invalid signature"}, status=403)
        try:
            webhook = parse_webhook(body)
        except MalformedWebhook as error:
            logger.warning("WhatsApp webhook refused: %s", error)
            return response.json({"error": "malformed notification"}, status=400)
        try:
            stored = await asyncio.to_thread(inbox().store, webhook)
        except Exception:
            # Not stored, so not acknowledged: Meta delivers it again later.
            logger.exception("WhatsApp webhook could not be stored")
            return response.json({"error": "try again"}, status=503)
        if stored:
            wake()
        return response.json({"status": "ok"})


def _same(given: str, expected: str) -> bool:
    import hmac

    return hmac.compare_digest(given.encode(), expected.encode())


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it exceeds the limit (a huge body is never buffered)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
