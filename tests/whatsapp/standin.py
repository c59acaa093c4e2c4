"""A local stand-in for the WhatsApp Cloud API (Graph API), following Meta's documented contract:

    GET  /{version}/{media-id}               bearer → {messaging_product, url, mime_type, sha256 (hex), file_size, id}
    GET  <url>                               bearer → the media bytes (the URL expires)
    POST /{version}/{phone-number-id}/messages  bearer, JSON → {messaging_product, contacts, messages: [{id}]}
        addressed with `to` (a phone number) or `recipient` (a business-scoped user ID, for users
        without a shared number); `to` wins when both are given. The answer's contact names the
        input and the `wa_id` (phone sends) or the `user_id` (BSUID sends).
    POST /{version}/{phone-number-id}/media     bearer, multipart (messaging_product, type, file) → {id}

and what `python -m antrean whatsapp check` reads about the account (an `Account` the test can change):

    GET  /{version}/debug_token?input_token=…   bearer → {data: {app_id, type, application, is_valid,
                                                 expires_at, scopes, granular_scopes: [{scope, target_ids}]}}
    GET  /{version}/{phone-number-id}?fields=…  bearer → {id, display_phone_number, verified_name,
                                                 quality_rating, platform_type, code_verification_status,
                                                 name_status, status}, only the fields asked for
    GET  /{version}/{waba-id}/phone_numbers      bearer → {data: [phone number nodes]}
    GET  /{version}/{waba-id}/subscribed_apps    bearer → {data: [{whatsapp_business_api_data: {id, link, name}}]}
    GET  /{version}/{waba-id}/message_templates?name=…  bearer → {data: [{name, language, status, category,
                                                 components: [{type, text}], id}]}
    GET  /{version}/{app-id}/subscriptions?access_token={app-id}|{app-secret}  (an app token, not the
                                                 bearer) → {data: [{object, callback_url, active,
                                                                    fields: [{name, version}]}]}

Errors look like Meta's ({"error": {"message", "type", "code", "fbtrace_id"}}) and can be injected:
429/130429, 500, and expired media URLs. An unknown node is code 100, subcode 33; a bad token 190.
It runs an aiohttp server in a thread of its own so that synchronous tests and separate processes (a
running Rasa stack) can both use it."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import re
import secrets
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field

from aiohttp import web

TOKEN = "standin-access-token-0123456789"
BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")
APP_ID = "1234567890123456"
WABA_ID = "102290129340398"


@dataclass
class PhoneNumber:
    id: str
    display_phone_number: str
    verified_name: str
    quality_rating: str = "GREEN"
    platform_type: str = "CLOUD_API"
    code_verification_status: str = "VERIFIED"
    name_status: str = "APPROVED"
    status: str = "CONNECTED"

    def node(self, fields: str | None) -> dict:
        everything = {key: value for key, value in vars(self).items()}
        wanted = [f for f in (fields or "").split(",") if f] or ["id", "display_phone_number", "verified_name",
                                                                 "quality_rating"]
        return {"id": self.id, **{f: everything[f] for f in wanted if f in everything}}


@dataclass
class Account:
    """What Meta knows about the business: the app, its WhatsApp Business Account, numbers, webhook,
    templates. Defaults are a healthy, fully set-up account; tests break one part at a time."""

    app_id: str = APP_ID
    app_secret: str = ""  # the app token is app_id|app_secret
    waba_id: str = WABA_ID
    token_valid: bool = True
    token_expires_at: int = 0  # 0: never (a system-user token)
    scopes: list[str] = field(default_factory=lambda: ["whatsapp_business_messaging",
                                                       "whatsapp_business_management"])
    numbers: dict[str, PhoneNumber] = field(default_factory=dict)
    app_subscribed_to_waba: bool = True
    callback_url: str | None = None  # None: no webhook configured for whatsapp_business_account
    callback_active: bool = True
    callback_fields: list[str] = field(default_factory=lambda: ["messages"])
    templates: list[dict] = field(default_factory=list)

    def add_number(self, number_id: str, display: str, name: str, **changes) -> PhoneNumber:
        self.numbers[number_id] = PhoneNumber(number_id, display, name, **changes)
        return self.numbers[number_id]


def template(name: str, language: str = "id", status: str = "APPROVED", category: str = "UTILITY",
             body: str = "Halo {{1}}, besok {{2}} sesi {{3}}: nomor antrean {{4}} di {{5}}. Kode {{6}}.") -> dict:
    return {"name": name, "language": language, "status": status, "category": category, "id": "9876543210",
            "components": [{"type": "BODY", "text": body}]}


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
        self.requests = 0  # every request, whatever its route
        self.tampered: set[str] = set()  # media ids whose download differs from their announced sha256
        self.ids = itertools.count(1)
        self.account = Account()
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
        """Messages that went to this phone number or (sent with `recipient`) this BSUID."""
        with self.lock:
            return [m for m in self.sent if (m.get("to") or m.get("recipient")) == wa_id]

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
        @web.middleware
        async def count(request, handler):
            with self.lock:
                self.requests += 1
            return await handler(request)

        app = web.Application(client_max_size=20 * 1024 * 1024, middlewares=[count])
        app.router.add_get("/download/{token}", self._download)
        app.router.add_get(f"/{self.version}/debug_token", self._debug_token)
        app.router.add_get(f"/{self.version}/{{node_id}}/{{edge}}", self._edge)
        app.router.add_get(f"/{self.version}/{{media_id}}", self._node)
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

    # --- the account ------------------------------------------------------------------------------

    def _bearer_ok(self, request: web.Request) -> bool:
        return self._authorised(request) and self.account.token_valid

    async def _debug_token(self, request: web.Request) -> web.Response:
        if not self._bearer_ok(request):
            return _error(401, 190, "Error validating access token: Session has expired or the token is invalid")
        account = self.account
        if request.query.get("input_token") != self.token:
            return web.json_response({"data": {"is_valid": False, "error": {"code": 190, "message":
                                               "Invalid OAuth access token."}}})
        return web.json_response({"data": {
            "app_id": account.app_id, "type": "SYSTEM_USER", "application": "Antrean", "is_valid": True,
            "expires_at": account.token_expires_at, "data_access_expires_at": 0, "scopes": list(account.scopes),
            "granular_scopes": [{"scope": scope, "target_ids": [account.waba_id]} for scope in account.scopes
                                if scope.startswith("whatsapp_")]}})

    async def _node(self, request: web.Request) -> web.Response:
        """GET /{id}: a phone number of the account, otherwise a received media item."""
        number = self.account.numbers.get(request.match_info["media_id"])
        if number is None:
            return await self._media_info(request)
        if not self._bearer_ok(request):
            return _error(401, 190, "Invalid OAuth access token")
        return web.json_response(number.node(request.query.get("fields")))

    async def _edge(self, request: web.Request) -> web.Response:
        node, edge, account = request.match_info["node_id"], request.match_info["edge"], self.account
        if node == account.app_id and edge == "subscriptions":  # needs the app's own token
            if request.query.get("access_token") != f"{account.app_id}|{account.app_secret}":
                return _error(400, 190, "Invalid OAuth access token signature.")
            subscriptions = [] if account.callback_url is None else [{
                "object": "whatsapp_business_account", "callback_url": account.callback_url,
                "active": account.callback_active,
                "fields": [{"name": name, "version": self.version} for name in account.callback_fields]}]
            return web.json_response({"data": subscriptions})
        if not self._bearer_ok(request):
            return _error(401, 190, "Invalid OAuth access token")
        if node != account.waba_id or "whatsapp_business_management" not in account.scopes:
            return _error(400, 100, f"Unsupported get request. Object with ID '{node}' does not exist, cannot be "
                                    "loaded due to missing permissions, or does not support this operation", 33)
        if edge == "phone_numbers":
            return web.json_response({"data": [n.node("id,display_phone_number,verified_name,quality_rating")
                                               for n in account.numbers.values()]})
        if edge == "subscribed_apps":
            apps = [{"whatsapp_business_api_data": {"id": account.app_id, "link": "https://antrean.example",
                                                    "name": "Antrean"}}] if account.app_subscribed_to_waba else []
            return web.json_response({"data": apps})
        if edge == "message_templates":
            wanted = request.query.get("name")
            return web.json_response({"data": [t for t in account.templates if not wanted or t["name"] == wanted],
                                      "paging": {"cursors": {}}})
        return _error(400, 100, "Unknown path components", 2500)

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
        to, recipient = body.get("to"), body.get("recipient")
        if body.get("messaging_product") != "whatsapp" or not (to or recipient) or body.get("type") not in body:
            return _error(400, 100, "Invalid parameter")
        if not to and not (isinstance(recipient, str) and BSUID.fullmatch(recipient)):
            return _error(400, 100, "Invalid parameter")
        wamid = f"wamid.standin{next(self.ids)}"
        with self.lock:
            self.sent.append({**body, "phone_number_id": request.match_info["phone_number_id"], "wamid": wamid})
        contact = {"input": to, "wa_id": to} if to else {"input": recipient, "user_id": recipient}
        return web.json_response({"messaging_product": "whatsapp", "contacts": [contact],
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


def _error(status: int, code: int, message: str, subcode: int | None = None) -> web.Response:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AStandInTrace"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return web.json_response({"error": error}, status=status)
