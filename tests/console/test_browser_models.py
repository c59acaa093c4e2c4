"""The Model page in a real browser (Debian's Chromium): a maintainer compares two models and makes
the better one live after reading the gate's verdict; an admin overrides a refusal with a reason."""

from __future__ import annotations

import pytest

from tests.console.test_browser import log_in
from tests.console.test_model_page import models  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("chromium_present"),
]


def test_a_maintainer_compares_then_promotes_through_the_gate(console, models, browser):  # noqa: F811
    registry, old, better, _ = models
    page = browser.new_page()
    log_in(page, console, "maintainer")
    page.wait_for_load_state()
    page.click("nav >> text=Model")
    page.wait_for_url(console.base_url + "/model")
    assert page.locator("tr.live").inner_text().startswith(old.id)
    page.select_option("select[name=a]", old.id)
    page.select_option("select[name=b]", better.id)
    page.click("button:has-text('Bandingkan')")
    page.wait_for_url("**/model/banding?*")
    assert "diperbaiki, 0 rusak" in page.locator("h2").first.inner_text()
    picture = page.locator("img.confusion")
    assert picture.evaluate("img => img.complete && img.naturalWidth > 100")  # the CSP lets the data: image in
    page.goto(console.base_url + f"/model/{better.id}/aktifkan")
    assert page.locator(".verdict").inner_text().startswith("Gerbang: lolos")
    page.click("button:has-text('Ya, aktifkan model ini')")
    page.wait_for_url(console.base_url + "/model")
    assert f"Model {better.id} sekarang aktif." in page.locator(".flash-ok").inner_text()
    assert page.locator("tr.live").inner_text().startswith(better.id)
    assert registry.live_model().id == better.id
    page.close()


def test_an_admin_overrides_a_refusal_with_a_written_reason(console, models, browser):  # noqa: F811
    registry, _, _, worse = models
    page = browser.new_page()
    log_in(page, console, "admin")
    page.wait_for_load_state()
    page.goto(console.base_url + f"/model/{worse.id}/aktifkan")
    verdict = page.locator(".verdict").inner_text()
    assert verdict.startswith("Gerbang: ditolak") and "cancel_booking" in verdict
    page.click("button:has-text('Aktifkan walau ditolak')")  # the reason is required: the browser stops it
    assert page.url.endswith("/aktifkan")
    page.fill("textarea[name=alasan]", "uji coba terbatas di kantor Batam")
    page.click("button:has-text('Aktifkan walau ditolak')")
    page.wait_for_url(console.base_url + "/model")
    assert "aktif walau ditolak gerbang" in page.locator(".flash-ok").inner_text()
    assert registry.live_model().id == worse.id
    page.close()
