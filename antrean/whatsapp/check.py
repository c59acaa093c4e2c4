"""`python -m antrean whatsapp check`: is this installation connected to WhatsApp, and if not, what is
wrong — in plain words, one finding per thing checked, each problem with what to do about it.

It reads, never changes (GET requests only), what Meta's Graph API documents about the account:

- the access token (``GET /debug_token``): valid, not expiring, allowed to send messages
  (``whatsapp_business_messaging``) and to read the account (``whatsapp_business_management``);
- each office's phone number id of ``config/offices.yml`` (``GET /{phone-number-id}``): known to this
  token, registered for the Cloud API, connected; and the account's numbers no office claims
  (``GET /{waba-id}/phone_numbers``);
- the app subscribed to the WhatsApp Business Account (``GET /{waba-id}/subscribed_apps``), and the
  app's webhook (``GET /{app-id}/subscriptions`` with the app token ``{app-id}|{app-secret}``, which
  also proves ANTREAN_WA_APP_SECRET is that app's): the callback URL this installation expects,
  active, with the ``messages`` field;
- the webhook itself, as Meta's verification handshake reaches it (hub.challenge echoed back);
- the reminder template (``GET /{waba-id}/message_templates``): approved, in the configured
  language, with as many body parameters as ANTREAN_WA_REMINDER_PARAMETERS names.

No token, secret or phone number of an applicant is ever printed."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum

import httpx

from antrean.booking.offices import Office
from antrean.runtime.settings import Settings

WEBHOOK_PATH = "/webhooks/whatsapp/webhook"
NUMBER_FIELDS = "id,display_phone_number,verified_name,quality_rating,platform_type,code_verification_status," \
                "name_status,status"
SEND_SCOPE, MANAGE_SCOPE = "whatsapp_business_messaging", "whatsapp_business_management"
LIMITED = {"FLAGGED", "RATE_LIMITED", "RESTRICTED"}  # connected, but Meta limits the number
PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


class Level(str, Enum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "PROBLEM"


@dataclass(frozen=True)
class Finding:
    level: Level
    subject: str
    text: str

    def __str__(self) -> str:
        return f"{self.level.value:>7}  {self.subject}: {self.text}"


class GraphRefused(Exception):
    def __init__(self, status: int | None, code: int | None, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def __str__(self) -> str:
        if self.status is None:
            return self.message
        return f"Meta answered HTTP {self.status}" + (f", error {self.code}" if self.code is not None else "") \
            + (f": {self.message}" if self.message else "")


class Graph:
    """GET requests to the Graph API; errors as GraphRefused with Meta's code and message."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient):
        self.base = f"{settings.whatsapp.graph_url}/{settings.whatsapp.graph_version}"
        self.token = settings.whatsapp.access_token or ""
        self.http = http

    async def get(self, path: str, params: dict | None = None, *, app_token: str | None = None) -> dict:
        headers = {} if app_token else {"Authorization": f"Bearer {self.token}"}
        params = dict(params or {})
        if app_token:
            params["access_token"] = app_token
        try:
            reply = await self.http.get(f"{self.base}/{path}", params=params, headers=headers)
        except httpx.HTTPError as error:
            raise GraphRefused(None, None, f"the Graph API at {self.base} cannot be reached "
                                           f"({error.__class__.__name__})") from None
        try:
            body = reply.json()
        except ValueError:
            body = {}
        if reply.status_code >= 400 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
            code = error.get("code") if isinstance(error.get("code"), int) else None
            raise GraphRefused(reply.status_code, code, str(error.get("message") or "")[:300])
        return body


@dataclass
class Report:
    findings: list[Finding]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.PROBLEM]

    def text(self) -> str:
        lines = [str(f) for f in self.findings]
        if self.problems:
            lines.append(f"\n{len(self.problems)} problem(s): WhatsApp is not fully connected "
                         "(docs/going-live.md says how to fix each).")
        else:
            lines.append("\nWhatsApp is connected.")
        return "\n".join(lines)


def expected_webhook_url(settings: Settings) -> str | None:
    if settings.whatsapp.webhook_url:
        return settings.whatsapp.webhook_url
    return f"{settings.assistant.public_url}{WEBHOOK_PATH}" if settings.assistant.public_url else None


async def check(settings: Settings, offices: dict[str, Office], http: httpx.AsyncClient | None = None) -> Report:
    own_client = http is None
    http = http or httpx.AsyncClient(timeout=15.0, follow_redirects=False)
    findings: list[Finding] = []
    try:
        await _check(settings, offices, Graph(settings, http), http, findings)
    finally:
        if own_client:
            await http.aclose()
    return Report(findings)


