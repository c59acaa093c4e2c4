from datetime import date, time

from antrean.booking.capacity import arrival_time, daily_capacity, sessions_for
from tests.conftest import wib

TUESDAY = date(2026, 12, 1)
FRIDAY = date(2026, 12, 4)


def test_daily_capacity_is_counters_times_usable_minutes_over_interview_minutes(offices):
    bogor = offices["bogor"]  # 6 counters, 15 minutes, 08–16 with a 12–13 break = 420 minutes
    assert daily_capacity(bogor, TUESDAY) == 6 * 420 // 15 == 168


def test_friday_prayers_shorten_the_day(offices):
    assert daily_capacity(offices["bogor"], FRIDAY) == 6 * 390 // 15


def test_an_explicit_quota_overrides_the_formula(offices):
    assert daily_capacity(offices["batam"], TUESDAY) == 250


def test_sessions_skip_the_break_and_add_up_to_the_day(offices):
    for office in offices.values():
        for day in (TUESDAY, FRIDAY):
            sessions = sessions_for(office, day)
            assert sum(s.capacity for s in sessions) == daily_capacity(office, day)
            assert all(s.capacity > 0 for s in sessions)
    starts = [s.start for s in sessions_for(offices["bogor"], TUESDAY)]
    assert starts == [time(8), time(9), time(10), time(11), time(13), time(14), time(15)]


def test_a_session_cut_by_a_break_gets_a_proportional_share(offices):
    friday = {s.start: s for s in sessions_for(offices["bogor"], FRIDAY)}
    assert friday[time(11)].end == time(11, 30)
    assert friday[time(11)].capacity == friday[time(10)].capacity // 2


def test_a_closed_weekday_has_no_sessions(offices):
    assert sessions_for(offices["batam"], date(2026, 12, 5)) == []
    assert daily_capacity(offices["batam"], date(2026, 12, 5)) == 0


def test_applicants_are_asked_to_arrive_thirty_minutes_early(offices):
    session = sessions_for(offices["batam"], TUESDAY)[1]
    assert arrival_time(TUESDAY, session, offices["batam"]) == wib(2026, 12, 1, 8, 30)


def test_session_length_is_configurable(offices):
    # after lunch the sessions restart on the hour: 13–15, 15–16
    office = offices["bogor"].copy(update={"session_minutes": 120})
    assert [s.start for s in sessions_for(office, TUESDAY)] == [time(8), time(10), time(13), time(15)]
