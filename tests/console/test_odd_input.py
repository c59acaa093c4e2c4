"""Odd input never makes a console page fail with a 500: bad query parameters get a clear 400 or a
sensible default, and a tracker store Rasa has not set up yet is said so on the page. The
property-based test at the end sends generated query strings to every GET route of the app."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from antrean.handoff import service as handoff
from tests.console.reviewdata import add_conversation

pytestmark = pytest.mark.integration

MANY_DIGITS = "9" * 5000  # beyond Python's 4,300-digit limit for int(str)


@pytest.fixture
def admin(console):
    return console.as_role("admin")


def test_a_conversation_opens_before_rasa_has_created_its_tracker_store_tables(console, admin):
    [_message] = add_conversation(console.service.engine, messages=[("halo", "greet", 0.9)])
    conversation_id = admin.get("/percakapan").text.split('href="/percakapan/', 1)[1].split('"', 1)[0]
    assert admin.get("/percakapan").status_code == 200
    page = admin.get(f"/percakapan/{conversation_id}")
    assert page.status_code == 200
    assert "Penyimpanan percakapan Rasa tidak dapat dibaca" in page.text
    assert admin.get(f"/percakapan/{conversation_id}/foto/1").status_code == 404
    assert admin.post(f"/percakapan/{conversation_id}/buka").status_code == 200
    assert admin.get("/nlu").status_code == 200 and admin.get("/dasbor").status_code == 200


@pytest.mark.parametrize("path", [
    "/loket?loket=", "/simulator?sesi=", "/simulator/log?sesi=", "/percakapan?halaman=", "/percakapan?giliran_min=",
    "/percakapan?giliran_maks=", "/percakapan?keyakinan_maks=", "/percakapan?nomor=",
])
@pytest.mark.parametrize("number", [MANY_DIGITS, "9" * 200, "²", "٣"], ids=["5000 digits", "200 digits", "superscript",
                                                                           "arabic-indic"])
def test_numbers_of_thousands_of_digits_or_odd_digits_are_taken_as_out_of_range(admin, path, number):
    response = admin.get(path + quote(number))
    assert response.status_code in (200, 400), response.status_code


@pytest.mark.parametrize("path", [
    "/pemesanan?tanggal=9999-12-31", "/pemesanan?tanggal=0001-01-01", "/pemesanan/ekspor.csv?tanggal=9999-12-31",
    "/dasbor?dari=0001-01-01", "/dasbor?sampai=9999-12-31", "/dasbor?dari=9999-12-31&sampai=0001-01-01",
    "/percakapan?dari=0001-01-01", "/percakapan?sampai=9999-12-31",
])
def test_dates_at_the_ends_of_the_calendar_are_refused_clearly(admin, path):
    response = admin.get(path)
    assert response.status_code == 400, response.status_code
    assert "Tanggal di alamat halaman" in response.text and "di luar rentang" in response.text


@pytest.mark.parametrize("path", ["/pemesanan?tanggal=2026-02-30", "/dasbor?dari=kemarin",
                                  "/percakapan?dari=2026-13-01"])
def test_what_is_not_a_day_leaves_the_page_on_its_default_days(admin, path):
    assert admin.get(path).status_code == 200


def test_a_counter_number_of_many_digits_falls_back_to_a_real_counter(console):
    page = console.as_role("counter").get(f"/loket?kantor=batam&loket={MANY_DIGITS}").text
    assert 'name="loket" value="' in page and MANY_DIGITS not in page


def test_a_help_request_id_of_many_digits_is_not_found(admin):
    assert admin.get(f"/bantuan/{MANY_DIGITS}").status_code == 404
    assert admin.get(f"/percakapan/{MANY_DIGITS}").status_code == 404


# --- every GET route: the parameters it reads, their odd values, and generated query strings -------------

EXTREMES = [MANY_DIGITS, "9" * 20, "-1", "0", "²", "9999-12-31", "0001-01-01", "2026-02-30", "", "nan", "1e999",
            "\x00", "ä" * 500]


def get_routes(app) -> list[tuple[str, dict[str, str]]]:
    """Each GET route's path and its path parameters' types (e.g. {"code": "str"})."""
    found = []
    for route in app.router.routes:
        if "GET" in route.methods and not route.path.startswith("static"):
            found.append(("/" + route.path, {p.name: p.label for p in route.params.values()}))
    return sorted(found)


def filled(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = re.sub(rf"<{name}(:[^>]*)?>", quote(value, safe=""), path)
    return path


def existing(kind: str) -> str:
    return "1" if kind == "int" else "ABCD-EFGH-JKMN"


def parameters_read(console, admin, monkeypatch) -> dict[str, list[str]]:
    """The query parameters each GET route reads, seen by watching the requests' `args.get` while a
    plain request to each route is served (the server runs in this process): a parameter added to a
    page later is fuzzed without anyone updating a list."""
    from sanic.request import RequestParameters

    seen: list[str] = []
    original = RequestParameters.get

    def watched(self, name, default=None):
        seen.append(name)
        return original(self, name, default)

    monkeypatch.setattr(RequestParameters, "get", watched)
    reads = {}
    for path, params in get_routes(console.app):
        seen.clear()
        admin.http.get(filled(path, {name: existing(kind) for name, kind in params.items()}))
        reads[path] = sorted(set(seen))
    monkeypatch.undo()
    return reads


@pytest.fixture
def with_data(console):
    add_conversation(console.service.engine, messages=[("halo", "greet", 0.9)])
    handoff.request_handoff(console.service.engine, "6281234567890", "batam", "halo", console.clock())
    return console


def test_each_route_reads_the_parameters_it_is_known_for(with_data, admin, monkeypatch):
    reads = parameters_read(with_data, admin, monkeypatch)
    assert {"/pemesanan", "/loket", "/percakapan", "/percakapan/<conversation_id:int>", "/dasbor", "/bantuan",
            "/simulator", "/nlu", "/audit", "/pintu", "/privasi"} <= set(reads)
    assert {"tanggal", "kantor"} <= set(reads["/pemesanan"]) and "loket" in reads["/loket"]
    assert {"dari", "sampai", "halaman", "giliran_min"} <= set(reads["/percakapan"])
    assert "sesi" in reads["/simulator"] and {"dari", "sampai"} <= set(reads["/dasbor"])


@pytest.mark.slow  # hundreds of requests
def test_every_parameter_of_every_page_takes_extreme_values_without_a_500(with_data, admin, monkeypatch):
    reads = parameters_read(with_data, admin, monkeypatch)
    failures = []
    for path, params in get_routes(with_data.app):
        base = filled(path, {name: existing(kind) for name, kind in params.items()})
        for name in reads[path]:
            for value in EXTREMES:
                response = admin.http.get(f"{base}?{urlencode({name: value})}")
                if response.status_code >= 500:
                    failures.append((base, name, value[:20], response.status_code))
    assert failures == []


odd_values = st.one_of(st.sampled_from(EXTREMES), st.integers().map(str), st.dates().map(str), st.text(max_size=40))
odd_names = st.text(min_size=1, max_size=20)


def path_values(kind: str):
    if kind == "int":
        return st.one_of(st.integers(min_value=0, max_value=3), st.integers(min_value=0), st.just(MANY_DIGITS)).map(str)
    return st.one_of(st.just("ABCD-EFGH-JKMN"), st.text(min_size=1, max_size=60))


@st.composite
def urls(draw, routes, reads):
    template, params = draw(st.sampled_from(routes))
    path = filled(template, {name: draw(path_values(kind)) for name, kind in params.items()})
    known = draw(st.lists(st.sampled_from(reads[template]), max_size=4)) if reads[template] else []
    query = [(name, draw(odd_values)) for name in known] + draw(st.lists(st.tuples(odd_names, odd_values), max_size=3))
    return path + ("?" + urlencode(query) if query else "")


@pytest.mark.slow  # hundreds of requests
def test_no_generated_query_string_makes_any_page_fail(with_data, admin, monkeypatch):
    """Hypothesis: any GET route, any mix of the parameters it reads and made-up ones, odd values."""
    routes = get_routes(with_data.app)
    reads = parameters_read(with_data, admin, monkeypatch)

    @settings(max_examples=300, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(urls(routes, reads))
    def probe(url):
        assert admin.http.get(url).status_code < 500, url[:300]

    probe()


@pytest.mark.parametrize("path", ["/percakapan/9223372036854775808", "/bantuan/99999999999999999999",
                                  "/percakapan/1/foto/9223372036854775808"])
def test_ids_beyond_a_database_integer_are_not_found(admin, path):
    assert admin.get(path).status_code == 404


@pytest.mark.parametrize("path", [
    "/nlu/9223372036854775808", "/percakapan/9223372036854775808/ditinjau", "/bantuan/9223372036854775808/dijawab",
    "/percakapan/filter/9223372036854775808/hapus",
])
def test_forms_posted_to_ids_beyond_a_database_integer_are_refused(admin, path):
    # No route takes such an id; Sanic then reads no form body, so the CSRF check answers first.
    assert admin.post(path, {"keputusan": "terima"}).status_code in (403, 404)
