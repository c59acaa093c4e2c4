"""The ticket module: a reference it builds is recognised again (alone or inside a sentence), a
look-alike is not; the REST channel and the WhatsApp runtime draw the same image through it. The
former parsers of tickets are tested where they live: the WhatsApp delivery
(tests/whatsapp/test_outbound.py), the conversation review (tests/review/test_derive.py) and the
booking-code question of the actions (tests/actions/test_booking_and_conversation_actions.py)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from antrean.booking.codes import BookingCodes
from antrean.media import ticket
from tests.builders import make_request
from tests.conftest import TEST_SECRET

PUBLIC_URLS = ["http://localhost:5005", "https://antrean.example/", "https://imigrasi.example/antrean/bot"]
CODES = [BookingCodes(TEST_SECRET).new() for _ in range(20)]


@pytest.mark.parametrize("public_url", PUBLIC_URLS)
def test_a_reference_is_recognised_as_the_code_it_was_built_from(public_url):
    for code in CODES:
        built = ticket.reference(code, public_url)
        assert built.startswith(public_url.rstrip("/") + "/webhooks/antrean/tiket/")
        assert ticket.code_in_reference(built) == code


@pytest.mark.parametrize("around", ["Tiket Anda: {} (simpan ya).", "<{}>", "'{}'", "lihat {}\nterima kasih"])
def test_a_reference_is_recognised_inside_other_text(around):
    code = CODES[0]
    assert ticket.code_in_reference(around.format(ticket.reference(code, "https://antrean.example"))) == code


def test_a_reference_written_in_lower_case_gives_the_code_in_upper_case():
    assert ticket.code_in_reference("http://x/webhooks/antrean/tiket/abcd-efgh-jkmn.png") == "ABCD-EFGH-JKMN"


@pytest.mark.parametrize("look_alike", [
    "https://elsewhere.example/images/tiket.png",  # someone else's image
    "https://antrean.example/webhooks/antrean/tiket/ABCD-EFGH-JKMN.png.exe",  # a longer file name
    "https://antrean.example/webhooks/antrean/tiket/ABCD-EFGH-JKMN.png?download=1",  # a query after it
    "https://antrean.example/webhooks/antrean/tiketku/ABCD-EFGH-JKMN.png",  # another route
    "https://antrean.example/simulator/tiket/ABCD-EFGH-JKMN.png",  # the console's route, not the channel's
    "https://antrean.example/webhooks/antrean/tiket/ABC.png",  # too short for a booking code
    "https://antrean.example/webhooks/antrean/tiket/-ABCD-EFGH-.png",  # not one either
    "ftp://antrean.example/webhooks/antrean/tiket/ABCD-EFGH-JKMN.png",  # not the web
    "Kode booking saya ABCD-EFGH-JKMN",  # a typed code is not a reference
    "",
])
def test_a_look_alike_is_not_a_reference(look_alike):
    assert ticket.code_in_reference(look_alike) is None


def test_codes_typed_in_a_message_are_found_in_any_usual_spelling():
    codes = BookingCodes(TEST_SECRET)
    code = CODES[1]
    spaced, lower = code.replace("-", " "), code.replace("-", "").lower()
    assert ticket.codes_in_text(f"cek antrean {spaced} ya") == [code]
    assert ticket.codes_in_text(f"kode: {lower}") == [code]
    # A twelve-letter word is a well-formed candidate, but never an authentic code.
    assert [c for c in ticket.codes_in_text("mau perpanjangan paspor") if codes.is_authentic(c)] == []


def test_the_image_is_the_qr_of_the_code_with_the_bookings_captions(sqlite_url, make_service):
    service = make_service(sqlite_url)
    booking = service.book(make_request())
    office = service.office(booking.office_id)
    lines = ticket.caption_lines(booking, office)
    assert lines[0] == booking.queue_label(office.queue_prefix) and lines[-1] == office.short_name
    assert lines[2].startswith("Sesi ")
    png = ticket.ticket_png(booking, office)
    assert png == ticket.booking_qr_png(booking.code, lines)
    assert ticket.ticket_png_from_database(service.engine, service.offices, booking.code) == png
    assert ticket.ticket_png_from_database(service.engine, service.offices, CODES[2]) is None  # no such booking


# --- the drawers of the image ------------------------------------------------------------------------

def test_the_rest_channel_serves_the_image_at_the_reference(sqlite_url, make_service, tmp_path):
    from antrean.assistant.rest_channel import AntreanRestInput
    from antrean.media.photo_store import MediaStore
    from tests.whatsapp.server import served

    service = make_service(sqlite_url)
    booking = service.book(make_request())
    channel = AntreanRestInput(token="a-token: the ticket stays public")
    channel._services = (service, MediaStore(tmp_path / "media"))

    async def on_new_message(_message):
        return None

    with served(channel, on_new_message) as base:
        server = base.removesuffix("/webhooks/antrean")
        served_png = httpx.get(ticket.reference(booking.code, server), timeout=30)
    assert served_png.status_code == 200
    assert served_png.content == ticket.ticket_png(booking, service.office(booking.office_id))


def test_the_whatsapp_runtime_draws_the_same_image_from_its_own_engine(sqlite_url, make_service):
    from antrean.runtime.settings import WhatsAppSettings
    from antrean.whatsapp.runtime import Runtime

    service = make_service(sqlite_url)
    booking = service.book(make_request())
    runtime = Runtime(WhatsAppSettings(verify_token="v", app_secret="a"), {"ANTREAN_DATABASE_URL": sqlite_url})
    try:
        assert runtime.render_ticket(booking.code) == ticket.ticket_png(booking, service.office(booking.office_id))
        assert runtime.render_ticket(CODES[3]) is None
    finally:
        asyncio.run(runtime.close())
