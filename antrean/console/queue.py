"""The counter's queue: call the next checked-in applicant, see who is at which counter.

Serving and no-shows go through BookingService (the booking's status); this module only adds who
was called, when and to which counter. A `counter_calls` row per booking, keyed by the booking, is
how the database keeps two counters from calling the same person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from antrean.booking import store
from antrean.booking.model import Booking, BookingStatus
from antrean.booking.schema import bookings
from antrean.console.schema import counter_calls
from antrean.runtime.clock import Clock

_ATTEMPTS = 5


@dataclass(frozen=True)
class Call:
    booking: Booking
    counter_label: str
    called_at: datetime
    called_by: str


def _not_called():
    return ~exists().where(counter_calls.c.booking_id == bookings.c.id)


class CounterQueue:
    def __init__(self, engine: Engine, clock: Clock):
        self.engine = engine
        self.clock = clock

    def call_next(self, office_id: str, day: date, counter_label: str, staff: str) -> Booking | None:
        """The earliest session's lowest queue number among the checked-in, not yet called; None
        when nobody is waiting. A lost race against another counter just moves on to the next."""
        for _ in range(_ATTEMPTS):
            now = self.clock()
            try:
                with self.engine.begin() as connection:
                    waiting = store.list_bookings(
                        connection,
                        bookings.c.office_id == office_id, bookings.c.day == day,
                        bookings.c.status == BookingStatus.CHECKED_IN.value, _not_called(),
                        order_by=(bookings.c.session_start, bookings.c.queue_number),
                    )
                    if not waiting:
                        return None
                    booking = waiting[0]
                    connection.execute(counter_calls.insert().values(
                        booking_id=booking.id, office_id=office_id, day=day, counter_label=counter_label,
                        called_at=store.to_db_time(now), called_by=staff,
                    ))
                    store.record_event(connection, booking.id, now, "called", staff, counter=counter_label)
                    return booking
            except IntegrityError:
                continue
        return None

    def was_called(self, booking_id: int) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(select(exists().where(counter_calls.c.booking_id == booking_id))).scalar()

    def waiting(self, office_id: str, day: date) -> int:
        with self.engine.connect() as connection:
            return connection.execute(
                select(func.count()).select_from(bookings).where(
                    bookings.c.office_id == office_id, bookings.c.day == day,
                    bookings.c.status == BookingStatus.CHECKED_IN.value, _not_called(),
                )
            ).scalar_one()

    def at_counters(self, office_id: str, day: date) -> list[Call]:
        """Called and not yet served or marked absent, most recent call first."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(counter_calls).join(bookings, bookings.c.id == counter_calls.c.booking_id).where(
                    counter_calls.c.office_id == office_id, counter_calls.c.day == day,
                    bookings.c.status == BookingStatus.CHECKED_IN.value,
                ).order_by(counter_calls.c.called_at.desc())
            ).all()
            found = {b.id: b for b in store.list_bookings(connection, bookings.c.id.in_([r.booking_id for r in rows]))}
        return [Call(found[r.booking_id], r.counter_label, store.from_db_time(r.called_at), r.called_by)
                for r in rows if r.booking_id in found]
