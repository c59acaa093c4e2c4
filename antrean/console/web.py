"""The console's request plumbing: who is asking (session cookie), CSRF on every form, permission
checks per page, rendering, flash messages and security headers. Views stay short on top of it."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import quote

from sanic import Request, html
from sanic.response import HTTPResponse, redirect

from antrean.console.accounts import AnonymousStaff, StaffSession
from antrean.console.permissions import Permission
from antrean.runtime.http_limits import read_limited

SESSION_COOKIE = "antrean_sesi"
PRELOGIN_COOKIE = "antrean_csrf"  # binds the login form's CSRF token before there is a session
# Over HTTPS the cookies are named `__Host-…`: browsers then accept them only with Secure, Path=/
# and no Domain, so neither a sibling subdomain nor a plain-HTTP page can plant or overwrite them.
HOST_PREFIX = "__Host-"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

ANONYMOUS = AnonymousStaff()

# No inline scripts or styles, nothing from other origins; the camera is allowed for QR scanning.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    # Pages carry personal data: never keep them in a shared browser's cache.
    "Cache-Control": "no-store",
}


async def blocking(function: Callable, *args, **kwargs):
    """Run a synchronous service call off the event loop: SQLite may wait for its write lock and
    argon2 takes a tenth of a second, and neither should stall every other staff member's page."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(function, *args, **kwargs))


# --- middleware ------------------------------------------------------------------------------------

async def load_session(request: Request) -> HTTPResponse | None:
    accounts = request.app.ctx.accounts
    token = request.cookies.get(cookie_name(request, SESSION_COOKIE))
    session: StaffSession | None = await blocking(accounts.session, token) if token else None
    request.ctx.session = session
    request.ctx.user = session.user if session else ANONYMOUS
    request.ctx.new_prelogin_token = None
    if session:
        request.ctx.csrf_token = session.csrf_token
    else:
        request.ctx.csrf_token = request.cookies.get(cookie_name(request, PRELOGIN_COOKIE)) or ""
        if not prelogin_token_ok(request, request.ctx.csrf_token):
            request.ctx.csrf_token = request.ctx.new_prelogin_token = new_prelogin_token(request)
    if (refused := await check_body(request)) is not None:
        return refused
    if request.method in UNSAFE_METHODS and not csrf_ok(request):
        return render(request, "error.html", status=403, title="Permintaan ditolak",
                      message="Formulir ini sudah kedaluwarsa atau tidak berasal dari konsol. "
                              "Muat ulang halaman, lalu coba lagi.")
    return None


async def check_body(request: Request) -> HTTPResponse | None:
    """A body announced beyond its route's limit is refused unread (413: Sanic refuses it too, but
    then runs this middleware for its error page, where the CSRF check would answer first). An
    upload route (`stream=True, ctx_body_limit=…`) is read here, only for a logged-in staff member
    and only up to its limit; Sanic has read an ordinary route's (small) body already."""
    route = getattr(request, "route", None)
    upload_limit = getattr(route.ctx, "body_limit", None) if route is not None else None
    declared = request.headers.get("content-length") or ""
    if declared.isdigit() and int(declared) > (upload_limit or request.app.config.REQUEST_MAX_SIZE):
        return _too_large(request)
    if upload_limit is None or request.method not in UNSAFE_METHODS:
        return None
    if request.ctx.session is None:
        return render(request, "error.html", status=401, title="Sesi berakhir",
                      message="Sesi Anda sudah berakhir. Silakan masuk lagi.")
    body = await read_limited(request, upload_limit)
    if body is None:
        return _too_large(request)
    request.body = body  # request.form and request.files parse it from here on
    return None


def _too_large(request: Request) -> HTTPResponse:
    return render(request, "error.html", status=413, title="Terlalu besar",
                  message="Data yang dikirim terlalu besar untuk halaman ini.")


def csrf_ok(request: Request) -> bool:
    if request.ctx.new_prelogin_token:  # a token minted just now cannot have been in any form
        return False
    submitted = request.form.get("csrf_token", "") if request.form else ""
    return bool(submitted) and hmac.compare_digest(submitted.encode(), request.ctx.csrf_token.encode())


# The login form's token (before there is a session) is double-submitted: in a cookie and in the form.
# Unsigned, anyone able to plant a cookie (a sibling subdomain, a plain-HTTP page on the LAN) could
# pair it with a matching form and log a colleague into the planter's account (login CSRF). Signed
# by the server for the client's address, a made-up cookie fails, and so does a genuine one fetched
# from the attacker's own address; a staff member whose address changed just reloads the form.

def _prelogin_signature(request: Request, nonce: str) -> str:
    key = request.app.ctx.prelogin_key
    mac = hmac.new(key, f"{client_address(request)}|{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode()


def new_prelogin_token(request: Request) -> str:
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_prelogin_signature(request, nonce)}"


def prelogin_token_ok(request: Request, token: str) -> bool:
    nonce, _, signature = token.partition(".")
    return bool(nonce) and hmac.compare_digest(signature.encode(), _prelogin_signature(request, nonce).encode())


