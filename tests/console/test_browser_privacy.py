"""In a real browser (Debian's Chromium): an admin erases an applicant's personal data — the check
step lists what would go, the erasure needs HAPUS typed (the browser refuses an empty field), and
the result is shown."""

from __future__ import annotations

import pytest

from antrean.identity import mask_msisdn
from antrean.protection.erasure import ERASED_NAME
from tests.builders import make_request
from tests.console.test_browser import log_in
from tests.media.images import card, encode

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("chromium_present"),
]

NUMBER = "6281234567890"


def test_admin_checks_types_hapus_and_sees_the_result(console, browser):
    media = console.app.ctx.media()
    ref = media.save_id_photo(encode(card()), NUMBER)
    booking = console.service.book(make_request(whatsapp_number=NUMBER, photo_ref=ref))
    page = browser.new_page()
    log_in(page, console, "admin")
    page.wait_for_url(console.base_url + "/pemesanan")
    page.goto(console.base_url + "/privasi")
    page.fill("input[name=nomor]", "0812-3456-7890")
    page.click("button:has-text('Periksa apa yang akan dihapus')")

    # The check step: what would go, nothing changed yet.
    assert page.locator("h1").inner_text() == f"Data pribadi {mask_msisdn(NUMBER)}"
    assert "Foto KTP" in page.locator("table.list").inner_text()
    assert f"Booking {booking.code} masih aktif" in page.locator(".flash-warning").inner_text()
    page.click("button:has-text('Hapus data pribadi sekarang')")  # empty field: the browser stops it
    assert "/privasi/periksa" in page.url
    assert console.service.get_by_code(booking.code).applicant.full_name == "Budi Santoso"

    page.fill("input[name=konfirmasi]", "HAPUS")
    page.click("button:has-text('Hapus data pribadi sekarang')")
    page.wait_for_load_state()
    result = page.locator(".flash-ok").inner_text()
    assert "dihapus" in result and f"Booking {booking.code} dibatalkan" in result
    page.close()
    erased = console.service.get_by_code(booking.code)
    assert erased.applicant.full_name == ERASED_NAME and erased.status.value == "cancelled"
    assert not list(media.root.rglob("*.jpg"))
