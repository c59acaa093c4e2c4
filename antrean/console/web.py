"""The console's request plumbing: who is asking (session cookie), CSRF on every form, permission
checks per page, rendering, flash messages and security headers. Views stay short on top of it."""

from __future__ import annotations

import asyncio
import functools
import hmac
import secrets
from collections.abc import Callable
from urllib.parse import quote

from sanic import Request, html
from sanic.response import HTTPResponse, redirect

from antrean.console.accounts import AnonymousStaff, StaffSession
from antrean.console.permissions import Permission

SESSION_COOKIE = "antrean_sesi"
PRELOGIN_COOKIE = "antrean_csrf"  # binds the login form's CSRF token before there is a session
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
    token = request.cookies.get(SESSION_COOKIE)
    session: StaffSession | None = await blocking(accounts.session, token) if token else None
    request.ctx.session = session
    request.ctx.user = session.user if session else ANONYMOUS
    request.ctx.new_prelogin_token = None
    if session:
        request.ctx.csrf_token = session.csrf_token
    else:
        request.ctx.csrf_token = request.cookies.get(PRELOGIN_COOKIE) or ""
        if len(request.ctx.csrf_token) < 32:
            request.ctx.csrf_token = request.ctx.new_prelogin_token = secrets.token_urlsafe(32)
    if request.method in UNSAFE_METHODS and not csrf_ok(request):
        return render(request, "error.html", status=403, title="Permintaan ditolak",
                      message="Formulir ini sudah kedaluwarsa atau tidak berasal dari konsol. "
                              "Muat ulang halaman, lalu coba lagi.")
    return None


def csrf_ok(request: Request) -> bool:
    if request.ctx.new_prelogin_token:  # a token minted just now cannot have been in any form
        return False
    submitted = request.form.get("csrf_token", "") if request.form else ""
    return bool(submitted) and hmac.compare_digest(submitted.encode(), request.ctx.csrf_token.encode())


async def finish_response(request: Request, response: HTTPResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        if name == "Cache-Control" and request.path.startswith("/static/"):
            continue
        response.headers.setdefault(name, value)
    new_token = getattr(request.ctx, "new_prelogin_token", None)
    if new_token:
        set_cookie(request, response, PRELOGIN_COOKIE, new_token)


def set_cookie(request: Request, response: HTTPResponse, name: str, value: str, max_age: int | None = None) -> None:
    response.cookies[name] = value
    cookie = response.cookies[name]
    cookie["httponly"] = True
    cookie["samesite"] = "Lax"
    cookie["path"] = "/"
    if max_age is not None:
        cookie["max-age"] = max_age
    secure = request.app.ctx.config.secure_cookies
    if secure or (secure is None and request.scheme == "https"):
        cookie["secure"] = True


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
        nav=navigation(user), Permission=Permission, **context,
    )
    return html(page, status=status)


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
    ("Log audit", "/audit", Permission.ADMINISTER),
    ("Hapus data", "/privasi", Permission.ADMINISTER),
]


def navigation(user) -> list[tuple[str, str]]:
    return [(label, path) for label, path, permission in NAVIGATION if user.can(permission)]


def remote_addr(request: Request) -> str:
    return (request.remote_addr or request.ip or "")[:64]
