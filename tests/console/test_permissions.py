"""Each page and action refuses the roles it is not for; anonymous visitors go to the login page."""

from __future__ import annotations

import pytest

# A real server and real database files: not part of `make unit`.
pytestmark = pytest.mark.integration

PAGES = {
    # path: roles that may open it
    "/pemesanan": {"admin", "counter"},
    "/pemesanan/ekspor.csv": {"admin", "counter"},
    "/pintu": {"admin", "security"},
    "/loket": {"admin", "counter"},
    "/bantuan": {"admin", "counter", "reviewer"},
    "/audit": {"admin"},
    "/nlu": {"admin", "reviewer", "maintainer"},
    "/dasbor": {"admin", "reviewer", "counter", "maintainer"},
    "/simulator": {"admin", "reviewer", "maintainer"},
    "/simulator/log": {"admin", "reviewer", "maintainer"},
    "/bantuan/1": {"admin", "counter", "reviewer"},  # 404 for those allowed: no such request
    "/model": {"admin", "maintainer"},
    "/model/kembalikan": {"admin", "maintainer"},  # redirects those allowed: nothing to roll back
}
ROLES = ("admin", "reviewer", "counter", "security", "maintainer")


@pytest.mark.parametrize("role", ROLES)
def test_every_page_opens_for_its_roles_and_refuses_the_others(console, role):
    client = console.as_role(role)
    for path, allowed in PAGES.items():
        response = client.get(path)
        expected = ({"/bantuan/1": 404, "/model/kembalikan": 302}.get(path, 200)) if role in allowed else 403
        assert response.status_code == expected, (role, path)
        if expected == 403:
            assert "Tidak diizinkan" in response.text


def test_menu_shows_only_the_pages_a_role_may_open(console):
    page = console.as_role("security").get("/pintu").text
    assert 'href="/pintu"' in page
    for other in ("/pemesanan", "/loket", "/bantuan", "/audit", "/nlu", "/simulator", "/dasbor"):
        assert f'href="{other}"' not in page


@pytest.mark.parametrize("path", [*PAGES, "/pemesanan/ABCD-EFGH-JKMN", "/"])
def test_anonymous_visitors_are_sent_to_the_login_page(console, path):
    response = console.client().get(path)
    assert response.status_code == 302
    assert response.headers["location"].startswith("/masuk?lanjut=")


@pytest.mark.parametrize(("role", "path"), [
    ("counter", "/pintu"),  # the counter does not run the door
    ("security", "/loket/panggil"),
    ("reviewer", "/loket/panggil"),
    ("security", "/pemesanan/ABCD-EFGH-JKMN/buka"),
    ("reviewer", "/pemesanan/ABCD-EFGH-JKMN/buka"),
    ("security", "/bantuan/1/dijawab"),
    ("security", "/bantuan/1/balas"),
    ("reviewer", "/bantuan/1/buka"),  # the reviewer has no personal-data right
    ("security", "/bantuan/1/buka"),
    ("counter", "/nlu/1"),
    ("security", "/simulator/kirim"),
    ("counter", "/simulator/baru"),
    ("reviewer", "/model/latih"),
    ("counter", "/model/kembalikan"),
    ("security", "/model/x/aktifkan"),
])
def test_actions_refuse_roles_they_are_not_for_even_with_a_valid_token(console, role, path):
    client = console.as_role(role)
    response = client.post(path, {"kode": "ABCD-EFGH-JKMN", "kantor": "batam"})
    assert response.status_code == 403


def test_an_anonymous_form_post_is_refused_not_executed(console):
    client = console.client()
    client.get("/masuk")  # a valid pre-login token, but no session
    response = client.post("/pintu", {"kode": "ABCD-EFGH-JKMN"})
    assert response.status_code == 401


def test_an_account_tied_to_one_office_cannot_open_another(console):
    console.add_user("kasir.bogor", "counter", office_id="bogor")
    client = console.client()
    client.follow(client.login("kasir.bogor", console.passwords["kasir.bogor"]))
    assert client.get("/pemesanan").status_code == 200
    assert "Bogor ·" in client.get("/pemesanan").text
    assert client.get("/pemesanan?kantor=batam").status_code == 403
    assert client.get("/loket?kantor=batam").status_code == 403
