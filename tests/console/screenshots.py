"""`make screenshots`: the console's main pages as PNGs in results/screenshots/, from a throw-away
database with made-up applicants, at a frozen moment, in Debian's Chromium."""

from __future__ import annotations

import secrets
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sanic import Sanic
from sqlalchemy import update

from antrean.assistant.whatsapp_channel import WhatsAppInput
from antrean.booking.codes import BookingCodes
from antrean.booking.offices import load_offices
from antrean.booking.service import BookingService
from antrean.booking.store import to_db_time
from antrean.console import create_app
from antrean.console.config import ConsoleConfig
from antrean.console.devserver import serving
from antrean.handoff import service as handoff
from antrean.media.photo_store import MediaStore
from antrean.runtime.db import REPO_ROOT, make_engine, upgrade_database
from antrean.runtime.settings import WhatsAppSettings
from antrean.whatsapp.inbox import Inbox
from antrean.whatsapp.payloads import parse_webhook
from antrean.whatsapp.sandbox import simulated_message, simulator_number
from antrean.whatsapp.schema import whatsapp_outbox
from tests.builders import make_request
from tests.console.browser import CHROMIUM, chromium, chromium_available
from tests.console.test_simulator import ScriptedAssistant
from tests.whatsapp.server import served

OUT = REPO_ROOT / "results" / "screenshots"
WIB = ZoneInfo("Asia/Jakarta")
NAMES = ["budi santoso", "siti rahayu", "agus pratama", "dewi lestari", "rudi hartono", "nur aini",
         "yusuf maulana", "ratna sari", "hendra wijaya", "putri ayu", "fajar nugroho", "maya anggraini"]


MINUTES = [1, 1, 2, 2, 2, 3, 3, 5, 8, 13, 21, 34]


def write_unsure_questions(tracker_url: str) -> None:
    """Questions the assistant was unsure about (the NLU inbox, the dashboard's histogram)."""
    from tests.review import tracker_writer as t

    writer = t.TrackerWriter(tracker_url, datetime(2026, 12, 1, 7, 50, tzinfo=WIB))
    questions = [
        ("6281234567021", "kak paspor anak umur 5 thn perlu akta lahir ga", "ask_requirements", 0.38),
        ("6281234567022", "bsk sy bs dtg jam 11 ga", "ask_hours", 0.29),
        ("6281234567023", "ada yg nawarin nomor antrean 200rb, aman ga kak?", "out_of_scope", 0.22),
        ("6281234567024", "paspor sy ilang di kapal gmn ngurusnya", "replace_passport", 0.47),
        ("6281234567025", "nomor 0812 3456 7890 ini bisa buat daftar 2 org?", "register", 0.33),
        ("6281234567026", "blm dpt qr nya min", "check_booking", 0.51),
        ("6281234567027", "xq zzv", "nlu_fallback", 0.12),
    ]
    for sender, text, intent, confidence in questions:
        writer.tick(240)
        writer.save(sender, t.session_start(), t.user(text, intent, confidence, metadata={"office_id": "batam"}),
                    t.bot("Mohon maaf, bisa diulang dengan kata lain?"), t.listen())
    writer.close()


def whatsapp_turns(engine, wa_id: str, at: datetime) -> None:
    """A WhatsApp conversation for the handoff transcript: the applicant's message and the reply."""
    body = simulated_message("106540352242922", wa_id, "text", {"body": "kak saya mau tanya syarat anak, "
                                                                         "bisa bicara dengan petugas?"})
    inbox = Inbox(engine)
    inbox.store(parse_webhook(body), now=to_db_time(at))
    [message] = inbox.pending_for(wa_id)
    inbox.claim_reply(message.id, 1, "106540352242922", wa_id, "text", {"type": "text", "text": {
        "body": "Baik, permintaan Anda kami teruskan ke petugas. Mohon tunggu sebentar."}}, "sandbox")
    inbox.finish(message.id, "answered")
    with engine.begin() as connection:  # the outbox stamps real time; the demo runs at a frozen moment
        connection.execute(update(whatsapp_outbox).values(created_at=to_db_time(at + timedelta(seconds=4))))