async def _check(settings: Settings, offices: dict[str, Office], graph: Graph, http: httpx.AsyncClient,
                 findings: list[Finding]) -> None:
    def note(level: Level, subject: str, text: str) -> None:
        findings.append(Finding(level, subject, text))

    whatsapp = settings.whatsapp
    if not whatsapp.access_token:
        note(Level.PROBLEM, "mode", "ANTREAN_WA_ACCESS_TOKEN is not set, so WhatsApp runs in sandbox mode: replies "
             "are recorded in the database, nothing is sent. Set it to go live (docs/going-live.md).")
        return
    for name, value in (("ANTREAN_WA_VERIFY_TOKEN", whatsapp.verify_token), ("ANTREAN_WA_APP_SECRET",
                                                                            whatsapp.app_secret)):
        if not value:
            note(Level.PROBLEM, "settings", f"{name} is not set: the webhook refuses to start without it.")
    webhook_url = expected_webhook_url(settings)
    if webhook_url is None:
        note(Level.PROBLEM, "settings", "neither ANTREAN_WA_WEBHOOK_URL nor ANTREAN_PUBLIC_URL is set: there is "
             "no address to give Meta as the webhook's callback URL.")
    elif not webhook_url.startswith("https://"):
        note(Level.PROBLEM, "settings", f"the webhook address {webhook_url} is not https://: Meta only calls "
             "HTTPS callback URLs with a valid certificate.")

    # The token: everything else is read with it.
    try:
        token = (await graph.get("debug_token", {"input_token": graph.token})).get("data") or {}
    except GraphRefused as refused:
        note(Level.PROBLEM, "access token", _token_refused(refused))
        return
    if not token.get("is_valid"):
        note(Level.PROBLEM, "access token", "Meta says the token is not valid (expired, revoked or mistyped): "
             "generate a new one for the system user and set ANTREAN_WA_ACCESS_TOKEN.")
        return
    scopes = set(token.get("scopes") or [])
    expires = token.get("expires_at") or 0
    if SEND_SCOPE not in scopes:
        note(Level.PROBLEM, "access token", f"the token may not send messages (no {SEND_SCOPE} permission): "
             "generate it with that permission for the system user.")
    elif expires:
        when = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        note(Level.WARNING, "access token", f"valid, but it expires on {when}: replies stop then. Use a system "
             "user's token that never expires.")
    else:
        note(Level.OK, "access token", f"valid, never expires, may send messages (app {token.get('app_id')}).")
    if MANAGE_SCOPE not in scopes:
        note(Level.WARNING, "access token", f"without the {MANAGE_SCOPE} permission the account's numbers, "
             "webhook subscription and templates cannot be checked.")
    app_id = str(token.get("app_id") or "")
    accounts = sorted({str(t) for g in token.get("granular_scopes") or [] if isinstance(g, dict)
                       and g.get("scope") in (SEND_SCOPE, MANAGE_SCOPE) for t in g.get("target_ids") or []})

    await _check_numbers(graph, offices, accounts, MANAGE_SCOPE in scopes, note)
    if MANAGE_SCOPE in scopes:
        await _check_account_subscriptions(graph, accounts, app_id, note)
    await _check_app_webhook(graph, app_id, whatsapp.app_secret, webhook_url, note)
    if webhook_url and whatsapp.verify_token:
        await _check_handshake(http, webhook_url, whatsapp.verify_token, note)
    if MANAGE_SCOPE in scopes:
        await _check_template(graph, accounts, settings, note)


def _token_refused(refused: GraphRefused) -> str:
    if refused.code == 190:
        return ("Meta does not accept ANTREAN_WA_ACCESS_TOKEN (expired, revoked or mistyped; error 190): "
                "generate a new token for the system user in Business Settings → System users.")
    return f"the token could not be checked: {refused}"


