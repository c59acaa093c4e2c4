"""Working days and registration windows, in each office's own time zone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

import holidays

from antrean.booking.offices import Office

# Never look further than this for the next working day / opening; a year without one is a config error.
_SEARCH_LIMIT_DAYS = 366


class OfficeCalendar:
    def __init__(self, office: Office):
        self.office = office
        # 'government' carries cuti bersama in newer `holidays` releases; the release pinned beside
        # Rasa 3.6 has none, which is why offices.yml lists them too. Names in Indonesian: they are
        # shown to applicants and staff ("hari libur nasional (Hari Raya Natal)").
        self._holidays = holidays.country_holidays("ID", categories=("public", "government"), language="id")
        self._collective_leave = set(office.collective_leave_dates)
        self._closed = set(office.closed_dates)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.office.zone)

    def today(self, moment: datetime) -> date:
        return self.local(moment).date()

    def closure_reason(self, day: date) -> str | None:
        """Why the office is closed on `day` (Indonesian, for applicants), or None if it is open."""
        if day in self._closed:
            return "kantor tutup"
        if day in self._collective_leave:
            return "cuti bersama"
        holiday = self._holidays.get(day)
        if holiday:
            return f"hari libur nasional ({holiday})"
        if self.office.schedule_for(day).service is None:
            return "akhir pekan" if day.weekday() >= 5 else "tidak ada layanan"
        return None

    def is_working_day(self, day: date) -> bool:
        return self.closure_reason(day) is None

    def bookable_days(self, moment: datetime) -> list[date]:
        """The next `booking_horizon_days` working days after today (today itself is not bookable:
        registration happens in the morning for later days, as in the 2017 LAW system)."""
        days: list[date] = []
        day = self.today(moment)
        for _ in range(_SEARCH_LIMIT_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                days.append(day)
                if len(days) == self.office.booking_horizon_days:
                    break
        return days

    def registration_open(self, moment: datetime) -> bool:
        local = self.local(moment)
        window = self.office.schedule_for(local.date()).registration
        return (
            window is not None
            and self.is_working_day(local.date())
            and window.start <= local.time().replace(tzinfo=None) < window.end
        )

    def next_day_opening(self, moment: datetime) -> datetime | None:
        """When registration opens after today (for "full today, try again tomorrow morning")."""
        tomorrow = datetime.combine(self.today(moment) + timedelta(days=1), time(0), tzinfo=self.office.zone)
        return self.next_registration_opening(tomorrow)

    def next_registration_opening(self, moment: datetime) -> datetime | None:
        """The next moment registration opens (local time), or None if it is open now."""
        if self.registration_open(moment):
            return None
        local = self.local(moment)
        day = local.date()
        for _ in range(_SEARCH_LIMIT_DAYS):
            window = self.office.schedule_for(day).registration
            if window is not None and self.is_working_day(day):
                opening = datetime.combine(day, window.start, tzinfo=self.office.zone)
                if opening > local:
                    return opening
            day += timedelta(days=1)
        return None


def registration_open_for(calendars: Mapping[str, OfficeCalendar], office_id: str | None, moment: datetime) -> bool:
    """Whether the office takes registrations at `moment`; for an unknown or unnamed office, whether
    any does (a message that names no office may still become a registration there)."""
    chosen = [calendars[office_id]] if office_id in calendars else list(calendars.values())
    return any(calendar.registration_open(moment) for calendar in chosen)