class Clock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def write_conversations(tracker_url: str) -> None:
    """Made-up conversations written by Rasa's own tracker store, as the assistant would."""
    from tests.review.tracker_writer import (
        TrackerWriter,
        action,
        booked_conversation,
        bot,
        listen,
        loop,
        session_start,
        slot,
        user,
    )

    w = TrackerWriter(tracker_url, datetime(2026, 12, 1, 7, 31, tzinfo=WIB))
    batam = {"office_id": "batam"}
    booked_conversation(w, "6281234567101", code="K7M2QX9RTA4C")
    w.tick(140)
    w.save("6281234567102", session_start(), user("kak jam brp kantor buka", "ask_hours", 0.93, metadata=batam),
           action("action_answer_question"), bot("Kantor Imigrasi Batam buka Senin–Jumat 08.00–16.00."), listen())
    w.tick(200)
    w.save("6281234567103", session_start(), user("paspor anak sy hilang gmn", "replace_passport", 0.58,
                                                   runner_up="ask_requirements", metadata=batam),
           action("action_answer_question"), bot("Untuk paspor hilang, bawa surat kehilangan dari kepolisian…"),
           listen(), user("bisa bicara dengan petugas?", "human_handoff", 0.91), action("action_handoff"),
           bot("Baik, percakapan ini sudah diteruskan ke petugas kami."), listen())
    w.tick(90)
    w.save("6281234567104", session_start(), user("daftar", "register", 0.97, metadata=batam),
           action("registration_form"), loop("registration_form"), slot("office", "batam"),
           bot("Permohonan paspor apa yang Anda ajukan?", buttons=[
               {"title": "Paspor baru", "payload": '/inform{"application_type":"new"}'},
               {"title": "Perpanjang paspor", "payload": '/inform{"application_type":"renewal"}'}]), listen())
    w.tick(300)
    w.save("6281234567105", session_start(), user("wkwk gpp", "nlu_fallback", 0.27, runner_up="thanks", metadata=batam),
           action("action_fallback"), bot("Maaf, saya belum mengerti. Bisa ditulis dengan kalimat lain?"), listen())
    w.tick(120)
    w.save("6281234567106", session_start(), user("mau daftar antrian", "register", 0.88, metadata=batam),
           action("registration_form"), loop("registration_form"), slot("registration_blocked", True), loop(None),
           action("action_submit_registration"), bot("Mohon maaf, kuota untuk 3 hari ke depan sudah penuh."), listen())
    w.close()


