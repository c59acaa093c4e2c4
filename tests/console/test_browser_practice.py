"""Training mode in Debian's Chromium (issue 16 §3), at a phone's width (390 px) and a desk's: on a
Sunday evening a practice booking is checked in at the door and called and served at the counter,
every page saying it is practice and fitting the screen; and (slow) the whole flow from a
registration in the simulator with the real assistant."""

from __future__ import annotations

import re
from datetime import date

import pytest

from antrean.booking.codes import BookingCodes
from tests.actions.conftest import card_photo
from tests.builders import make_request
from tests.conftest import TEST_SECRET, wib
from tests.console.conftest import assistant_for
from tests.console.test_browser import log_in

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("chromium_present"),
]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESK = {"viewport": {"width": 1280, "height": 800}}
PRACTICE = "latihan-batam"
SUNDAY = date(2026, 12, 6)


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def as_staff(browser, console, username: str, screen: dict):
    context = browser.new_context(**screen)
    page = context.new_page()
    log_in(page, console, username)
    page.wait_for_load_state()
    return context, page


def check_in_and_serve(browser, console, code: str, door_screen: dict, counter_screen: dict) -> None:
    context, page = as_staff(browser, console, "security", door_screen)
    page.goto(f"{console.base_url}/pintu?kantor={PRACTICE}")
    assert "MODE LATIHAN" in page.locator("#mode-latihan").inner_text()  # as shown: the CSS capitalises it
    assert fits(page)
    page.fill("#kode", code)
    page.click("button:has-text('Check-in')")
    assert "Check-in berhasil" in page.locator(".flash-ok").inner_text()
    assert page.locator("#mode-latihan").is_visible() and fits(page)
    context.close()

    context, page = as_staff(browser, console, "counter", counter_screen)
    page.goto(f"{console.base_url}/loket?kantor={PRACTICE}")
    assert page.locator("#mode-latihan").is_visible() and fits(page)
    page.click("button:has-text('Panggil berikutnya')")
    assert "Memanggil A-001" in page.locator(".flash-ok").inner_text()
    page.click("button:has-text('Selesai dilayani')")
    assert "A-001 selesai dilayani." in page.locator(".flash-ok").inner_text()
    assert fits(page)
    page.goto(f"{console.base_url}/pemesanan?kantor=batam&tanggal={SUNDAY.isoformat()}")
    assert code not in page.content()  # the real day list knows nothing of it
    context.close()


@pytest.mark.parametrize("screen", [PHONE, DESK], ids=["phone-390", "desk-1280"])
def test_door_and_counter_practise_on_a_sunday_evening(console, browser, screen):
    console.clock.moment = wib(2026, 12, 6, 21, 30)
    booking = console.service.book(make_request(office_id=PRACTICE, day=SUNDAY, whatsapp_number="6280000001001"))
    check_in_and_serve(browser, console, booking.code, screen, screen)
    assert console.service.get_by_code(booking.code).status.value == "served"

    context, page = as_staff(browser, console, "admin", screen)
    page.goto(console.base_url + "/simulator")
    banner = page.locator("#mode-latihan")
    assert "tidak memakai kursi atau kuota sungguhan" in banner.inner_text()
    assert banner.locator(f"a[href='/pintu?kantor={PRACTICE}']").count() == 1
    assert fits(page)
    context.close()


@pytest.fixture
def assistant(console, console_sqlite_url, tmp_path, trained_model):
    """The real assistant (Rasa server with the actions in process, WhatsApp channel in sandbox mode)
    on the console's database, its clock frozen on the Sunday evening."""
    with assistant_for(console, console_sqlite_url, tmp_path, "2026-12-06T21:30:00+07:00") as stack:
        yield stack


def assistant_says(page, *texts: str) -> str:
    """Waits until the chat (it refreshes itself) shows one of `texts` and the assistant has finished
    its turn; returns the chat."""
    page.wait_for_function("ts => ts.some(t => document.querySelector('#log').innerText.includes(t))",
                           arg=list(texts), timeout=180_000)
    page.locator("#typing").wait_for(state="detached", timeout=180_000)
    return page.locator("#log").inner_text()


@pytest.mark.slow
def test_register_in_the_simulator_then_check_in_and_call_without_a_real_seat(console, assistant, browser):
    console.clock.moment = wib(2026, 12, 6, 21, 30)
    real_before = [(d.day, d.left) for d in console.service.availability("batam")]
    context, page = as_staff(browser, console, "admin", DESK)
    page.goto(console.base_url + "/simulator")
    assert page.locator("#assistant-down").count() == 0

    def send(text: str) -> None:
        page.fill("#pesan", text)
        page.click("#send button[type=submit]")

    def choose(title: str) -> None:
        page.locator(f".turn-assistant .choices button:has-text('{title}')").last.click()

    send("Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12 RT 01/RW 02 Tiban Baru")
    assistant_says(page, "Permohonan paspor apa")
    choose("Paspor baru")
    # The e-KTP photo and the NIK, in the order the assistant asks for them (the photo comes first
    # where the model knows it can read the NIK from the card). A card-like photo without a readable
    # e-KTP on it, on a Sunday evening: kept all the same, since practice takes registrations at any hour.
    asked = assistant_says(page, "16 angka", "foto e-KTP").split("Paspor baru", 1)[-1]
    if "NIK" in asked:
        send("2171031708900001")
        assistant_says(page, "foto e-KTP")
    page.set_input_files("#foto", files=[{"name": "ktp.jpg", "mimeType": "image/jpeg", "buffer": card_photo()}])
    page.click("#send button[type=submit]")
    after_photo = assistant_says(page, "Foto diterima").split("Foto diterima", 1)[1]
    if "NIK" not in asked:
        assert "NIK" in after_photo
        send("2171031708900001")
    assistant_says(page, "Minggu, 6 Desember 2026")  # the only day a practice office offers: today
    choose("Min, 6 Des")
    assistant_says(page, "Sudah benar?")
    choose("Ya, daftarkan")
    page.locator(".turn-assistant img").wait_for(timeout=180_000)  # the QR ticket
    ticket = page.locator(".turn-assistant img").get_attribute("src")
    code = re.search(r"/simulator/tiket/([A-Z0-9-]+)\.png", ticket).group(1)
    context.close()

    booking = console.service.get_by_code(code)
    assert (booking.office_id, booking.day) == (PRACTICE, SUNDAY)
    assert BookingCodes(TEST_SECRET).is_authentic(booking.code)
    check_in_and_serve(browser, console, booking.code, PHONE, DESK)
    assert [(d.day, d.left) for d in console.service.availability("batam")] == real_before
