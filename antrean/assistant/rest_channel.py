"""Rasa's REST channel plus what Antrean needs from every channel:

- photos: a JSON body may carry `photo_base64` (and `message` as its caption); the photo is checked
  and stored through the media contract (antrean.media.contract), exactly as the WhatsApp channel
  does, so end-to-end tests can register with an e-KTP photo without WhatsApp;
- metadata: `metadata` from the body is passed on (e.g. `office_id`, `wa_id`);
- the QR ticket: `GET /webhooks/antrean/tiket/<code>.png` for an authentic, existing booking code;
- staff replies to a handoff: `GET /webhooks/antrean/balasan/<sender>?setelah=<id>` lists what staff
  answered from the console (REST has no push; the client asks), oldest first.

POST /webhooks/antrean/webhook  {"sender": "6281…", "message": "…", "metadata": {…}, "photo_base64": "…"}

Protection: the channel is for tests, the simulator and trusted integrations, and `balasan` hands
out staff replies for any sender id. With `ANTREAN_REST_TOKEN` set, every route except the health
check and the QR ticket (its code is an unguessable, HMAC-checked booking code) needs
`Authorization: Bearer <token>`; anything else gets 401 before the body is read or a photo stored.
Unset, the channel is open as before, and a warning is logged once at start-up when the server
listens on a non-loopback interface. Clients in this repository send the header with
`client_headers()`."""

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

from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request

from antrean.assistant import worker_cpus
from antrean.media import ticket as tickets
from antrean.media.contract import ingest_photo, photo_checker, photo_message_text, photo_metadata
from antrean.runtime.settings import Settings, resolve

logger = logging.getLogger(__name__)

MAX_PHOTO_BASE64_CHARS = 8 * 1024 * 1024  # ~6 MB decoded: a little above the 5 MB photo limit
TOKEN_ENV = "ANTREAN_REST_TOKEN"
# Routes anyone may call even with a token set (fail closed: a route added later is protected).
PUBLIC_ROUTES = frozenset({"health", "ticket"})
# Which Rasa worker process answered (a hash, not its pid): lets `Stack.wait_until_ready` wait until
# every worker has loaded the model, and shows how requests spread over the workers.
WORKER_HEADER = "X-Antrean-Worker"
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


def is_loopback(host: str | None) -> bool:
    if not host or host == "localhost":
        return bool(host)
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


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

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        body = request.json or {}
        metadata = dict(body.get("metadata") or {}) if isinstance(body.get("metadata"), dict) else {}
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

    async def _warn_if_open(self, app, _loop) -> None:
        host = getattr(app.state, "host", None)
        if self.token is None and host is not None and not is_loopback(host):
            logger.warning("The REST channel (/webhooks/antrean/…) listens on %s without %s: anyone who can "
                           "reach it can talk as any sender and read staff replies. Set %s.", host, TOKEN_ENV,
                           TOKEN_ENV)

    async def _pin_worker(self, _app, _loop) -> None:
        worker_cpus.pin_this_worker()

    async def _ingest_in_background(self, request: Request) -> None:
        """Check and store an uploaded photo on a worker thread before Rasa's (synchronous)
        `get_metadata` runs: Pillow's decoding and blur check take tens of milliseconds, which on
        the event loop would stall every other conversation of this Rasa server."""
        body = request.json if request.method == "POST" else None
        photo = body.get("photo_base64") if isinstance(body, dict) else None
        if isinstance(photo, str) and photo:
            loop = asyncio.get_running_loop()
            request.ctx.photo_metadata = await loop.run_in_executor(
                photo_checker(), self._ingest, photo, str(body.get("sender") or ""))

    def _ingest(self, photo: str, sender: str) -> dict[str, Any]:
        data = b""  # unreadable or oversized uploads are checked as empty: "not an image" for the applicant
        if len(photo) <= MAX_PHOTO_BASE64_CHARS:
            try:
                data = base64.b64decode(photo, validate=True)
            except (binascii.Error, ValueError):
                logger.info("photo upload is not valid base64")
        _, media = self.services
        ref, check = ingest_photo(media, data, owner=sender)
        return photo_metadata(ref, check)

    def blueprint(self, on_new_message) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        # Registered first: a refused request is answered before the photo middleware runs.
        blueprint.middleware("request")(self._authorise)
        blueprint.middleware("request")(self._ingest_in_background)
        blueprint.listener("after_server_start")(self._warn_if_open)
        blueprint.listener("before_server_start")(self._pin_worker)

        @blueprint.middleware("response")
        async def name_the_worker(_request: Request, reply) -> None:
            reply.headers[WORKER_HEADER] = worker_token()

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
