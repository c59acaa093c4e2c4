"""How many applicants an office can see, per day and per session.

Daily capacity = counters × usable service minutes ÷ interview minutes, unless the office sets an
explicit `daily_quota`. The day is cut into sessions (08:00–09:00, …) and the daily figure is shared
between them in proportion to their usable minutes, so the sessions always add up to the day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from antrean.booking.offices import Office


@dataclass(frozen=True)
class Session:
    start: time
    end: time
    capacity: int

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


def _minute(t: time) -> int:
    return t.hour * 60 + t.minute


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


def _usable_blocks(office: Office, day: date) -> list[tuple[int, int]]:
    """Sessions as (first minute, end minute): each stretch of service time between breaks is cut
    into session-length pieces, so sessions restart on the hour after lunch."""
    schedule = office.schedule_for(day)
    if schedule.service is None:
        return []
    stretches = [(_minute(schedule.service.start), _minute(schedule.service.end))]
    for pause in sorted(schedule.breaks, key=lambda b: b.start):
        pause_start, pause_end = _minute(pause.start), _minute(pause.end)
        stretches = [
            piece
            for start, end in stretches
            for piece in ((start, min(end, pause_start)), (max(start, pause_end), end))
            if piece[0] < piece[1]
        ]
    return [
        (block_start, min(block_start + office.session_minutes, end))
        for start, end in stretches
        for block_start in range(start, end, office.session_minutes)
    ]


def daily_capacity(office: Office, day: date) -> int:
    if office.daily_quota is not None:
        return office.daily_quota if _usable_blocks(office, day) else 0
    usable = sum(end - start for start, end in _usable_blocks(office, day))
    return office.counters * usable // office.interview_minutes


def sessions_for(office: Office, day: date) -> list[Session]:
    """The day's sessions with their share of the daily capacity (largest-remainder split)."""
    blocks = _usable_blocks(office, day)
    total = daily_capacity(office, day)
    minutes = [end - start for start, end in blocks]
    all_minutes = sum(minutes)
    if not blocks or total == 0:
        return []
    exact = [total * m / all_minutes for m in minutes]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(blocks)), key=lambda i: (exact[i] - shares[i], -i), reverse=True)
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return [
        Session(start=_clock(start), end=_clock(end), capacity=share)
        for (start, end), share in zip(blocks, shares, strict=True)
        if share > 0
    ]


def session_starting(office: Office, day: date, start: time) -> Session | None:
    return next((s for s in sessions_for(office, day) if s.start == start), None)


def arrival_time(day: date, session: Session, office: Office) -> datetime:
    """Applicants are asked to arrive 30 minutes before their session (as in the 2017 replies)."""
    return datetime.combine(day, session.start, tzinfo=office.zone) - timedelta(minutes=30)
