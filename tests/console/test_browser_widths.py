"""Every page of the console in Debian's Chromium, on a phone (390 px, where staff at the door and
the counter work) and on a desk screen: nothing wider than the screen, the menu and the
conversation filters folded away on the phone, labels beside their fields. The pages are found in
the app's own routes, so a new page without a place here fails the test."""

from __future__ import annotations

import re

import pytest

from antrean.console.web import NAVIGATION
from antrean.handoff import service as handoff
from tests.console.conftest import on_wednesday
from tests.console.test_browser import log_in
from tests.console.test_conversations import some_conversations
from tests.model_registry.test_records import evaluation, inputs, model_file
from tests.review.tracker_writer import TrackerWriter

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,  # Chromium opens some twenty pages twice
    pytest.mark.usefixtures("chromium_present"),
]

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 860}

# GET routes that are not pages (files, fragments polled by a script, images, the log-out redirect).
NOT_PAGES = {"/static", "/pemesanan/ekspor.csv", "/pemesanan/<code>/foto", "/simulator/log",
             "/simulator/tiket/<code>", "/percakapan/<conversation_id:int>/foto/<event_id:int>", "/"}

# Finds what sticks out, for the failure message: the widest elements past the right edge.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 0.5 && getComputedStyle(e).position !== 'fixed')
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string'
         ? '.' + e.className.trim().split(/\\s+/).join('.') : '') + ' ' + Math.round(e.getBoundingClientRect().right));
  return {scroll: document.documentElement.scrollWidth, client: width, wide: wide.slice(0, 6)};
}"""


@pytest.fixture
def filled(console, book, tmp_path):
    """A morning's worth of everything a page can show: bookings checked in and called, WhatsApp
    conversations (a booking, a handoff, a fallback), a request for a person, audit entries, and
    trained models (one live, one before it)."""
    first, second = book(1), book(2, full_name="siti rahayu")
    writer = TrackerWriter(console.tracker_url, console.clock())
    try:
        some_conversations(writer)
    finally:
        writer.close()
    handoff.request_handoff(console.service.engine, "6281234567002", "batam",
                            "kak saya mau tanya syarat paspor anak, bisa bicara dengan petugas?", console.clock())
    on_wednesday(console, 7, 45)
    console.service.check_in(first.code, actor="security")
    console.app.ctx.queue.call_next("batam", first.day, "3", "counter")
    console.audit.record("counter", "personal_data.viewed", target=first.code, office_id="batam",
                         remote_addr="2001:db8:85a3::8a2e:370:7334")
    registry, files = console.app.ctx.models, tmp_path / "models"
    old = registry.register(model_file(files, "old"), by="cli:budi", inputs=inputs("a"), evaluation=evaluation())
    registry.promote(old.id, by="cli:budi")
    new = registry.register(model_file(files, "new"), by="cli:budi", inputs=inputs("b"), evaluation=evaluation())
    registry.promote(new.id, by="cli:budi")
    return first, second, old, new


def pages(console, filled) -> dict[str, str]:
    """Route → the URL that opens it with real content."""
    booking, _, old, new = filled
    return {
        "/masuk": "/masuk",
        "/pemesanan": "/pemesanan?kantor=batam&tanggal=2026-12-02",
        "/pemesanan/<code>": f"/pemesanan/{booking.code}",
        "/pintu": "/pintu",
        "/loket": "/loket?kantor=batam&loket=3",
        "/bantuan": "/bantuan",
        "/bantuan/<request_id:int>": "/bantuan/1",
        "/percakapan": "/percakapan",
        "/percakapan/<conversation_id:int>": "/percakapan/1",
        "/nlu": "/nlu",
        "/simulator": "/simulator",
        "/dasbor": "/dasbor?kantor=batam",
        "/audit": "/audit",
        "/privasi": "/privasi",
        "/model": "/model",
        "/model/banding": f"/model/banding?a={old.id}&b={new.id}",
        "/model/<model_id>/aktifkan": f"/model/{old.id}/aktifkan",
        "/model/kembalikan": "/model/kembalikan",
    }


def page_routes(app) -> set[str]:
    routes = set()
    for route in app.router.routes:
        path = "/" + re.sub(r":str>", ">", route.path).lstrip("/")
        if "GET" in route.methods and not path.startswith("/static") and path not in NOT_PAGES:
            routes.add(path)
    return routes


def too_wide(page, what: str) -> list[str]:
    found = page.evaluate(OVERFLOW)
    if found["scroll"] <= found["client"]:
        return []
    return [f"{what}: {found['scroll']} px wide on a {found['client']} px screen; sticking out: {found['wide']}"]


@pytest.mark.parametrize("viewport", [PHONE, DESK], ids=["phone-390", "desk-1280"])
def test_no_page_is_wider_than_the_screen(console, filled, browser, viewport):
    booking = filled[0]
    urls = pages(console, filled)
    assert page_routes(console.app) == set(urls), "a page was added or removed: give it a URL here"
    context = browser.new_context(viewport=viewport, is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
    page = context.new_page()
    page.goto(console.base_url + urls["/masuk"])
    problems = too_wide(page, "/masuk")
    log_in(page, console, "admin")
    page.wait_for_load_state()
    for route, url in urls.items():
        if route == "/masuk":
            continue
        page.goto(console.base_url + url)
        assert page.locator("main").count() == 1, url
        problems += too_wide(page, url)
    # Pages reached through a form: a search, the full data shown, the erasure's check step.
    page.goto(console.base_url + urls["/pemesanan"])
    page.fill("input[name=q]", "siti")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_load_state()
    problems += too_wide(page, "/pemesanan/cari")
    page.goto(console.base_url + urls["/pemesanan/<code>"])
    page.click("text=Tampilkan data lengkap")
    page.wait_for_load_state()
    problems += too_wide(page, "/pemesanan/<code>/buka")
    page.goto(console.base_url + "/privasi")
    page.fill("input[name=nomor]", booking.whatsapp_number)
    page.click("button:has-text('Periksa apa yang akan dihapus')")
    page.wait_for_load_state()
    problems += too_wide(page, "/privasi/periksa")
    context.close()
    assert problems == []


def test_on_a_phone_the_menu_and_the_filters_are_folded_away(console, filled, browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    log_in(page, console, "admin")
    page.wait_for_load_state()
    page.goto(console.base_url + "/percakapan")
    header = page.locator("header.top").bounding_box()
    assert header["height"] <= 80, f"the header takes {header['height']} px of an 844 px screen"
    menu = page.locator("nav[aria-label='Menu utama']")
    assert not menu.is_visible()
    page.click("text=Menu")
    assert menu.is_visible() and menu.locator("a").count() == len(NAVIGATION)  # an admin sees every page
    assert menu.locator("a[aria-current=page]").inner_text() == "Percakapan"
    page.click("text=Menu")
    assert not menu.is_visible()
    # The conversations come first: the 17 filter fields open on request.
    assert not page.locator("#filter select[name=hasil]").is_visible()
    first_row = page.locator("table.conversations tbody tr").first.bounding_box()
    assert first_row["y"] < PHONE["height"], "the first conversation is below the fold"
    page.click("#filter-toggle")
    assert page.locator("#filter select[name=hasil]").is_visible()
    page.select_option("select[name=hasil]", "handoff")
    page.click("#filter button[type=submit]")
    page.wait_for_url("**/percakapan?*hasil=handoff*")
    # A filter in use stays visible after the page reloads, so staff see why the list is short.
    assert page.locator("#filter select[name=hasil]").is_visible()
    context.close()


def test_on_a_desk_the_menu_and_the_filters_are_open(console, filled, browser):
    page = browser.new_page(viewport=DESK)
    log_in(page, console, "admin")
    page.wait_for_load_state()
    page.goto(console.base_url + "/percakapan")
    assert page.locator("nav[aria-label='Menu utama']").is_visible()
    assert not page.locator(".menu-toggle").is_visible()
    assert page.locator("#filter select[name=hasil]").is_visible()
    page.close()


@pytest.mark.parametrize("viewport", [PHONE, DESK], ids=["phone-390", "desk-1280"])
def test_each_label_sits_with_its_field_on_the_erasure_page(console, browser, viewport):
    page = browser.new_page(viewport=viewport)
    log_in(page, console, "admin")
    page.wait_for_load_state()
    page.goto(console.base_url + "/privasi")
    for name in ("nomor", "nik", "kode"):
        label = page.locator(f"label:has(input[name={name}])").bounding_box()
        field = page.locator(f"input[name={name}]").bounding_box()
        text_bottom = page.locator(f"label:has(input[name={name}])").evaluate(
            "l => { const r = document.createRange(); r.selectNodeContents(l.firstChild);"
            " return r.getBoundingClientRect().bottom; }")
        # The field right under its own label text, as wide as the label: not beside the next one.
        assert 0 <= field["y"] - text_bottom <= 12, (name, field, text_bottom)
        assert abs(field["width"] - label["width"]) <= 2, (name, field, label)
    page.close()
