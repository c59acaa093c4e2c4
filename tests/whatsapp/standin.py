"""A local stand-in for the WhatsApp Cloud API (Graph API), following Meta's documented contract:

    GET  /{version}/{media-id}               bearer → {messaging_product, url, mime_type, sha256 (hex), file_size, id}
    GET  <url>                               bearer → the media bytes (the URL expires)
    POST /{version}/{phone-number-id}/messages  bearer, JSON → {messaging_product, contacts, messages: [{id}]}
    POST /{version}/{phone-number-id}/media     bearer, multipart (messaging_product, type, file) → {id}

Errors look like Meta's ({"error": {"message", "type", "code", "fbtrace_id"}}) and can be injected:
429/130429, 500, and expired media URLs. It runs an aiohttp server in a thread of its own so that
synchronous tests and separate processes (a running Rasa stack) can both use it."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
import threading
from collections import defaultdict, deque
from dataclasses import dataclass

from aiohttp import web

TOKEN = "standin-access-token-0123456789"


@dataclass
class Upload:
    phone_number_id: str
    mime_type: str
    data: bytes
    media_id: str


class GraphStandIn:
    def __init__(self, token: str = TOKEN, version: str = "v21.0"):
        self.token = token
        self.version = version
        self.lock = threading.Lock()
        self.sent: list[dict] = []  # every accepted /messages body, with "phone_number_id" added
        self.uploads: list[Upload] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self.download_tokens: dict[str, str] = {}  # token -> media id
        self.failures: dict[str, deque] = defaultdict(deque)  # route -> [(status, code)]
        self.calls: dict[str, int] = defaultdict(int)
        self.unauthorised = 0
        self.tampered: set[str] = set()  # media ids whose download differs from their announced sha256
        self.ids = itertools.count(1)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- test controls --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_media(self, data: bytes, mime_type: str = "image/jpeg") -> str:
        media_id = f"{next(self.ids) + 900000000000000}"
        with self.lock:
            self.media[media_id] = (data, mime_type)
        return media_id

    def fail(self, route: str, status: int, code: int | None = None, times: int = 1) -> None:
        """The next `times` calls of a route ("messages", "media", "media_info", "download") fail."""
        with self.lock:
            self.failures[route].extend([(status, code)] * times)

    def expire_issued_urls(self) -> None:
        with self.lock:
            self.download_tokens.clear()

    def sent_to(self, wa_id: str) -> list[dict]:
        with self.lock:
            return [m for m in self.sent if m.get("to") == wa_id]

    # --- server ---------------------------------------------------------------------------------

    def start(self) -> GraphStandIn:
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            runner = web.AppRunner(self._app(), access_log=None)
            self._loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
            started.set()
            self._loop.run_forever()
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name="graph-standin")
        self._thread.start()
        started.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_get("/download/{token}", self._download)
        app.router.add_get(f"/{self.version}/{{media_id}}", self._media_info)
        app.router.add_post(f"/{self.version}/{{phone_number_id}}/messages", self._messages)
        app.router.add_post(f"/{self.version}/{{phone_number_id}}/media", self._upload)
        return app

    # --- handlers -------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        ok = request.headers.get("Authorization") == f"Bearer {self.token}"
        if not ok:
            with self.lock:
                self.unauthorised += 1
        return ok

    def _injected(self, route: str) -> web.Response | None:
        with self.lock:
            self.calls[route] += 1
            if not self.failures[route]:
                return None
            status, code = self.failures[route].popleft()
        return _error(status, code or (130429 if status == 429 else 2), "injected failure")

    async def _media_info(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 190, "Invalid OAuth access token")
        failure = self._injected("media_info")
        if failure is not None:  # an aiohttp Response is an empty mapping: falsy
            return failure
        media_id = request.match_info["media_id"]
        with self.lock:
            found = self.media.get(media_id)
            if found:
                token = secrets.token_urlsafe(12)
                self.download_tokens[token] = media_id
        if not found:
            return _error(404, 100, "Unsupported get request")
        data, mime = found
        return web.json_response({"messaging_product": "whatsapp", "url": f"{self.url}/download/{token}?ext=1",
                                  "mime_type": mime, "sha256": hashlib.sha256(data).hexdigest(),
                                  "file_size": str(len(data)), "id": media_id})

    async def _download(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 190, "Invalid OAuth access token")
        failure = self._injected("download")
        if failure is not None:  # an aiohttp Response is an empty mapping: falsy
            return failure
        with self.lock:
            media_id = self.download_tokens.get(request.match_info["token"])
            found = self.media.get(media_id) if media_id else None
        if not found:
            return web.Response(status=404, text="URL signature expired")
        data, mime = found
        if media_id in self.tampered:
            data = data[:-1] + bytes([data[-1] ^ 1])
        return web.Response(body=data, content_type=mime)

    async def _messages(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 190, "Invalid OAuth access token")
        failure = self._injected("messages")
        if failure is not None:  # an aiohttp Response is an empty mapping: falsy
            return failure
        try:
            body = await request.json()
        except ValueError:
            return _error(400, 100, "Invalid parameter")
        if body.get("messaging_product") != "whatsapp" or not body.get("to") or body.get("type") not in body:
            return _error(400, 100, "Invalid parameter")
        wamid = f"wamid.standin{next(self.ids)}"
        with self.lock:
            self.sent.append({**body, "phone_number_id": request.match_info["phone_number_id"], "wamid": wamid})
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                                  "messages": [{"id": wamid}]})

    async def _upload(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 190, "Invalid OAuth access token")
        failure = self._injected("media")
        if failure is not None:  # an aiohttp Response is an empty mapping: falsy
            return failure
        form = await request.post()
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp" or not hasattr(upload, "file") or not form.get("type"):
            return _error(400, 100, "Invalid parameter")
        data = upload.file.read()
        media_id = self.add_media(data, str(form["type"]))
        with self.lock:
            self.uploads.append(Upload(request.match_info["phone_number_id"], str(form["type"]), data, media_id))
        return web.json_response({"id": media_id})


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "OAuthException", "code": code,
                                        "fbtrace_id": "AStandInTrace"}}, status=status)
