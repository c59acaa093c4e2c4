"""Logging in and out, and the landing page that sends each role to its own work."""

from __future__ import annotations

import math

from sanic import Blueprint, Request
from sanic.response import redirect

from antrean.console.accounts import LoginRefused
from antrean.console.permissions import Permission
from antrean.console.web import (
    SESSION_COOKIE,
    blocking,
    clear_cookie,
    cookie_name,
    login_required,
    remote_addr,
    render,
    set_cookie,
)

bp = Blueprint("auth")

LOGIN_MESSAGES = {
    LoginRefused.Reason.WRONG_CREDENTIALS: "Nama pengguna atau kata sandi salah.",
    LoginRefused.Reason.DISABLED: "Akun ini dinonaktifkan. Hubungi admin kantor.",
    LoginRefused.Reason.THROTTLED: "Terlalu banyak percobaan masuk yang gagal. Tunggu {wait}, lalu coba lagi.",
}

# The first page each role works on, in order of preference.
HOME_PAGES = [
    (Permission.VIEW_BOOKINGS, "/pemesanan"),
    (Permission.CHECK_IN, "/pintu"),
    (Permission.SERVE, "/loket"),
    (Permission.HANDOFF, "/bantuan"),
]


def _safe_next(target: str | None) -> str | None:
    # Only paths on this site: "//evil.example" or "https://…" would turn login into a redirector.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@bp.get("/", name="home")
@login_required
async def home(request: Request):
    user = request.ctx.user
    for permission, path in HOME_PAGES:
        if user.can(permission):
            return redirect(path)
    return render(request, "error.html", title="Belum ada halaman",
                  message="Belum ada halaman konsol untuk peran Anda.")


@bp.get("/masuk", name="login")
async def login_form(request: Request):
    if request.ctx.user.is_authenticated:
        return redirect(_safe_next(request.args.get("lanjut")) or "/")
    return render(request, "login.html", username="", next=_safe_next(request.args.get("lanjut")) or "",
                  error=None)


@bp.post("/masuk", name="login_post")
async def login(request: Request):
    accounts = request.app.ctx.accounts
    username = (request.form.get("username") or "").strip()[:40]
    password = request.form.get("password") or ""
    next_page = _safe_next(request.form.get("lanjut"))
    try:
        user = await blocking(accounts.authenticate, username, password, remote_addr(request))
    except LoginRefused as refused:
        await blocking(request.app.ctx.audit.record, username or "-", "login.refused",
                       remote_addr=remote_addr(request), reason=refused.reason.value)
        if refused.reason is LoginRefused.Reason.THROTTLED:
            seconds = max(1, math.ceil((refused.until - accounts.clock()).total_seconds()))
            wait = f"{seconds} detik" if seconds < 120 else f"{math.ceil(seconds / 60)} menit"
            response = render(request, "login.html", status=429, username=username, next=next_page or "",
                              error=LOGIN_MESSAGES[refused.reason].format(wait=wait))
            response.headers["Retry-After"] = str(seconds)
            return response
        return render(request, "login.html", status=401, username=username, next=next_page or "",
                      error=LOGIN_MESSAGES[refused.reason])
    token = await blocking(accounts.open_session, user)
    await blocking(request.app.ctx.audit.record, user.username, "login", remote_addr=remote_addr(request))
    response = redirect(next_page or "/")
    set_cookie(request, response, SESSION_COOKIE, token)
    return response


@bp.post("/keluar", name="logout")
async def logout(request: Request):
    token = request.cookies.get(cookie_name(request, SESSION_COOKIE))
    if token:
        await blocking(request.app.ctx.accounts.close_session, token)
    response = redirect("/masuk")
    clear_cookie(request, response, SESSION_COOKIE)
    return response
