import logging
from datetime import datetime, timedelta, timezone

import pytest

from antrean.runtime.clock import clock_from_env, system_clock


def test_without_antrean_clock_the_system_clock_is_used():
    assert clock_from_env({}) is system_clock
    assert abs(system_clock() - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_antrean_clock_fixes_the_time_and_warns(caplog):
    with caplog.at_level(logging.WARNING):
        clock = clock_from_env({"ANTREAN_CLOCK": "2026-12-01T07:45:00+07:00"})
    assert clock() == datetime(2026, 12, 1, 0, 45, tzinfo=timezone.utc)
    assert "ANTREAN_CLOCK" in caplog.text


@pytest.mark.parametrize("value", ["yesterday", "2026-12-01T07:45:00"])
def test_a_bad_antrean_clock_is_a_clear_error(value):
    with pytest.raises(ValueError, match="ANTREAN_CLOCK"):
        clock_from_env({"ANTREAN_CLOCK": value})
