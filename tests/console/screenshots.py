"""`make screenshots`: the console's main pages as PNGs in results/screenshots/, from a throw-away
database with made-up applicants, at a frozen moment, in Debian's Chromium."""

from __future__ import annotations

import secrets
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sanic import Sanic

from antrean import handoff
from antrean.booking.codes import BookingCodes
from antrean.booking.offices import load_offices
from antrean.booking.service import BookingService
from antrean.console import create_app
from antrean.console.config import ConsoleConfig
from antrean.console.devserver import serving
from antrean.db import REPO_ROOT, make_engine, upgrade_database
from tests.builders import make_request
from tests.console.browser import CHROMIUM, chromium, chromium_available

OUT = REPO_ROOT / "results" / "screenshots"
WIB = ZoneInfo("Asia/Jakarta")
NAMES = ["budi santoso", "siti rahayu", "agus pratama", "dewi lestari", "rudi hartono", "nur aini",
         "yusuf maulana", "ratna sari", "hendra wijaya", "putri ayu", "fajar nugroho", "maya anggraini"]


class Clock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def main() -> int:
    if not chromium_available():
        print(f"skipped: {CHROMIUM} is absent (apt-get install -y chromium)", file=sys.stderr)
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.sqlite3'}"
        upgrade_database(url)
        clock = Clock(datetime(2026, 12, 1, 8, 0, tzinfo=WIB))
        service = BookingService(make_engine(url), load_offices(), clock, BookingCodes(secrets.token_bytes(32)))
        bookings = [service.book(make_request(i + 1, full_name=name)) for i, name in enumerate(NAMES)]
        clock.moment = datetime(2026, 12, 2, 7, 52, tzinfo=WIB)
        for booking in bookings[:7]:
            service.check_in(booking.code, actor="satpam")
        service.cancel(bookings[10].code)
        handoff.request_handoff(service.engine, "6281234567001", "batam", "kak saya mau tanya syarat anak", clock())
        handoff.request_handoff(service.engine, "6281234567002", "batam", "bisa bicara dengan petugas?", clock())
        app = create_app(ConsoleConfig(service=service, name="antrean_console_screens"))
        passwords = {}
        for username, role in (("ani", "admin"), ("satpam", "security"), ("loket", "counter")):
            passwords[username] = secrets.token_urlsafe(16)
            app.ctx.accounts.add(username, {"ani": "Ani Wijaya", "satpam": "Slamet Riyadi",
                                            "loket": "Lina Marlina"}[username], role, passwords[username])
        app.ctx.queue.call_next("batam", bookings[0].day, "3", "loket")
        service.mark_served(bookings[0].code, "loket")
        app.ctx.queue.call_next("batam", bookings[0].day, "3", "loket")
        with serving(app) as base, chromium() as browser:
            def session(username, viewport):
                context = browser.new_context(viewport=viewport, device_scale_factor=1)
                page = context.new_page()
                page.goto(base + "/masuk")
                page.fill("input[name=username]", username)
                page.fill("input[name=password]", passwords[username])
                page.click("button[type=submit]")
                page.wait_for_load_state()
                return page

            desk, phone = {"width": 1280, "height": 860}, {"width": 390, "height": 844}
            login = browser.new_page(viewport=phone)
            login.goto(base + "/masuk")
            login.screenshot(path=str(OUT / "01-masuk-ponsel.png"), full_page=True)
            admin = session("ani", desk)
            admin.goto(base + "/pemesanan?kantor=batam")
            admin.screenshot(path=str(OUT / "02-pemesanan-harian.png"), full_page=True)
            admin.goto(base + f"/pemesanan/{bookings[1].code}")
            admin.click("text=Tampilkan data lengkap")
            admin.screenshot(path=str(OUT / "03-detail-data-lengkap.png"), full_page=True)
            guard = session("satpam", phone)
            guard.fill("#kode", bookings[7].code)
            guard.click("button:has-text('Check-in')")
            guard.screenshot(path=str(OUT / "04-pintu-check-in-ponsel.png"), full_page=True)
            guard.fill("#kode", bookings[10].code)
            guard.click("button:has-text('Check-in')")
            guard.screenshot(path=str(OUT / "05-pintu-ditolak-ponsel.png"), full_page=True)
            counter = session("loket", desk)
            counter.goto(base + "/loket?kantor=batam&loket=3")
            counter.screenshot(path=str(OUT / "06-loket.png"), full_page=True)
            counter.goto(base + "/bantuan")
            counter.screenshot(path=str(OUT / "07-bantuan-staf.png"), full_page=True)
            admin.goto(base + "/audit")
            admin.screenshot(path=str(OUT / "08-log-audit.png"), full_page=True)
        service.engine.dispose()
    print(f"screenshots in {OUT.relative_to(REPO_ROOT)}/: " + ", ".join(sorted(p.name for p in OUT.glob("*.png"))))
    return 0


if __name__ == "__main__":
    Sanic.test_mode = False
    raise SystemExit(main())
