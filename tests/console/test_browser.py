"""In a real browser (Debian's Chromium): logging in, and checking someone in at the door on a phone."""

from __future__ import annotations

import pytest

from tests.console.conftest import on_wednesday

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("chromium_present"),
]

PHONE = {"width": 390, "height": 844}


def log_in(page, console, username):
    page.goto(console.base_url + "/")
    assert page.url.startswith(console.base_url + "/masuk")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", console.passwords[username])
    page.click("button[type=submit]")


def test_staff_log_in_and_out_in_the_browser(console, browser):
    page = browser.new_page()
    log_in(page, console, "admin")
    page.wait_for_url(console.base_url + "/pemesanan")
    assert page.locator("h1").first.inner_text().startswith("Batam ·")
    page.click("text=Keluar")
    page.wait_for_url(console.base_url + "/masuk")
    page.goto(console.base_url + "/pemesanan")
    assert "/masuk" in page.url
    page.close()


def test_a_wrong_password_is_shown_in_indonesian(console, browser):
    page = browser.new_page()
    page.goto(console.base_url + "/masuk")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "salah-sekali-ini")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "Nama pengguna atau kata sandi salah."
    page.close()


def test_security_checks_someone_in_on_a_phone(console, book, browser):
    booking = book(1)
    on_wednesday(console, 7, 45)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    log_in(page, console, "security")
    page.wait_for_url(console.base_url + "/pintu")
    page.fill("#kode", booking.code.replace("-", " ").lower())
    page.click("button:has-text('Check-in')")
    flash = page.locator(".flash-ok")
    assert "Check-in berhasil — Tepat waktu." in flash.inner_text()
    assert "Budi Santoso" in flash.inner_text()
    assert "2171**********01" in flash.inner_text()
    # Readable at the door: nothing wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.locator("#kode").evaluate("e => e === document.activeElement")  # ready for the next one
    context.close()
    assert console.service.get_by_code(booking.code).status.value == "checked_in"


def test_a_forged_code_is_refused_in_the_browser(console, book, browser):
    booking = book(1)
    on_wednesday(console, 7, 45)
    page = browser.new_page()
    log_in(page, console, "security")
    page.wait_for_url(console.base_url + "/pintu")
    page.fill("#kode", booking.code[:-1] + ("A" if booking.code[-1] != "A" else "B"))
    page.click("button:has-text('Check-in')")
    assert "Kode ini tidak sah" in page.locator(".flash-error").inner_text()
    page.close()


def test_a_reviewer_filters_conversations_and_opens_a_transcript(console, browser):
    from tests.conftest import wib
    from tests.console.test_conversations import some_conversations
    from tests.review.tracker_writer import TrackerWriter

    writer = TrackerWriter(console.tracker_url, wib(2026, 12, 1, 7, 40))
    try:
        some_conversations(writer)
    finally:
        writer.close()
    page = browser.new_page()
    log_in(page, console, "reviewer")
    page.wait_for_load_state()
    page.click("nav >> text=Percakapan")
    page.wait_for_url(console.base_url + "/percakapan")
    assert page.locator("#jumlah").inner_text().startswith("3 percakapan")
    page.select_option("select[name=hasil]", "handoff")
    page.click("#filter button[type=submit]")
    page.wait_for_url("**/percakapan?*hasil=handoff*")
    assert page.locator("#jumlah").inner_text().startswith("1 percakapan")
    rows = page.locator("table.conversations tbody tr")
    assert rows.count() == 1 and "Ke petugas" in rows.first.inner_text()
    rows.first.locator("a").first.click()
    page.wait_for_url("**/percakapan/*")
    transcript = page.locator("ol.transcript")
    assert "bisa bicara dengan petugas?" in transcript.inner_text()
    assert "human_handoff" in transcript.inner_text() and "action_handoff" in transcript.inner_text()
    page.click("text=Tandai pesan ini")
    assert "Pesan ditandai" in page.locator(".flash-ok").inner_text()
    assert page.locator("li.msg.user.flagged").count() == 1
    page.close()
