"""The console's training mode over HTTP (issue 16 §3): a practice booking (as the simulator makes
one) is checked in at the door and called at the counter on a Sunday evening, stays out of the real
day list and dashboard, and real and practice codes are never mixed up at the door."""

from __future__ import annotations

from datetime import date

import pytest

from antrean.console.config import ConsoleConfig
from antrean.runtime.settings import SettingsError
from tests.builders import make_request
from tests.conftest import wib

pytestmark = pytest.mark.integration

SUNDAY = date(2026, 12, 6)
PRACTICE = "latihan-batam"


def sunday_evening(console):
    """The real office is closed: nothing real can be registered, checked in or called now."""
    console.clock.moment = wib(2026, 12, 6, 21, 30)


def practice_booking(console, serial=1, day=SUNDAY):
    return console.service.book(make_request(serial=serial, office_id=PRACTICE, day=day,
                                             whatsapp_number=f"6280000001{serial:03d}"))


def test_door_and_counter_practise_at_any_hour_and_real_pages_stay_real(console):
    real = console.service.book(make_request(serial=9))  # registered on Tuesday morning for Wednesday
    sunday_evening(console)
    practised = practice_booking(console)
    door = console.as_role("security")
    page = door.get(f"/pintu?kantor={PRACTICE}").text
    assert 'id="mode-latihan"' in page and "tidak memakai kursi atau kuota sungguhan" in page
    response = door.post("/pintu", {"kode": practised.code, "kantor": PRACTICE})
    assert response.headers["location"] == f"/pintu?kantor={PRACTICE}"
    page = door.get(response.headers["location"]).text
    assert "Check-in berhasil" in page and "Budi Santoso" in page
    response = door.post("/pintu", {"kode": real.code, "kantor": PRACTICE})
    assert "Ini kode booking sungguhan" in door.get(response.headers["location"]).text
    response = door.post("/pintu", {"kode": practised.code, "kantor": "batam"})
    assert "Ini kode latihan dari simulator" in door.get(response.headers["location"]).text
    assert 'id="mode-latihan"' not in door.get("/pintu?kantor=batam").text

    counter = console.as_role("counter")
    page = counter.get(f"/loket?kantor={PRACTICE}").text
    assert 'id="mode-latihan"' in page and "1</strong> pemohon sudah hadir" in page
    response = counter.post("/loket/panggil", {"kantor": PRACTICE, "loket": "1"})
    assert "Memanggil A-001 — Budi Santoso ke loket 1." in counter.get(response.headers["location"]).text
    response = counter.post(f"/loket/{practised.code}/selesai", {"kantor": PRACTICE, "loket": "1"})
    assert "A-001 selesai dilayani." in counter.get(response.headers["location"]).text
    assert console.service.get_by_code(practised.code).status.value == "served"
    assert "0</strong> pemohon sudah hadir" in counter.get("/loket?kantor=batam").text

    real_list = counter.get("/pemesanan?kantor=batam&tanggal=2026-12-06").text
    assert practised.code not in real_list
    assert practised.code in counter.get(f"/pemesanan?kantor={PRACTICE}&tanggal=2026-12-06").text
    assert counter.get(f"/dasbor?kantor={PRACTICE}").status_code == 404  # no dashboard for practice
    assert [e.office_id for e in console.audit.recent(action="booking.checked_in")] == [PRACTICE]


def test_staff_of_an_office_practise_only_at_its_twin(console):
    console.add_user("satpam_batam", "security", office_id="batam")
    sunday_evening(console)
    client = console.client()
    client.follow(client.login("satpam_batam", console.passwords["satpam_batam"]))
    assert client.get(f"/pintu?kantor={PRACTICE}").status_code == 200
    assert client.get("/pintu?kantor=latihan-bogor").status_code == 403


def test_practice_bookings_and_their_photos_are_cleaned_up_by_the_console(console):
    from antrean.console.practice import PracticeCleanup
    from tests.actions.conftest import card_photo

    media = console.app.ctx.media()
    sunday_evening(console)
    photo_ref = media.save_id_photo(card_photo(), "6280000001001")
    old = console.service.book(make_request(serial=1, office_id=PRACTICE, day=SUNDAY,
                                            whatsapp_number="6280000001001", photo_ref=photo_ref))
    console.clock.moment = wib(2026, 12, 7, 10, 0)  # 12 hours and a half later
    fresh = practice_booking(console, 2, day=date(2026, 12, 7))
    assert PracticeCleanup(console.service, console.app.ctx.media, hours=12, check_seconds=600).run() == 1
    assert console.service.get_by_code(old.code) is None and console.service.get_by_code(fresh.code) is not None
    with pytest.raises(FileNotFoundError):
        media.open(photo_ref)


@pytest.mark.parametrize("value", ["dua belas", "0", "1000"])
def test_a_bad_practice_period_stops_the_console_with_the_variable_named(value):
    with pytest.raises(SettingsError, match="ANTREAN_PRACTICE_HOURS"):
        ConsoleConfig.from_env({"ANTREAN_PRACTICE_HOURS": value})
