"""Rasa's REST channel plus what Antrean needs from every channel:

- photos: a JSON body may carry `photo_base64` (and `message` as its caption); the photo is checked
  and stored through the media contract (antrean.media.contract), exactly as the WhatsApp channel
  does, so end-to-end tests can register with an e-KTP photo without WhatsApp; outside the
  registration window (of the `office_id` given, or of every office) it is neither checked nor kept;
- metadata: of the body's `metadata` only what a client may choose is passed on (`office_id`).
  Identity (`wa_id`, any other name for the sender's phone, the input channel) and photo results
  (`antrean_media`) are the channel's alone: a client's are dropped, and a photo result comes only
  from an upload this channel checked;
- the QR ticket: `GET /webhooks/antrean/tiket/<code>.png` for an authentic, existing booking code;
- staff replies to a handoff: `GET /webhooks/antrean/balasan/<sender>?setelah=<id>` lists what staff
  answered from the console (REST has no push; the client asks), oldest first.

POST /webhooks/antrean/webhook  {"sender": "6281…", "message": "…", "metadata": {…}, "photo_base64": "…"}

Protection: the channel is for tests, the simulator and trusted integrations, and `balasan` hands
out staff replies for any sender id. With `ANTREAN_REST_TOKEN` set, every route except the health
check and the QR ticket (its code is an unguessable, HMAC-checked booking code) needs
`Authorization: Bearer <token>`; anything else gets 401 before the body is read or a photo stored
(the webhook is a streaming route: the token is checked on the headers, then the body is read, up
to MAX_BODY_BYTES; every other route takes at most antrean.runtime.http_limits.SMALL_BODY_BYTES).
Unset, the channel is open, which the Rasa server refuses at start-up unless it listens on a
loopback interface only. Clients in this repository send the header with `client_headers()`."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import logging
import os
from collections.abc import Mapping
from typing import Any

import rasa.utils.endpoints
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import QueueOutputChannel, RestInput
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request

from antrean.assistant import worker_cpus
from antrean.media import ticket as tickets
from antrean.media.contract import ingest_photo, not_kept_metadata, photo_checker, photo_message_text, photo_metadata
from antrean.runtime.http_limits import SMALL_BODY_BYTES, limit_bodies, read_limited
from antrean.runtime.outages import outage
from antrean.runtime.settings import Settings, resolve

logger = logging.getLogger(__name__)

MAX_PHOTO_BASE64_CHARS = 8 * 1024 * 1024  # ~6 MB decoded: a little above the 5 MB photo limit
MAX_BODY_BYTES = MAX_PHOTO_BASE64_CHARS + SMALL_BODY_BYTES  # a photo and the rest of a message
# What a client may put in `metadata`; everything else is set by channels only (fail closed: a key
# an action starts trusting later is not the client's to set unless it is added here).
CLIENT_METADATA_KEYS = frozenset({"office_id"})
TOKEN_ENV = "ANTREAN_REST_TOKEN"
# Routes anyone may call even with a token set (fail closed: a route added later is protected).
PUBLIC_ROUTES = frozenset({"health", "ticket"})
# Which Rasa worker process answered (a hash, not its pid): lets `Stack.wait_until_ready` wait until
# every worker has loaded the model, and shows how requests spread over the workers.
WORKER_HEADER = "X-Antrean-Worker"
# The ETag of the model the answering worker runs (the live model's sha256 when it pulls from
# `python -m antrean model serve`): shows when every worker has taken a promotion.
MODEL_HEADER = "X-Antrean-Model"
_WORKER_SALT = os.urandom(8)


@functools.cache
def _worker_token(pid: int) -> str:
    return hashlib.sha256(_WORKER_SALT + str(pid).encode()).hexdigest()[:12]


def worker_token() -> str:
    # By pid, not once at import: the workers are forked after this module is loaded.
    return _worker_token(os.getpid())


def rest_token(environ: Settings | Mapping[str, str] | None = None) -> str | None:
    return resolve(environ).assistant.rest_token


def client_headers(environ: Settings | Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers a client of this channel sends: the bearer token when one is configured."""
    token = rest_token(environ)
    return {"Authorization": f"Bearer {token}"} if token else {}


class OpenChannelRefused(RasaException):
    """The REST channel would be reachable beyond this machine without a token."""


