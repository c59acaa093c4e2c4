"""Request bodies on the real console server: a form's worth everywhere, a photo's worth only on the
simulator's upload, and that one read only after the session was checked. Each request announces a
large body and sends only its first bytes: a server that waited for the rest before answering would
never answer (the client gives up after 30 s)."""

from __future__ import annotations

from antrean.console.web import SESSION_COOKIE
from antrean.media.photos import MAX_BYTES
from antrean.runtime.http_limits import SMALL_BODY_BYTES
from tests.actions.conftest import card_photo
from tests.channels.test_body_limits import answer_before_the_body

MB = 1024 * 1024
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_an_anonymous_post_of_99_mb_is_answered_413_without_reading_it(console):
    # 99,000,000 bytes: under Sanic's default limit (10^8), which the console used to read in full.
    assert answer_before_the_body(f"{console.base_url}/masuk", "POST", 99_000_000, FORM) == 413
    assert answer_before_the_body(f"{console.base_url}/masuk", "POST", SMALL_BODY_BYTES + 1, FORM) == 413


def test_an_anonymous_upload_is_refused_before_its_body_is_read(console):
    multipart = {"Content-Type": "multipart/form-data; boundary=x"}
    assert answer_before_the_body(f"{console.base_url}/simulator/kirim", "POST", 5 * MB, multipart) == 401
    assert answer_before_the_body(f"{console.base_url}/simulator/kirim", "POST", 99_000_000, multipart) in (401, 413)


def test_staff_get_a_forms_worth_everywhere_and_a_photos_worth_on_the_upload(console):
    client = console.as_role("reviewer")
    cookie = {"Cookie": f"{SESSION_COOKIE}={client.http.cookies[SESSION_COOKIE]}"}
    multipart = {"Content-Type": "multipart/form-data; boundary=x", **cookie}
    assert answer_before_the_body(f"{console.base_url}/simulator/kirim", "POST", MAX_BYTES + SMALL_BODY_BYTES + 1,
                                  multipart) == 413
    assert answer_before_the_body(f"{console.base_url}/simulator/baru", "POST", SMALL_BODY_BYTES + 1,
                                  {**FORM, **cookie}) == 413

    # Within the limits the upload is read and its form understood (here: a file that is no photo).
    client.get("/simulator")
    response = client.http.post("/simulator/kirim", data={"kantor": "batam", "csrf_token": client.csrf_token},
                                files={"foto": ("ktp.gif", card_photo()[:1000], "image/gif")})
    assert response.status_code == 302
    assert "Kirim foto JPEG, PNG atau WebP." in client.follow(response).text