async def _check_numbers(graph: Graph, offices: dict[str, Office], accounts: list[str], can_list: bool,
                         note) -> None:
    claimed: dict[str, str] = {}
    for office in offices.values():
        if not office.whatsapp_phone_number_ids:
            note(Level.WARNING, f"office {office.id}", "no WhatsApp phone number id in config/offices.yml: its "
                 "applicants cannot reach it on WhatsApp (and the console's simulator does not offer it).")
        for number_id in office.whatsapp_phone_number_ids:
            claimed[number_id] = office.id
            subject = f"number {number_id} ({office.short_name})"
            try:
                number = await graph.get(number_id, {"fields": NUMBER_FIELDS})
            except GraphRefused as refused:
                if refused.code == 100:
                    note(Level.PROBLEM, subject, "Meta knows no such phone number id for this token (error 100): "
                         "copy the id from WhatsApp Manager → Phone numbers (not the phone number itself) into "
                         f"whatsapp_phone_number_ids of {office.id} in config/offices.yml.")
                else:
                    note(Level.PROBLEM, subject, f"could not be read: {refused}")
                continue
            note(*_number_finding(subject, number))
    if not can_list:
        return
    for account in accounts:
        try:
            listed = (await graph.get(f"{account}/phone_numbers")).get("data") or []
        except GraphRefused as refused:
            note(Level.WARNING, f"account {account}", f"its phone numbers could not be listed: {refused}")
            continue
        for number in listed:
            number_id = str(number.get("id"))
            if number_id not in claimed:
                note(Level.WARNING, f"number {number_id}", f"{number.get('display_phone_number')} "
                     f"(“{number.get('verified_name')}”) belongs to the WhatsApp account but to no office in "
                     "config/offices.yml: messages to it are answered without knowing the office.")


def _number_finding(subject: str, number: dict) -> tuple[Level, str, str]:
    shown = f"{number.get('display_phone_number')} “{number.get('verified_name')}”"
    platform, status = number.get("platform_type"), number.get("status")
    if platform and platform != "CLOUD_API":
        return (Level.PROBLEM, subject, f"{shown} is not registered for the Cloud API (platform {platform}): "
                "register it (POST /{phone-number-id}/register with its two-step PIN, docs/going-live.md).")
    if status in LIMITED:
        return (Level.WARNING, subject, f"{shown} is connected but {status}: Meta limits what it may send; read "
                "its status in WhatsApp Manager → Phone numbers.")
    if status and status != "CONNECTED":
        return (Level.PROBLEM, subject, f"{shown} is {status}, not CONNECTED: see its status in WhatsApp Manager "
                "→ Phone numbers.")
    # code_verification_status is left alone: after registration Meta reports the SMS code as
    # EXPIRED on perfectly healthy numbers.
    quality = number.get("quality_rating")
    if quality == "RED":
        return (Level.WARNING, subject, f"{shown} is connected, but its quality rating is RED: Meta may limit it; "
                "read the recent feedback in WhatsApp Manager.")
    if number.get("name_status") not in (None, "APPROVED", "AVAILABLE_WITHOUT_REVIEW"):
        return (Level.WARNING, subject, f"{shown} is connected; its display name is {number.get('name_status')} "
                "(applicants see the number until the name is approved).")
    return Level.OK, subject, f"{shown}, connected to the Cloud API, quality {quality or 'unknown'}."


async def _check_account_subscriptions(graph: Graph, accounts: list[str], app_id: str, note) -> None:
    if not accounts:
        note(Level.PROBLEM, "WhatsApp account", "the token is not allowed on any WhatsApp Business Account: "
             "give the system user the account as an asset, then generate the token again.")
        return
    for account in accounts:
        subject = f"account {account}"
        try:
            apps = (await graph.get(f"{account}/subscribed_apps")).get("data") or []
        except GraphRefused as refused:
            note(Level.PROBLEM, subject, f"its subscribed apps could not be read: {refused}")
            continue
        ids = {str((a.get("whatsapp_business_api_data") or {}).get("id")) for a in apps if isinstance(a, dict)}
        if app_id in ids:
            note(Level.OK, subject, f"app {app_id} is subscribed: its messages reach the webhook.")
        else:
            note(Level.PROBLEM, subject, f"app {app_id} is not subscribed to this WhatsApp Business Account, so "
                 f"Meta sends its messages nowhere: POST /{account}/subscribed_apps (docs/going-live.md).")


