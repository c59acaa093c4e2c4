"""The simulator over HTTP: messages go into the WhatsApp channel's inbox as a simulator number, the
channel's own worker (here with a scripted stand-in for Rasa) answers, and the page shows the
replies, buttons, photos and the QR ticket; without a reachable assistant the page says so."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from antrean.assistant.whatsapp_channel import WhatsAppInput
from antrean.runtime.settings import WhatsAppSettings
from antrean.whatsapp.schema import whatsapp_inbox, whatsapp_outbox
from antrean.whatsapp.simulated import is_simulator_number
from tests.actions.conftest import card_photo
from tests.whatsapp.meta import APP_SECRET, VERIFY_TOKEN
from tests.whatsapp.server import free_port, served

pytestmark = pytest.mark.integration


class ScriptedAssistant:
    """Answers like the assistant would, through the output channel Rasa would be given."""

    def __init__(self, ticket_url: str = ""):
        self.seen = []
        self.ticket_url = ticket_url

    async def __call__(self, message):
        self.seen.append(message)
        out = message.output_channel
        if (message.metadata or {}).get("antrean_media", {}).get("check", {}).get("ok"):
            await out.send_text_message(message.sender_id, "Foto diterima. Terima kasih.")
        elif message.text == "/register":
            await out.send_text_message(message.sender_id, "Pendaftaran berhasil.")
            await out.send_image_url(message.sender_id, self.ticket_url)
        else:
            await out.send_text_with_buttons(message.sender_id, "Halo! Ada yang bisa *kami* bantu?",
                                             [{"title": "Daftar paspor", "payload": "/register"}])


@pytest.fixture
def assistant(request, console, console_sqlite_url, tmp_path, book):
    booking = book(1, whatsapp_number="6280000001001")
    scripted = ScriptedAssistant(f"http://127.0.0.1:5005/webhooks/antrean/tiket/{booking.code}.png")
    # The channel's clock: registration open at Batam, unless a test asks for another moment.
    moment = getattr(request, "param", "2026-12-01T08:00:00+07:00")
    channel = WhatsAppInput(WhatsAppSettings(verify_token=VERIFY_TOKEN, app_secret=APP_SECRET),
                            environ={"ANTREAN_DATABASE_URL": console_sqlite_url, "ANTREAN_CLOCK": moment,
                                     "ANTREAN_MEDIA_DIR": str(tmp_path / "media")})
    with served(channel, scripted) as base:
        console.app.ctx.config.environ["ANTREAN_RASA_URL"] = base.removesuffix("/webhooks/whatsapp")
        scripted.booking = booking
        yield scripted


def wait_for_replies(client, count: int, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = client.get("/simulator/log?kantor=batam").text
        if page.count('class="turn turn-assistant"') >= count and 'data-waiting="tidak"' in page:
            return page
        time.sleep(0.3)
    raise AssertionError("the assistant did not answer in time")


def test_a_greeting_goes_through_the_whatsapp_pipeline_and_the_reply_shows_with_its_buttons(console, assistant):
    client = console.as_role("reviewer")
    page = client.get("/simulator")
    assert page.status_code == 200 and "Asisten tidak dapat dihubungi" not in page.text
    response = client.post("/simulator/kirim", {"kantor": "batam", "pesan": "halo"})
    assert response.status_code == 302
    log = wait_for_replies(client, 1)
    # WhatsApp's *bold* shows as the applicant saw it, not as asterisks.
    assert "halo" in log and "Halo! Ada yang bisa <strong>kami</strong> bantu?" in log
    assert 'name="pilihan" value="/register"' in log and "Daftar paspor" in log
    [message] = assistant.seen
    assert message.input_channel == "whatsapp" and is_simulator_number(message.sender_id)
    assert message.metadata["phone_number_id"] == "106540352242922"  # Batam's number: the office is known
    assert message.metadata["practice"] is True  # …and its registrations go to Batam's practice twin
    assert 'id="mode-latihan"' in page.text and "tidak memakai kursi atau kuota sungguhan" in page.text
    with console.service.engine.connect() as connection:
        statuses = connection.execute(select(whatsapp_outbox.c.status)).scalars().all()
    assert statuses == ["sandbox"]


@pytest.mark.slow
def test_a_button_a_photo_and_the_qr_ticket(console, assistant):
    client = console.as_role("admin")
    client.get("/simulator")
    client.post("/simulator/kirim", {"kantor": "batam", "pesan": "halo"})
    wait_for_replies(client, 1)  # offers the button: a button counts only if the assistant offered it
    client.post("/simulator/kirim", {"kantor": "batam", "pilihan": "/register", "judul": "Daftar paspor"})
    log = wait_for_replies(client, 3)
    assert "Pendaftaran berhasil." in log
    ticket = f"/simulator/tiket/{assistant.booking.code}.png"
    assert ticket in log
    png = client.get(ticket)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    response = client.http.post("/simulator/kirim", data={"kantor": "batam", "csrf_token": client.csrf_token,
                                                          "pesan": ""},
                                files={"foto": ("ktp.jpg", card_photo(), "image/jpeg")})
    assert response.status_code == 302
    log = wait_for_replies(client, 4)
    assert "Foto diterima" in log and "Foto</span>" in log
    with console.service.engine.connect() as connection:
        assert connection.execute(select(whatsapp_inbox.c.kind)).scalars().all() == ["text", "interactive", "image"]
        assert connection.exec_driver_sql("SELECT count(*) FROM simulator_media").scalar() == 0  # fetched, gone


def test_a_new_conversation_uses_another_simulator_number(console, assistant):
    client = console.as_role("reviewer")
    client.get("/simulator")
    client.post("/simulator/kirim", {"kantor": "batam", "pesan": "halo"})
    wait_for_replies(client, 1)
    response = client.post("/simulator/baru", {"kantor": "batam"})
    assert response.headers["location"].endswith("sesi=2")
    page = client.follow(response).text
    assert "6280000002002" in page or "percakapan 2" in page
    assert "Belum ada pesan" in page


def test_without_a_reachable_assistant_the_page_says_so_and_nothing_is_stored(console):
    console.app.ctx.config.environ["ANTREAN_RASA_URL"] = f"http://127.0.0.1:{free_port()}"
    client = console.as_role("reviewer")
    page = client.get("/simulator").text
    assert "Asisten tidak dapat dihubungi" in page and "make run" in page
    response = client.post("/simulator/kirim", {"kantor": "batam", "pesan": "halo"})
    assert "Pesan Anda tidak dikirim" in client.get(response.headers["location"]).text
    with console.service.engine.connect() as connection:
        assert connection.execute(select(whatsapp_inbox)).all() == []


def test_only_simulator_tickets_are_shown_and_only_to_reviewers(console, book):
    real = book(2)
    client = console.as_role("admin")
    assert client.get(f"/simulator/tiket/{real.code}.png").status_code == 404
    for role in ("counter", "security"):
        assert console.as_role(role).get("/simulator").status_code == 403


def test_an_office_without_a_whatsapp_number_is_not_offered_and_the_page_says_why(console):
    page = console.as_role("reviewer").get("/simulator").text
    options = page.split('<select name="kantor">', 1)[1].split("</select>", 1)[0]
    assert "Batam" in options and "Denpasar" not in options  # offices.yml gives Denpasar no number id
    [note] = re.findall(r'<p class="flash flash-warning" id="tanpa-nomor">(.*?)</p>', page, re.DOTALL)
    assert note.startswith("Denpasar belum bisa dicoba di sini: kantor ini belum punya nomor WhatsApp")
    assert "whatsapp_phone_number_ids" in note


@pytest.mark.parametrize("assistant", ["2026-12-06T21:30:00+07:00"], indirect=True)  # a Sunday evening
def test_a_photo_from_the_simulator_is_checked_and_kept_at_any_hour(console, assistant):
    """Issue 16 §3: a real office keeps no ID photo outside its registration window, but the
    simulator registers at the practice twin, which takes registrations at any hour."""
    client = console.as_role("reviewer")
    client.get("/simulator")
    response = client.http.post("/simulator/kirim", data={"kantor": "batam", "csrf_token": client.csrf_token,
                                                          "pesan": ""},
                                files={"foto": ("ktp.jpg", card_photo(), "image/jpeg")})
    assert response.status_code == 302
    assert "Foto diterima" in wait_for_replies(client, 1)
    [message] = assistant.seen
    assert message.metadata["practice"] is True and message.metadata["antrean_media"]["check"]["ok"] is True
