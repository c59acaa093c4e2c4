"""The dashboard over HTTP on SQLite and PostgreSQL: the figures behind each chart, SVG drawn on
the server (no scripts, nothing external), office and role limits."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import insert

from antrean.console import dashboard
from antrean.review.schema import review_facets
from tests.builders import make_request
from tests.console.conftest import on_wednesday
from tests.console.reviewdata import add_conversation

pytestmark = pytest.mark.integration

TUESDAY, WEDNESDAY = date(2026, 12, 1), date(2026, 12, 2)


def fill(console):
    """Tuesday 08:00–08:02 WIB: three bookings for Wednesday and one for Thursday; four
    conversations: one booked (every detail given), one booked whose details the read model did
    not see, one that gave every detail and stopped, one question; seven user messages of which one
    fell back."""
    service = console.service
    made = []
    for serial, minute, day in ((1, 0, WEDNESDAY), (2, 0, WEDNESDAY), (3, 1, WEDNESDAY), (4, 2, date(2026, 12, 3))):
        console.clock.moment = datetime.fromisoformat(f"2026-12-01T08:{minute:02d}:30+07:00")
        made.append(service.book(make_request(serial=serial, day=day)))
    engine = service.engine
    start = datetime(2026, 12, 1, 0, 59)  # 07:59 WIB in naive UTC
    add_conversation(engine, "6281111111111", messages=[("mau daftar", "register", 0.93),
                                                        ("asdf qwer", "nlu_fallback", 0.21)], started=start,
                     outcome="booked", booking_code=made[0].code)
    add_conversation(engine, "6282222222222", messages=[("jam buka?", "ask_hours", 0.88), ("ok", "affirm", 0.55),
                                                        ("makasih", "thanks", 0.97)], started=start)
    add_conversation(engine, "6283333333333", messages=[("daftar", "register", 0.95)], started=start,
                     outcome="booked", booking_code=made[1].code)
    add_conversation(engine, "6284444444444", messages=[("daftar", "register", 0.95)], started=start,
                     outcome="abandoned")
    add_conversation(engine, "6285555555555", started=start)  # no message: not a conversation to count
    with engine.begin() as connection:
        for sender in ("6281111111111", "6284444444444"):
            conversation = connection.exec_driver_sql(
                f"SELECT id FROM review_conversations WHERE sender_id = '{sender}'").scalar()
            for name in dashboard.DETAIL_SLOTS:
                connection.execute(insert(review_facets).values(conversation_id=conversation, kind="slot",
                                                                name=name, value=""))
    on_wednesday(console, 9)
    service.check_in(made[0].code, actor="satpam")
    service.check_in(made[1].code, actor="satpam")
    console.app.ctx.queue.call_next("batam", WEDNESDAY, "1", "loket")
    service.mark_served(made[0].code, "loket")
    return made


def test_the_figures_behind_the_charts(console_on_both):
    console = console_on_both
    fill(console)
    office = console.service.office("batam")
    calendar = console.service.calendar("batam")
    fills = dashboard.registrations_vs_quota(console.service.engine, office, calendar, TUESDAY, date(2026, 12, 6))
    by_day = {f.day: f for f in fills}
    assert by_day[WEDNESDAY].booked == 3 and by_day[WEDNESDAY].quota > 3
    assert by_day[date(2026, 12, 5)].closed == "akhir pekan" and by_day[date(2026, 12, 5)].quota == 0
    # One source: the conversations and the bookings they ended with (the two bookings made
    # without a conversation are not in it), each stage a part of the one before.
    assert dashboard.funnel(console.service.engine, office, TUESDAY, TUESDAY) == [
        ("Mulai percakapan", 4), ("Data diri lengkap", 3), ("Terdaftar", 2), ("Check-in", 2), ("Dilayani", 1)]
    for first, last in ((TUESDAY, TUESDAY), (TUESDAY, WEDNESDAY), (WEDNESDAY, WEDNESDAY)):
        counts = [n for _, n in dashboard.funnel(console.service.engine, office, first, last)]
        assert counts == sorted(counts, reverse=True), (first, last, counts)
    quality = dashboard.nlu_quality(console.service.engine, office, TUESDAY, TUESDAY)
    assert (quality.messages, quality.fallbacks) == (7, 1)
    assert quality.histogram == [0, 0, 1, 0, 0, 1, 0, 0, 1, 4]
    minutes = dashboard.busiest_minutes(console.service.engine, office, TUESDAY, TUESDAY)
    assert minutes == {"08:00": 2, "08:01": 1, "08:02": 1}
    assert dashboard.funnel(console.service.engine, office, WEDNESDAY, WEDNESDAY)[0] == ("Mulai percakapan", 0)


def test_the_page_draws_its_charts_as_inline_svg(console):
    fill(console)
    client = console.as_role("reviewer")
    page = client.get("/dasbor?kantor=batam&dari=2026-12-01&sampai=2026-12-04")
    assert page.status_code == 200
    text = page.text
    assert text.count("<svg") == 4
    assert "Tingkat fallback: 14.3%" in text
    assert "Rabu, 2 Desember 2026: 3 dari kuota" in text or "3 dari kuota" in text
    assert "08:00</span> — 2 pendaftaran" in text
    assert "Data diri lengkap" in text and "Dilayani" in text
    assert "http" not in text.split("<main>")[1].split("</main>")[0].replace("http://www.w3.org/2000/svg", "")
    # The charts need no script: only the console's own menu folding (console.js) is on the page.
    assert re.findall(r"<script[^>]*>", text) == ['<script src="/static/console.js">']
    assert "6281111111111" not in text and "Budi" not in text  # aggregates only


def test_a_range_that_is_reversed_or_too_long_is_tidied(console):
    client = console.as_role("admin")
    page = client.get("/dasbor?dari=2026-12-10&sampai=2026-12-01").text
    assert 'value="2026-12-01"' in page and 'value="2026-12-10"' in page
    page = client.get("/dasbor?dari=2026-01-01&sampai=2026-12-31").text
    assert "Rentang dibatasi 92 hari." in page


def test_without_a_valid_range_the_past_week_and_the_bookable_days_are_shown(offices):
    from antrean.console.views.dashboard import date_range

    batam = offices["batam"]
    last = TUESDAY + timedelta(days=batam.booking_horizon_days + 2)
    assert date_range(None, None, TUESDAY, batam) == (date(2026, 11, 25), last, None)
    assert date_range("kemarin", "2026-13-01", TUESDAY, batam) == (date(2026, 11, 25), last, None)
    assert date_range(" 2026-12-02 ", "2026-12-02", TUESDAY, batam) == (WEDNESDAY, WEDNESDAY, None)
    assert date_range("2026-01-01", "2026-12-31", TUESDAY, batam)[1:] == (date(2026, 4, 2), "Rentang dibatasi 92 hari.")


def test_the_minutes_of_the_registration_window_are_listed_from_opening_to_closing():
    window = dashboard.minutes_between(time(7, 30), time(10, 0))
    assert (len(window), window[0], window[29], window[-1]) == (150, "07:30", "07:59", "09:59")
    assert dashboard.minutes_between(time(23, 58), time(23, 59, 30)) == ["23:58", "23:59"]  # never past midnight


def test_the_dashboard_is_for_admins_reviewers_and_counters_of_their_own_office(console):
    assert console.as_role("security").get("/dasbor").status_code == 403
    for role in ("admin", "reviewer", "counter"):
        assert console.as_role(role).get("/dasbor").status_code == 200
    console.add_user("loket.bogor", "counter", office_id="bogor")
    client = console.client()
    client.follow(client.login("loket.bogor", console.passwords["loket.bogor"]))
    assert client.get("/dasbor?kantor=batam").status_code == 403
    assert "Dasbor · Bogor" in client.get("/dasbor").text
