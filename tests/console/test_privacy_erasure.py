"""The admin's erasure page: a dry run first, then the erasure only after typing the confirmation
word; POSTs need the CSRF token; every other role is refused and nothing is erased."""

from __future__ import annotations

import pytest

from antrean.identity import mask_msisdn
from antrean.protection.erasure import ERASED_NAME
from tests.console.conftest import ROLES

pytestmark = pytest.mark.integration

NUMBER = "6281234567890"


def test_admin_checks_then_erases_after_confirming(console_on_both, tmp_path):
    console = console_on_both
    media = console.app.ctx.media()
    ref = media.save_id_photo(_photo(), NUMBER)
    booking = console.service.book(_request(NUMBER, photo_ref=ref))
    admin = console.as_role("admin")
    assert "/privasi" in admin.get("/pemesanan").text  # in the menu

    page = admin.post("/privasi/periksa", {"nomor": "0812-3456-7890", "nik": "", "kode": ""})
    assert page.status_code == 200
    assert mask_msisdn(NUMBER) in page.text and "Foto KTP" in page.text
    assert f"Booking {booking.code} masih aktif" in page.text
    assert console.service.get_by_code(booking.code).applicant.full_name == "Budi Santoso"  # a dry run

    refused = admin.post("/privasi/hapus", {"nomor": "0812-3456-7890", "konfirmasi": "ya"})
    assert refused.status_code == 400 and "HAPUS" in refused.text
    assert console.service.get_by_code(booking.code).applicant.full_name == "Budi Santoso"

    done = admin.post("/privasi/hapus", {"nomor": "0812-3456-7890", "nik": "", "kode": "", "konfirmasi": "HAPUS"})
    assert done.status_code == 302
    flash = admin.follow(done).text
    assert "dihapus" in flash and f"Booking {booking.code} dibatalkan" in flash
    erased = console.service.get_by_code(booking.code)
    assert erased.applicant.full_name == ERASED_NAME and erased.status.value == "cancelled"
    assert not list(media.root.rglob("*.jpg"))
    entry = console.audit.recent(5, action="privacy.erased")[0]
    assert (entry.actor, entry.target) == ("admin", mask_msisdn(NUMBER))
    assert "Menghapus data pribadi pemohon" in admin.get("/audit").text


def test_the_booking_page_leads_an_admin_to_the_erasure_without_the_number_in_the_url(console):
    booking = console.service.book(_request(NUMBER))
    admin = console.as_role("admin")
    detail = admin.get(f"/pemesanan/{booking.code}").text
    assert 'action="/privasi/periksa"' in detail and NUMBER not in detail
    page = admin.post("/privasi/periksa", {"kode": booking.code})
    assert page.status_code == 200 and mask_msisdn(NUMBER) in page.text
    done = admin.post("/privasi/hapus", {"kode": booking.code, "konfirmasi": "hapus"})
    assert done.status_code == 302
    assert console.service.get_by_code(booking.code).applicant.nik == ""
    assert "tidak ditemukan" in admin.post("/privasi/periksa", {"kode": booking.code}).text  # already erased


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_other_roles_are_refused_and_nothing_is_erased(console, role):
    booking = console.service.book(_request(NUMBER))
    client = console.as_role(role)
    assert client.get("/privasi").status_code == 403
    assert client.post("/privasi/periksa", {"nomor": NUMBER}).status_code == 403
    assert client.post("/privasi/hapus", {"nomor": NUMBER, "konfirmasi": "HAPUS"}).status_code == 403
    assert console.service.get_by_code(booking.code).applicant.full_name == "Budi Santoso"
    assert console.audit.recent(50, action="privacy.erased") == []
    if role == "counter":
        assert 'action="/privasi/periksa"' not in client.get(f"/pemesanan/{booking.code}").text


def test_an_erasure_without_the_csrf_token_is_refused(console):
    booking = console.service.book(_request(NUMBER))
    admin = console.as_role("admin")
    response = admin.post("/privasi/hapus", {"nomor": NUMBER, "konfirmasi": "HAPUS"}, csrf="forged")
    assert response.status_code == 403
    assert console.service.get_by_code(booking.code).applicant.full_name == "Budi Santoso"


def _request(number, **overrides):
    from tests.builders import make_request

    return make_request(whatsapp_number=number, **overrides)


def _photo() -> bytes:
    from tests.media.images import card, encode

    return encode(card())