async def finish_response(request: Request, response: HTTPResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        if name == "Cache-Control" and request.path.startswith("/static/"):
            continue
        response.headers.setdefault(name, value)
    new_token = getattr(request.ctx, "new_prelogin_token", None)
    if new_token:
        set_cookie(request, response, PRELOGIN_COOKIE, new_token)


def set_cookie(request: Request, response: HTTPResponse, name: str, value: str, max_age: int | None = None) -> None:
    name = cookie_name(request, name)
    response.cookies[name] = value
    cookie = response.cookies[name]
    cookie["httponly"] = True
    cookie["samesite"] = "Lax"
    cookie["path"] = "/"
    if max_age is not None:
        cookie["max-age"] = max_age
    if secure_cookies(request):
        cookie["secure"] = True


def clear_cookie(request: Request, response: HTTPResponse, name: str) -> None:
    # With the same attributes as when it was set: browsers ignore a `__Host-` deletion without Secure.
    set_cookie(request, response, name, "", max_age=0)


def secure_cookies(request: Request) -> bool:
    configured = request.app.ctx.config.secure_cookies
    return configured if configured is not None else is_https(request)


def cookie_name(request: Request, name: str) -> str:
    return HOST_PREFIX + name if secure_cookies(request) else name


# --- who is asking, through a proxy or not ----------------------------------------------------------

def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _trusted(request: Request, address: IPv4Address | IPv6Address | None) -> bool:
    return address is not None and any(address in network for network in request.app.ctx.config.trusted_proxies)


def client_address(request: Request) -> str:
    """The peer's address; behind a trusted proxy, the nearest address in X-Forwarded-For that is
    not itself a trusted proxy (what a client writes there itself sits further left and is skipped)."""
    peer = request.ip or ""
    if not _trusted(request, _address(peer)):
        return peer
    hops = [hop for value in request.headers.getall("x-forwarded-for", []) for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        if not _trusted(request, address):
            return str(address)
    return peer


def is_https(request: Request) -> bool:
    if _trusted(request, _address(request.ip or "")) and (proto := request.headers.get("x-forwarded-proto")):
        return proto.split(",")[0].strip().lower() == "https"
    return request.scheme == "https"


# --- access control ----------------------------------------------------------------------------------

def permission_required(permission: Permission):
    """Anonymous visitors go to the login page (and come back); staff without the permission get
    403. `Permission.none()` means "any logged-in staff member"."""

    def decorator(handler):
        @functools.wraps(handler)
        async def wrapper(request: Request, *args, **kwargs):
            user = request.ctx.user
            if not user.is_authenticated:
                if request.method in UNSAFE_METHODS:
                    return render(request, "error.html", status=401, title="Sesi berakhir",
                                  message="Sesi Anda sudah berakhir. Silakan masuk lagi.")
                target = request.path + (f"?{request.query_string}" if request.query_string else "")
                return redirect(f"/masuk?lanjut={quote(target, safe='')}")
            if not user.can(permission):
                return forbidden(request)
            return await handler(request, *args, **kwargs)

        return wrapper

    return decorator


login_required = permission_required(Permission.none())


def forbidden(request: Request, message: str | None = None) -> HTTPResponse:
    return render(request, "error.html", status=403, title="Tidak diizinkan",
                  message=message or "Peran Anda tidak mengizinkan halaman atau tindakan ini.")


# --- rendering ---------------------------------------------------------------------------------------

def render(request: Request, template: str, status: int = 200, **context) -> HTTPResponse:
    app = request.app
    user = getattr(request.ctx, "user", ANONYMOUS)
    page = app.ctx.templates.get_template(template).render(
        request=request, user=user, csrf_token=getattr(request.ctx, "csrf_token", ""),
        flash=getattr(request.ctx, "flash", None),
        nav=navigation(user), Permission=Permission, home_office=home_office(request, user), **context,
    )
    return html(page, status=status)


def home_office(request: Request, user):
    """The office whose time a record without an office is shown in: the staff member's own, else the
    first configured (pages never show UTC)."""
    offices = request.app.ctx.service.offices
    return offices.get(getattr(user, "office_id", None) or "") or next(iter(offices.values()))


async def pop_flash(request: Request) -> dict | None:
    """The message left by the previous POST, shown once."""
    session = request.ctx.session
    if session is None or not session.flash:
        return None
    await blocking(request.app.ctx.accounts.set_flash, session.token_hash, None)
    request.ctx.flash = session.flash
    return session.flash


async def redirect_with(request: Request, url: str, kind: str, text: str, **details) -> HTTPResponse:
    """Post/Redirect/Get with one message for the next page."""
    session = request.ctx.session
    if session is not None:
        await blocking(request.app.ctx.accounts.set_flash, session.token_hash,
                       {"kind": kind, "text": text, **details})
    return redirect(url)


# Each area of the console is a blueprint; a page shows in the menu for roles that may open it.
NAVIGATION = [
    ("Pemesanan", "/pemesanan", Permission.VIEW_BOOKINGS),
    ("Pintu masuk", "/pintu", Permission.CHECK_IN),
    ("Loket", "/loket", Permission.SERVE),
    ("Bantuan staf", "/bantuan", Permission.HANDOFF),
    ("Percakapan", "/percakapan", Permission.REVIEW),
    ("Inbox NLU", "/nlu", Permission.REVIEW),
    ("Simulator", "/simulator", Permission.REVIEW),
    ("Dasbor", "/dasbor", Permission.DASHBOARD),
    ("Model", "/model", Permission.MODELS),
    ("Log audit", "/audit", Permission.ADMINISTER),
    ("Hapus data", "/privasi", Permission.ADMINISTER),
]


def navigation(user) -> list[tuple[str, str]]:
    return [(label, path) for label, path, permission in NAVIGATION if user.can(permission)]


def remote_addr(request: Request) -> str:
    """The client's address as the audit log records it."""
    return client_address(request)[:64]