def kept_models(registry, files: Path):
    """Three made-up models for the Model page: the live one misreads fee questions, a better one
    reads them, a worse one never recognises a cancellation (the gate refuses it). Their files are
    small tars and their evaluations are built from made-up predictions on the real test set."""
    from tests.model_registry.test_records import STORIES_WORSE, WORSE, evaluation, inputs, model_file

    live = registry.register(model_file(files, "live"), by="cli:rahmat", inputs=inputs("a"), training_seconds=212.0,
                             evaluation=evaluation({"ask_fee": "ask_hours"}))
    registry.promote(live.id, by="rahmat")
    better = registry.register(model_file(files, "better"), by="rahmat", inputs=inputs("b"), training_seconds=198.0,
                               evaluation=evaluation())
    worse = registry.register(model_file(files, "worse"), by="rahmat", inputs=inputs("c"), training_seconds=187.0,
                              evaluation=evaluation(WORSE, STORIES_WORSE))
    return live, better, worse


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
        bookings = []
        for i, name in enumerate(NAMES):  # spread over the morning: the dashboard's busiest minutes
            clock.moment = datetime(2026, 12, 1, 7, 30, tzinfo=WIB) + timedelta(minutes=MINUTES[i])
            bookings.append(service.book(make_request(i + 1, full_name=name)))
        clock.moment = datetime(2026, 12, 1, 8, 5, tzinfo=WIB)
        simulated = service.book(make_request(40, full_name="Coba Simulator", whatsapp_number=simulator_number(1, 1)))
        clock.moment = datetime(2026, 12, 2, 7, 52, tzinfo=WIB)
        for booking in bookings[:7]:
            service.check_in(booking.code, actor="satpam")
        service.cancel(bookings[10].code)
        handoff.request_handoff(service.engine, "6281234567001", "batam", "kak saya mau tanya syarat anak", clock())
        whatsapp_turns(service.engine, "6281234567001", clock() - timedelta(minutes=12))
        handoff.request_handoff(service.engine, "6281234567002", "batam", "bisa bicara dengan petugas?", clock())
        tracker_url = f"sqlite:///{Path(tmp) / 'conversations.sqlite3'}"
        write_conversations(tracker_url)
        write_unsure_questions(tracker_url)
        app = create_app(ConsoleConfig(service=service, name="antrean_console_screens", tracker_url=tracker_url,
                                       review_settle_seconds=0, review_sync_seconds=0, retention_daily=False,
                                       stories_dir=Path(tmp) / "stories", media_store=MediaStore(Path(tmp) / "media"),
                                       models_dir=Path(tmp) / "models"))
        passwords = {}
        names = {"ani": "Ani Wijaya", "satpam": "Slamet Riyadi", "loket": "Lina Marlina", "rina": "Rina Kusuma",
                 "rahmat": "Rahmat Hidayat"}
        for username, role in (("ani", "admin"), ("satpam", "security"), ("loket", "counter"), ("rina", "reviewer"),
                               ("rahmat", "maintainer")):
            passwords[username] = secrets.token_urlsafe(16)
            app.ctx.accounts.add(username, names[username], role, passwords[username])
        app.ctx.queue.call_next("batam", bookings[0].day, "3", "loket")
        service.mark_served(bookings[0].code, "loket")
        app.ctx.queue.call_next("batam", bookings[0].day, "3", "loket")
        channel = WhatsAppInput(WhatsAppSettings(verify_token="screens", app_secret="screens-secret"),
                                environ={"ANTREAN_DATABASE_URL": url, "ANTREAN_MEDIA_DIR": str(Path(tmp) / "media"),
                                         "ANTREAN_CLOCK": "2026-12-01T08:00:00+07:00"})  # registration open
        scripted = ScriptedAssistant(f"http://127.0.0.1:5005/webhooks/antrean/tiket/{simulated.code}.png")
        with serving(app) as base, chromium() as browser, served(channel, scripted) as assistant:
            app.ctx.config.environ["ANTREAN_RASA_URL"] = assistant.removesuffix("/webhooks/whatsapp")
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
            reviewer = session("rina", desk)
            reviewer.goto(base + "/percakapan")
            reviewer.screenshot(path=str(OUT / "09-percakapan-daftar.png"), full_page=True)
            reviewer.goto(base + "/percakapan?hasil=booked")
            reviewer.locator("table.conversations tbody tr a").first.click()
            reviewer.wait_for_load_state()
            reviewer.click("text=Tandai pesan ini")
            reviewer.fill("input[name=label]", "perlu-contoh-nlu")
            reviewer.click("text=Tambah label")
            reviewer.screenshot(path=str(OUT / "10-percakapan-transkrip.png"), full_page=True)
            counter.goto(base + "/bantuan/1")
            counter.screenshot(path=str(OUT / "11-bantuan-percakapan.png"), full_page=True)
            reviewer.goto(base + "/nlu")
            reviewer.screenshot(path=str(OUT / "12-inbox-nlu.png"), full_page=True)
            admin.goto(base + "/simulator?kantor=batam")
            admin.fill("#pesan", "halo kak")
            admin.click("#send button[type=submit]")
            admin.wait_for_selector("button:has-text('Daftar paspor')")
            admin.click("button:has-text('Daftar paspor')")
            admin.wait_for_selector(".turn img")
            admin.wait_for_timeout(500)
            admin.screenshot(path=str(OUT / "13-simulator.png"), full_page=True)
            admin.goto(base + "/dasbor?kantor=batam&dari=2026-11-26&sampai=2026-12-05")
            admin.screenshot(path=str(OUT / "14-dasbor.png"), full_page=True)
            admin.goto(base + "/privasi")  # erasing one applicant: the check step, then the result
            admin.fill("input[name=nomor]", bookings[11].whatsapp_number)
            admin.click("button:has-text('Periksa apa yang akan dihapus')")
            admin.wait_for_load_state()
            admin.screenshot(path=str(OUT / "15-privasi-periksa.png"), full_page=True)
            admin.fill("input[name=konfirmasi]", "HAPUS")
            admin.click("button:has-text('Hapus data pribadi sekarang')")
            admin.wait_for_selector(".flash-ok")
            admin.screenshot(path=str(OUT / "16-privasi-hasil.png"), full_page=True)
            live, better, worse = kept_models(app.ctx.models, Path(tmp) / "model-files")
            maintainer = session("rahmat", desk)
            maintainer.goto(base + "/model")
            maintainer.screenshot(path=str(OUT / "17-model-daftar.png"), full_page=True)
            maintainer.goto(base + f"/model/banding?a={live.id}&b={better.id}")
            maintainer.screenshot(path=str(OUT / "18-model-banding.png"), full_page=True)
            admin.goto(base + f"/model/{worse.id}/aktifkan")
            admin.screenshot(path=str(OUT / "19-model-gerbang-ditolak.png"), full_page=True)
            admin.goto(base + "/audit")
            admin.screenshot(path=str(OUT / "08-log-audit.png"), full_page=True)
        service.engine.dispose()
    print(f"screenshots in {OUT.relative_to(REPO_ROOT)}/: " + ", ".join(sorted(p.name for p in OUT.glob("*.png"))))
    return 0


if __name__ == "__main__":
    # Two Sanic apps start in this process (the console and the simulator's WhatsApp channel):
    # test mode makes Sanic's start-up rewrites repeatable, as in the tests.
    Sanic.test_mode = True
    raise SystemExit(main())