async def _check_app_webhook(graph: Graph, app_id: str, app_secret: str, webhook_url: str | None, note) -> None:
    if not app_id or not app_secret:
        return
    try:
        subscriptions = (await graph.get(f"{app_id}/subscriptions",
                                         app_token=f"{app_id}|{app_secret}")).get("data") or []
    except GraphRefused as refused:
        if refused.code == 190:
            note(Level.PROBLEM, "app secret", f"Meta refuses ANTREAN_WA_APP_SECRET as the secret of app {app_id}: "
                 "copy it from the app's Settings → Basic. With a wrong secret every webhook call is refused "
                 "(its signature does not match).")
        else:
            note(Level.PROBLEM, "webhook", f"the app's webhook subscription could not be read: {refused}")
        return
    found = next((s for s in subscriptions if isinstance(s, dict) and s.get("object") == "whatsapp_business_account"),
                 None)
    if found is None:
        note(Level.PROBLEM, "webhook", "the app has no webhook for WhatsApp: in the app's WhatsApp → Configuration, "
             f"set the callback URL {webhook_url or '(see ANTREAN_PUBLIC_URL)'} with ANTREAN_WA_VERIFY_TOKEN, "
             "and subscribe the messages field.")
        return
    fields = {f.get("name") for f in found.get("fields") or [] if isinstance(f, dict)}
    callback = found.get("callback_url")
    if webhook_url and callback != webhook_url:
        note(Level.PROBLEM, "webhook", f"Meta calls {callback}, but this installation's webhook is {webhook_url}: "
             "change the callback URL in the app's WhatsApp → Configuration (or ANTREAN_WA_WEBHOOK_URL).")
    elif not found.get("active"):
        note(Level.PROBLEM, "webhook", f"the subscription to {callback} is not active: verify and save it again.")
    elif "messages" not in fields:
        note(Level.PROBLEM, "webhook", f"Meta calls {callback} but not for the messages field: subscribe it in "
             "WhatsApp → Configuration → Webhook fields.")
    else:
        note(Level.OK, "webhook", f"Meta calls {callback} with messages.")


async def _check_handshake(http: httpx.AsyncClient, webhook_url: str, verify_token: str, note) -> None:
    challenge = str(secrets.randbelow(10**9))
    try:
        reply = await http.get(webhook_url, params={"hub.mode": "subscribe", "hub.verify_token": verify_token,
                                                    "hub.challenge": challenge})
    except httpx.HTTPError as error:
        note(Level.PROBLEM, "webhook", f"{webhook_url} cannot be reached from here ({error.__class__.__name__}): "
             "is the receiver running (`make run`, or `python -m antrean whatsapp receive`) and the address "
             "published through the proxy?")
        return
    if reply.status_code == 200 and reply.text == challenge:
        note(Level.OK, "webhook", f"{webhook_url} answers Meta's verification with this verify token.")
    elif reply.status_code == 403:
        note(Level.PROBLEM, "webhook", f"{webhook_url} refuses the verify token: the receiver there runs with "
             "another ANTREAN_WA_VERIFY_TOKEN than this one.")
    else:
        note(Level.PROBLEM, "webhook", f"{webhook_url} did not answer Meta's verification (HTTP {reply.status_code}): "
             "is it Antrean's receiver at that address?")


async def _check_template(graph: Graph, accounts: list[str], settings: Settings, note) -> None:
    whatsapp = settings.whatsapp
    name, language, wanted = whatsapp.reminder_template, whatsapp.reminder_language, len(whatsapp.reminder_parameters)
    subject = f"template {name} ({language})"
    found = []
    for account in accounts:
        try:
            found += (await graph.get(f"{account}/message_templates",
                                      {"name": name, "fields": "name,language,status,category,components"})
                      ).get("data") or []
        except GraphRefused as refused:
            note(Level.WARNING, subject, f"templates could not be read: {refused}")
            return
    template = next((t for t in found if t.get("name") == name and t.get("language") == language), None)
    if template is None:
        note(Level.PROBLEM, subject, "not found: submit the reminder template (category Utility, "
             f"{wanted} body parameters) in WhatsApp Manager → Message templates. Without it, reminders reach only "
             "applicants who wrote in the last 24 hours.")
        return
    body = next((c.get("text") or "" for c in template.get("components") or [] if c.get("type") == "BODY"), "")
    count = len(set(PLACEHOLDER.findall(body)))
    if template.get("status") != "APPROVED":
        note(Level.PROBLEM, subject, f"status {template.get('status')}: only an approved template can be sent "
             "(Meta reviews it, usually within a day).")
    elif count != wanted:
        note(Level.PROBLEM, subject, f"its body has {count} parameter(s) but ANTREAN_WA_REMINDER_PARAMETERS names "
             f"{wanted} ({', '.join(whatsapp.reminder_parameters)}): Meta refuses a reminder whose count differs.")
    elif template.get("category") != "UTILITY":
        note(Level.WARNING, subject, f"approved in category {template.get('category')}; a reminder of an "
             "appointment is Utility (cheaper, and not subject to marketing limits).")
    else:
        note(Level.OK, subject, f"approved, Utility, {count} body parameters.")
