"""The dashboard's figures for one office and a range of days (office-local days):

- registrations vs quota per appointment day (bookings, not cancelled, against daily capacity);
- the outcome funnel, from one source — the conversations started in the range (read model 0005)
  and, through the booking code each booked one ends with, that booking: started → applicant's
  details complete (name, birth date, address, NIK and photo all given; a booking cannot be made
  without them) → booked → checked in → served. Each stage is the one before with one more
  condition, so no stage can count more than the one before it (bookings made outside a
  conversation, e.g. from the command line, are not in the funnel);
- the fallback rate and the histogram of intent confidence over user messages (read model);
- the busiest minutes of the registration window, from the bookings' creation times;
- the conversations in which someone else's e-KTP was refused (the `card_mismatch` facet).
Aggregates only: no name, number or text leaves this module."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Engine

from antrean.booking.calendar import OfficeCalendar
from antrean.booking.capacity import daily_capacity
from antrean.booking.offices import Office
from antrean.booking.schema import bookings
from antrean.booking.store import from_db_time, to_db_time
from antrean.review.derive import CARD_MISMATCH_SLOT
from antrean.review.schema import review_conversations, review_facets, review_user_messages

DETAIL_SLOTS = ("person_name", "birth_date", "address", "nik", "id_photo")
FALLBACK_INTENT = "nlu_fallback"
BINS = 10


@dataclass(frozen=True)
class DayFill:
    day: date
    booked: int
    quota: int
    closed: str | None  # why the office is closed that day, if it is


@dataclass(frozen=True)
class NluQuality:
    messages: int
    fallbacks: int
    histogram: list[int]  # BINS counts of confidence in [0, 0.1), [0.1, 0.2), … [0.9, 1.0]

    @property
    def fallback_rate(self) -> float | None:
        return self.fallbacks / self.messages if self.messages else None


def utc_bounds(office: Office, first: date, last: date) -> tuple[datetime, datetime]:
    """The range's first and last local day as naive-UTC bounds [start, end) for the database."""
    start = datetime.combine(first, time(0), tzinfo=office.zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=office.zone)
    return to_db_time(start), to_db_time(end)


def registrations_vs_quota(engine: Engine, office: Office, calendar: OfficeCalendar, first: date,
                           last: date) -> list[DayFill]:
    query = (select(bookings.c.day, func.count()).where(
        bookings.c.office_id == office.id, bookings.c.day.between(first, last), bookings.c.status != "cancelled")
        .group_by(bookings.c.day))
    with engine.connect() as connection:
        booked = dict(connection.execute(query).all())
    days, day = [], first
    while day <= last:
        closed = calendar.closure_reason(day)
        days.append(DayFill(day, booked.get(day, 0), 0 if closed else daily_capacity(office, day), closed))
        day += timedelta(days=1)
    return days


FUNNEL_STAGES = ("Mulai percakapan", "Data diri lengkap", "Terdaftar", "Check-in", "Dilayani")


def funnel(engine: Engine, office: Office, first: date, last: date) -> list[tuple[str, int]]:
    start, end = utc_bounds(office, first, last)
    conversation = review_conversations.c
    complete = (select(review_facets.c.conversation_id)
                .where(review_facets.c.kind == "slot", review_facets.c.name.in_(DETAIL_SLOTS))
                .group_by(review_facets.c.conversation_id)
                .having(func.count(func.distinct(review_facets.c.name)) == len(DETAIL_SLOTS)))
    booked = conversation.booking_code.is_not(None)
    # One condition more at each stage: every stage is a subset of the one before, by construction.
    stages = [and_(conversation.office_id == office.id, conversation.started_at >= start,
                   conversation.started_at < end, conversation.turns > 0)]
    stages.append(and_(stages[-1], or_(conversation.id.in_(complete), booked)))
    stages.append(and_(stages[-1], booked))
    stages.append(and_(stages[-1], bookings.c.checked_in_at.is_not(None)))
    stages.append(and_(stages[-1], bookings.c.status == "served"))
    source = review_conversations.outerjoin(bookings, bookings.c.code == conversation.booking_code)
    query = select(*(func.count(case((stage, 1))) for stage in stages)).select_from(source).where(stages[0])
    with engine.connect() as connection:
        counts = connection.execute(query).one()
    return list(zip(FUNNEL_STAGES, counts, strict=True))


def card_mismatches(engine: Engine, office: Office, first: date, last: date) -> int:
    """Conversations started in the range in which the assistant refused an e-KTP as someone else's."""
    start, end = utc_bounds(office, first, last)
    flagged = select(review_facets.c.conversation_id).where(
        review_facets.c.kind == "slot", review_facets.c.name == CARD_MISMATCH_SLOT, review_facets.c.value != "")
    query = select(func.count()).select_from(review_conversations).where(
        review_conversations.c.office_id == office.id, review_conversations.c.started_at >= start,
        review_conversations.c.started_at < end, review_conversations.c.id.in_(flagged))
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()


def nlu_quality(engine: Engine, office: Office, first: date, last: date) -> NluQuality:
    start, end = utc_bounds(office, first, last)
    messages = review_user_messages
    query = (select(messages.c.confidence, messages.c.intent).where(
        messages.c.office_id == office.id, messages.c.at >= start, messages.c.at < end,
        messages.c.confidence.is_not(None)))
    histogram, count, fallbacks = [0] * BINS, 0, 0
    with engine.connect() as connection:
        for confidence, intent in connection.execute(query):
            count += 1
            fallbacks += intent == FALLBACK_INTENT
            histogram[min(int(max(confidence, 0.0) * BINS), BINS - 1)] += 1
    return NluQuality(count, fallbacks, histogram)


def registration_window(office: Office, calendar: OfficeCalendar, first: date, last: date) -> tuple[time, time]:
    """The earliest opening and latest closing of registration over the range's working days
    (07:30–10:00 at every office today); a whole week is looked at when the range has none."""
    windows = []
    for offset in range(max((last - first).days + 1, 7)):
        day = first + timedelta(days=offset)
        window = office.schedule_for(day).registration
        if window is not None and calendar.is_working_day(day):
            windows.append(window)
    if not windows:
        return time(7, 30), time(10, 0)
    return min(w.start for w in windows), max(w.end for w in windows)


def minutes_between(opens: time, closes: time) -> list[str]:
    """Every minute of the day from `opens` up to `closes` (not included), as HH:MM."""
    minutes, moment = [], datetime.combine(date.min, opens)
    while moment.time() < closes and moment.date() == date.min:
        minutes.append(moment.strftime("%H:%M"))
        moment += timedelta(minutes=1)
    return minutes


def busiest_minutes(engine: Engine, office: Office, first: date, last: date) -> Counter:
    """Bookings made per local minute of the day (HH:MM → count) over the range."""
    start, end = utc_bounds(office, first, last)
    query = select(bookings.c.created_at).where(bookings.c.office_id == office.id, bookings.c.created_at >= start,
                                                bookings.c.created_at < end)
    minutes: Counter = Counter()
    with engine.connect() as connection:
        for (created,) in connection.execute(query):
            local = from_db_time(created).astimezone(office.zone)
            minutes[local.strftime("%H:%M")] += 1
    return minutes