def is_loopback(host: str | None) -> bool:
    if not host or host == "localhost":
        return bool(host)
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def client_metadata(body: Any) -> dict[str, Any]:
    """What a client may choose of a message's metadata (CLIENT_METADATA_KEYS), from a JSON body."""
    sent = body.get("metadata") if isinstance(body, dict) else None
    if not isinstance(sent, dict):
        return {}
    dropped = len(set(sent) - CLIENT_METADATA_KEYS)
    if dropped:
        logger.info("REST message: %d metadata key(s) only channels may set were dropped", dropped)
    return {key: value for key, value in sent.items() if key in CLIENT_METADATA_KEYS}


def _log_unhandled(error: Exception) -> str | None:
    """Logs a message whose turn failed (one line for an outage, the traceback for anything else);
    returns what was unreachable, if that was why. Called from an `except` block."""
    unreachable = outage(error)
    if unreachable:
        logger.warning("REST message not handled: %s unreachable", unreachable)
    else:
        logger.exception("REST message could not be handled")
    return unreachable


def not_handled(unreachable: str | None) -> dict[str, str]:
    """What a REST client is told when its message's turn did not happen."""
    if unreachable:
        return {"error": f"{unreachable} is unreachable: the message was not handled, send it again"}
    return {"error": "the message could not be handled"}


class AntreanRestInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "antrean"

    def __init__(self, token: str | None = None) -> None:
        self._services = None
        # Read once at start-up: rotating the token means restarting the Rasa server.
        self.token = token if token is not None else rest_token()

    @property
    def services(self):
        # Built on first use so that loading credentials.yml connects to nothing.
        if self._services is None:
            from antrean.runtime.bootstrap import booking_service, media_store

            self._services = (booking_service(), media_store())
        return self._services

    def _extract_message(self, req: Request) -> str | None:
        body = req.json or {}
        if body.get("photo_base64"):
            return photo_message_text(body.get("message"))
        return body.get("message")

    def _extract_input_channel(self, req: Request) -> str:
        return self.name()  # not the client's `input_channel`: it would pass for another channel

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        metadata = client_metadata(request.json)
        metadata.update(getattr(request.ctx, "photo_metadata", None) or {})
        return metadata or None

    async def _authorise(self, request: Request):
        if self.token is None:
            return None
        route = getattr(request, "route", None)
        if route is not None and route.name.rsplit(".", 1)[-1] in PUBLIC_ROUTES:
            return None
        scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
        # compare_digest: the time taken does not tell how much of a guessed token was right.
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return None
        return response.json({"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"})

    async def _refuse_if_open(self, app, _loop) -> None:
        """Runs before the server binds (in Rasa's main process, before any worker is forked)."""
        host, unix = getattr(app.state, "host", None), getattr(app.state, "unix", None)
        if self.token is None and not unix and not is_loopback(host):
            raise OpenChannelRefused(
                f"The REST channel (/webhooks/antrean/…) would listen on {host or 'a given socket'} without "
                f"{TOKEN_ENV}: anyone who can reach it could talk as any sender and read staff replies. Set "
                f"{TOKEN_ENV} to a long random token (clients send it as 'Authorization: Bearer …'), or listen "
                "on 127.0.0.1 only (rasa run --interface 127.0.0.1).")

    async def _before_start(self, app, loop) -> None:
        await self._refuse_if_open(app, loop)  # also for servers started without a main process
        limit_bodies(app)  # for every route of the Rasa server that does not read its own body
        worker_cpus.pin_this_worker()

    async def _ingest_in_background(self, request: Request) -> None:
        """Check and store an uploaded photo on this process's photo thread before Rasa's
        (synchronous) `get_metadata` runs: Pillow's decoding and blur check take tens of
        milliseconds, which on the event loop would stall every other conversation of this server."""
        body = request.json
        photo = body.get("photo_base64") if isinstance(body, dict) else None
        if isinstance(photo, str) and photo:
            loop = asyncio.get_running_loop()
            request.ctx.photo_metadata = await loop.run_in_executor(
                photo_checker(), self._ingest, photo, str(body.get("sender") or ""),
                client_metadata(body).get("office_id"))

    def _ingest(self, photo: str, sender: str, office_id: str | None) -> dict[str, Any]:
        booking, media = self.services
        if not booking.registration_open(office_id):
            return not_kept_metadata()  # no registration could use it: neither decoded nor kept
        data = b""  # unreadable or oversized uploads are checked as empty: "not an image" for the applicant
        if len(photo) <= MAX_PHOTO_BASE64_CHARS:
            try:
                data = base64.b64decode(photo, validate=True)
            except (binascii.Error, ValueError):
                logger.info("photo upload is not valid base64")
        ref, check = ingest_photo(media, data, owner=sender)
        return photo_metadata(ref, check)

    async def _receive(self, request: Request, on_new_message):
        """Rasa's RestInput webhook, on a streaming route: the token middleware has run on the
        headers alone, and the body is read here, up to MAX_BODY_BYTES."""
        body = await read_limited(request, MAX_BODY_BYTES)
        if body is None:
            return response.json({"error": "payload too large"}, status=413)
        request.body = body  # request.json parses it from here on
        if not isinstance(request.json, dict):
            return response.json({"error": "the body must be a JSON object"}, status=400)
        await self._ingest_in_background(request)
        sender_id = await self._extract_sender(request)
        text = self._extract_message(request)
        input_channel = self._extract_input_channel(request)
        metadata = self.get_metadata(request)
        if rasa.utils.endpoints.bool_arg(request, "stream", default=False):
            return response.stream(self.stream_response(on_new_message, text, sender_id, input_channel, metadata),
                                   content_type="text/event-stream")
        collector = CollectingOutputChannel()
        try:
            await on_new_message(UserMessage(text, collector, sender_id, input_channel=input_channel,
                                             metadata=metadata))
        except asyncio.CancelledError:
            logger.error("REST message timed out")
        except Exception as error:
            unreachable = _log_unhandled(error)
            if unreachable:  # the turn did not happen (antrean/assistant/outage_fails_turn.py): send it again
                return response.json(not_handled(unreachable), status=503, headers={"Retry-After": "5"})
        return response.json(collector.messages)

    @staticmethod
    async def on_message_wrapper(on_new_message, text, queue, sender_id, input_channel, metadata) -> None:
        # The streamed answer (`?stream=true`). Rasa's wrapper ends the stream only when the turn
        # succeeds: after any error the client waited for ever. Here the stream always ends, after
        # an error line when the turn did not happen.
        try:
            await on_new_message(UserMessage(text, QueueOutputChannel(queue), sender_id,
                                             input_channel=input_channel, metadata=metadata))
        except Exception as error:
            await queue.put(not_handled(_log_unhandled(error)))
        finally:
            await queue.put("DONE")

    def blueprint(self, on_new_message) -> Blueprint:
        # Rasa's RestInput blueprint, rebuilt: its webhook is an ordinary route, whose whole body
        # (up to Sanic's limit) Sanic reads before any middleware, the token check included.
        blueprint = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        blueprint.middleware("request")(self._authorise)
        blueprint.listener("main_process_start")(self._refuse_if_open)
        blueprint.listener("before_server_start")(self._before_start)

        @blueprint.middleware("response")
        async def name_the_worker(_request: Request, reply) -> None:
            reply.headers[WORKER_HEADER] = worker_token()
            agent = getattr(_request.app.ctx, "agent", None)
            if agent is not None and agent.fingerprint:
                reply.headers[MODEL_HEADER] = agent.fingerprint.strip('"')

        @blueprint.route("/", methods=["GET"])
        async def health(_request: Request):
            return response.json({"status": "ok"})

        @blueprint.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request):
            return await self._receive(request, on_new_message)

        @blueprint.route(tickets.ROUTE, methods=["GET"])
        async def ticket(request: Request, filename: str):
            booking_service, _ = self.services
            code = tickets.code_of_filename(filename)
            booking = booking_service.get_by_code(code) if code else None
            if booking is None:
                return response.json({"error": "unknown booking code"}, status=404)
            office = booking_service.office(booking.office_id)
            png = await asyncio.get_running_loop().run_in_executor(None, tickets.ticket_png, booking, office)
            return response.raw(png, content_type="image/png",
                                headers={"Cache-Control": "private, no-store"})

        @blueprint.route("/balasan/<sender>", methods=["GET"])
        async def staff_replies(request: Request, sender: str):
            import asyncio

            from antrean.handoff import service as handoff

            booking_service, _ = self.services
            after = request.args.get("setelah", "0")
            replies = await asyncio.to_thread(handoff.replies_for, booking_service.engine, sender[:100],
                                              int(after) if after.isdigit() else 0)
            return response.json({"replies": replies}, headers={"Cache-Control": "private, no-store"})

        return blueprint
