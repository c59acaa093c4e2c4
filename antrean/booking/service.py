"""The booking service: the only code that opens transactions on the booking database.

Each public method is one short transaction. Capacity, queue numbers, the one-active-booking-per-NIK
rule and the per-number limit are enforced by the database (see schema.py), so the answers stay
right with any number of processes. Refusals are `BookingRefused` with a `RefusalReason`."""

from __future__ import annotations

import logging
import random
import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from antrean.booking import store
from antrean.booking.calendar import OfficeCalendar, registration_open_for
from antrean.booking.capacity import Session, arrival_time, session_starting, sessions_for
from antrean.booking.codes import BookingCodes
from antrean.booking.model import (
    Applicant,
    ApplicationType,
    Booking,
    BookingRefused,
    BookingStatus,
    RefusalReason,
    ensure_transition,
)
from antrean.booking.offices import Office, is_practice
from antrean.booking.practice import PracticeCalendar, practice_office
from antrean.identity import (
    IdentityError,
    check_nik_against,
    check_sender_id,
    is_minor,
    normalise_address,
    normalise_name,
    parse_birth_date,
    parse_nik,
)
from antrean.runtime.clock import Clock

logger = logging.getLogger(__name__)

# Deadlocks (PostgreSQL) and lock time-outs (SQLite) are resolved by running the transaction again.
_TRANSIENT_MARKERS = ("deadlock detected", "could not serialize", "database is locked")
_ATTEMPTS = 8


@dataclass(frozen=True)
class BookingRequest:
    office_id: str
    day: date
    full_name: str
    birth_date: date | str
    address: str
    nik: str
    application_type: ApplicationType | str
    whatsapp_number: str
    session_start: time | None = None  # None: the earliest session with a seat left
    photo_ref: str | None = None
    request_key: str | None = None  # e.g. the WhatsApp message id; a repeat returns the same booking


@dataclass(frozen=True)
class SessionAvailability:
    session: Session
    booked: int

    @property
    def left(self) -> int:
        return max(self.session.capacity - self.booked, 0)


@dataclass(frozen=True)
class DayAvailability:
    day: date
    sessions: tuple[SessionAvailability, ...]  # none on a closed day: nothing there can be booked
    closure: str | None = None  # why the office is closed that day (calendar.closure_reason)
    booked_while_open: int = 0  # on a closed day: bookings made before the closure was configured

    @property
    def capacity(self) -> int:
        return sum(s.session.capacity for s in self.sessions)

    @property
    def left(self) -> int:
        return sum(s.left for s in self.sessions)


class BookingService:
    def __init__(self, engine: Engine, offices: dict[str, Office], clock: Clock, codes: BookingCodes):
        self.engine = engine
        # Each read below is one SELECT: on PostgreSQL it goes in autocommit mode, without the BEGIN
        # before it and the ROLLBACK after it (two round trips of four; issue 12 §3). Writes keep
        # their transactions.
        self.reads = (engine.execution_options(isolation_level="AUTOCOMMIT")
                      if engine.dialect.name == "postgresql" else engine)
        self.offices = offices  # the real offices; every list and count of the console is about these
        # Their practice twins (antrean.booking.practice): same rules, own seats, never in real lists.
        self.practice_offices = {p.id: p for p in map(practice_office, offices.values())}
        self.clock = clock
        self.codes = codes
        self._calendars: dict[str, OfficeCalendar] = {
            **{office_id: OfficeCalendar(office) for office_id, office in offices.items()},
            **{office_id: PracticeCalendar(office) for office_id, office in self.practice_offices.items()},
        }
        self._sessions: dict[tuple[str, date], list[Session]] = {}

    # --- reading ---------------------------------------------------------------------------------

    @property
    def all_offices(self) -> dict[str, Office]:
        """Real and practice offices, for code that follows an office id wherever it came from."""
        return {**self.offices, **self.practice_offices}

    def office(self, office_id: str) -> Office:
        found = self.offices.get(office_id) or self.practice_offices.get(office_id)
        if found is None:
            raise BookingRefused(RefusalReason.UNKNOWN_OFFICE, f"no office {office_id!r}")
        return found

    def calendar(self, office_id: str) -> OfficeCalendar:
        self.office(office_id)
        return self._calendars[office_id]

    def registration_open(self, office_id: str | None = None) -> bool:
        """Whether an office takes registrations now; for an unknown or unnamed office, whether any
        real office does (a practice twin, always open, counts only when it is named)."""
        calendars = self._calendars if office_id in self._calendars else {
            real_id: self._calendars[real_id] for real_id in self.offices}
        return registration_open_for(calendars, office_id, self.clock())

    def availability(self, office_id: str, days: list[date] | None = None) -> list[DayAvailability]:
        """Seats per session for the bookable days (or the given days). A closed day (holiday,
        collective leave, closure, weekend) has no sessions, whatever its weekday's hours say."""
        office = self.office(office_id)
        calendar = self.calendar(office_id)
        days = days if days is not None else calendar.bookable_days(self.clock())
        with self.reads.connect() as connection:
            taken = store.seats_taken(connection, office_id, days)
        result = []
        for day in days:
            closure = calendar.closure_reason(day)
            if closure:
                booked = sum(n for (taken_day, _), n in taken.items() if taken_day == day)
                result.append(DayAvailability(day, (), closure, booked))
                continue
            sessions = self.sessions(office.id, day)
            result.append(DayAvailability(day, tuple(SessionAvailability(s, taken.get((day, s.start), 0))
                                                     for s in sessions)))
        return result

    def get_by_code(self, code: str) -> Booking | None:
        normalised = self.codes.normalise(code)
        if normalised is None or not self.codes.is_authentic(normalised):
            return None
        with self.reads.connect() as connection:
            return store.by_code(connection, normalised)

    def get_by_whatsapp_number(self, whatsapp_number: str, active_only: bool = True) -> list[Booking]:
        with self.reads.connect() as connection:
            return store.by_whatsapp_number(connection, whatsapp_number, active_only)

    def get_active_by_nik(self, nik: str) -> Booking | None:
        with self.reads.connect() as connection:
            return store.active_by_nik(connection, nik)

    def day_list(self, office_id: str, day: date) -> list[Booking]:
        self.office(office_id)
        with self.reads.connect() as connection:
            return store.day_list(connection, office_id, day)

    def events(self, booking_id: int) -> list[dict]:
        with self.reads.connect() as connection:
            return store.events_of(connection, booking_id)

    # --- booking ---------------------------------------------------------------------------------

    def book(self, request: BookingRequest, actor: str = "applicant") -> Booking:
        """Book a seat. The first attempt writes without looking for an earlier booking (the unique
        indexes and `… WHERE booked < capacity` are the referee); only when it was refused or an index
        fired does a second one look first, to answer a repeat with the booking it already made."""
        draft = self._draft(request, actor)
        try:
            return self._transaction(lambda connection: self._write_first(connection, draft))
        except IntegrityError:
            # A unique index fired: a repeat of this request, this NIK booked already, or (vanishingly
            # rarely) a code collision. Looking first this time answers all three.
            pass
        except BookingRefused as refused:
            # A full day or number limit may hide a repeat of a request that already succeeded.
            if refused.reason not in (RefusalReason.NUMBER_LIMIT, RefusalReason.QUOTA_FULL):
                raise
        for _ in range(_ATTEMPTS):
            try:
                return self._transaction(lambda connection: self._write_looking_first(connection, draft))
            except IntegrityError:
                # The twin was still in flight when we looked; once it has committed, we see it.
                continue
        raise BookingRefused(RefusalReason.INVALID_DATA, "conflicting concurrent requests", {"code": "conflict"})

    def _draft(self, request: BookingRequest, actor: str) -> _Draft:
        """Everything about the request that needs no transaction, checked before any is opened."""
        office = self.office(request.office_id)
        now = self.clock()
        calendar = self._calendars[office.id]
        self._ensure_registration_open(calendar, now)
        self._ensure_bookable(calendar, request.day, now)
        return _Draft(
            request=request,
            office=office,
            now=now,
            actor=actor,
            candidates=self._candidate_sessions(office, request.day, request.session_start),
            applicant=self._validated_applicant(request, calendar.today(now)),
            whatsapp_number=self._validated_number(request.whatsapp_number),
        )

    def _write_first(self, connection: Connection, draft: _Draft) -> Booking:
        # PostgreSQL: one statement, so the hot counter rows stay locked for no client round trip
        # (store._BOOK_AT_ONCE). SQLite runs one writer at a time and has no writing CTEs.
        if connection.dialect.name == "postgresql":
            return self._write_in_one_statement(connection, draft)
        return self._write_step_by_step(connection, draft)

    def _write_in_one_statement(self, connection: Connection, draft: _Draft) -> Booking:
        """PostgreSQL: the seat, the number's slot, the queue number, the row and its event in one
        statement, on the first session that had a seat left when looked at just before."""
        request, office = draft.request, draft.office
        taken = store.seats_taken(connection, office.id, [request.day])
        session = next((s for s in draft.candidates if taken.get((request.day, s.start), 0) < s.capacity), None)
        if session is None:
            raise _quota_full(draft)
        booking = self._new_booking(draft, session)
        outcome = store.book_at_once(connection, booking, office.max_active_bookings_per_number, session.capacity,
                                     draft.actor)
        if not outcome.sender_ok:
            raise _number_limit(office)
        if not outcome.seat_ok:
            raise _quota_full(draft)
        booking.id, booking.queue_number = outcome.id, outcome.queue_number
        return booking

    def _write_step_by_step(self, connection: Connection, draft: _Draft) -> Booking:
        """The number's slot, then a seat in the first candidate session that has one, then the queue
        number, the row and its event: one statement each, in one transaction."""
        request, office = draft.request, draft.office
        if not store.claim_sender_slot(connection, draft.whatsapp_number, office.max_active_bookings_per_number):
            raise _number_limit(office)
        session = next(
            (s for s in draft.candidates if store.take_seat(connection, office.id, request.day, s.start, s.capacity)),
            None,
        )
        if session is None:
            raise _quota_full(draft)
        booking = self._new_booking(draft, session)
        booking.queue_number = store.next_queue_number(connection, office.id, request.day)
        booking.id = store.insert_booking(connection, booking)
        store.record_event(connection, booking.id, draft.now, "booked", draft.actor,
                           queue_number=booking.queue_number)
        return booking

    def _write_looking_first(self, connection: Connection, draft: _Draft) -> Booking:
        """After a conflict: a repeat of this request (same key, or the same NIK from the same number
        for the same office and day) gets the booking it made; another active booking of the NIK is
        a refusal; anything else is booked step by step."""
        request = draft.request
        if request.request_key and (earlier := store.by_request_key(connection, request.request_key)):
            return earlier
        # Practice bookings hold no NIK (antrean.booking.practice): neither side blocks the other.
        existing = None if is_practice(draft.office.id) else store.active_by_nik(connection, draft.applicant.nik)
        if existing is not None:
            if (existing.whatsapp_number, existing.office_id, existing.day) == (
                    draft.whatsapp_number, draft.office.id, request.day):
                return existing
            raise BookingRefused(
                RefusalReason.NIK_ALREADY_BOOKED,
                "this NIK already has an active booking",
                {"office_id": existing.office_id, "day": existing.day,
                 "same_sender": existing.whatsapp_number == draft.whatsapp_number},
            )
        return self._write_step_by_step(connection, draft)

    def _new_booking(self, draft: _Draft, session: Session) -> Booking:
        request = draft.request
        return Booking(
            office_id=draft.office.id,
            day=request.day,
            session_start=session.start,
            queue_number=0,
            code=self.codes.new(),
            applicant=draft.applicant,
            whatsapp_number=draft.whatsapp_number,
            photo_ref=request.photo_ref,
            request_key=request.request_key,
            created_at=draft.now,
            updated_at=draft.now,
        )

    # --- changing a booking ----------------------------------------------------------------------

    def cancel(self, code: str, actor: str = "applicant", whatsapp_number: str | None = None) -> Booking:
        """Cancel and free the seat. With `whatsapp_number`, only that number's bookings qualify."""
        return self._cancel(code, actor, whatsapp_number, "cancelled")

    def release(self, code: str, actor: str) -> Booking:
        """Staff free the NIK (and seat) held by a booking made with someone else's NIK, so its
        owner can book: the booking is cancelled with a `released` event. The console requires
        and audits the reason."""
        return self._cancel(code, actor, None, "released")

    def _cancel(self, code: str, actor: str, whatsapp_number: str | None, kind: str) -> Booking:
        def attempt(connection: Connection) -> Booking:
            booking = self._locked(connection, code, whatsapp_number)
            ensure_transition(booking, BookingStatus.CANCELLED)
            now = self.clock()
            self._finish(connection, booking, BookingStatus.CANCELLED, now)
            store.release_seat(connection, booking.office_id, booking.day, booking.session_start)
            store.record_event(connection, booking.id, now, kind, actor)
            return replace(booking, status=BookingStatus.CANCELLED, updated_at=now, finished_at=now)

        return self._transaction(attempt)

    def reschedule(
        self,
        code: str,
        new_day: date,
        new_session_start: time | None = None,
        actor: str = "applicant",
        whatsapp_number: str | None = None,
    ) -> Booking:
        """Move a booking once, to a bookable day with a seat. The old seat is freed; the queue number
        is a new one on the new day (numbers are never reused)."""
        now = self.clock()

        def attempt(connection: Connection) -> Booking:
            booking = self._locked(connection, code, whatsapp_number)
            if booking.status is not BookingStatus.BOOKED:
                raise BookingRefused(RefusalReason.WRONG_STATUS, f"booking is {booking.status.value}",
                                     {"status": booking.status.value})
            if booking.reschedule_count >= 1:
                raise BookingRefused(RefusalReason.ALREADY_RESCHEDULED, "a booking can be rescheduled once")
            office = self.office(booking.office_id)
            calendar = self._calendars[office.id]
            self._ensure_registration_open(calendar, now)
            self._ensure_bookable(calendar, new_day, now)
            candidates = [
                s for s in self._candidate_sessions(office, new_day, new_session_start)
                if (new_day, s.start) != (booking.day, booking.session_start)
            ]
            session = next(
                (s for s in candidates if store.take_seat(connection, office.id, new_day, s.start, s.capacity)), None
            )
            if session is None:
                raise BookingRefused(RefusalReason.QUOTA_FULL, f"no seat left on {new_day}", {"day": new_day})
            store.release_seat(connection, office.id, booking.day, booking.session_start)
            queue_number = store.next_queue_number(connection, office.id, new_day)
            store.update_booking(
                connection, booking.id, BookingStatus.BOOKED,
                day=new_day, session_start=session.start, queue_number=queue_number,
                reschedule_count=booking.reschedule_count + 1, updated_at=now,
            )
            store.record_event(connection, booking.id, now, "rescheduled", actor,
                               from_day=booking.day, to_day=new_day, queue_number=queue_number)
            return replace(booking, day=new_day, session_start=session.start, queue_number=queue_number,
                           reschedule_count=booking.reschedule_count + 1, updated_at=now)

        return self._transaction(attempt)

    def check_in(self, code: str, actor: str) -> tuple[Booking, str]:
        """Let the applicant in at the door: only on the booking's own day. Returns the booking and
        whether they are 'early', 'on_time' or 'late' for their session."""
        now = self.clock()

        def attempt(connection: Connection) -> tuple[Booking, str]:
            booking = self._locked(connection, code)
            office = self.office(booking.office_id)
            today = self._calendars[office.id].today(now)
            # Practice bookings are let in on any day: a training session is not bound to the calendar.
            if booking.status is BookingStatus.BOOKED and booking.day != today and not is_practice(office.id):
                raise BookingRefused(RefusalReason.WRONG_DAY, f"booking is for {booking.day}",
                                     {"day": booking.day, "today": today})
            ensure_transition(booking, BookingStatus.CHECKED_IN)
            store.update_booking(connection, booking.id, BookingStatus.BOOKED,
                                 status=BookingStatus.CHECKED_IN.value, checked_in_at=now, updated_at=now)
            store.record_event(connection, booking.id, now, "checked_in", actor)
            checked_in = replace(booking, status=BookingStatus.CHECKED_IN, checked_in_at=now, updated_at=now)
            return checked_in, self.punctuality(checked_in, now)

        return self._transaction(attempt)

    def mark_served(self, code: str, actor: str) -> Booking:
        return self._close(code, BookingStatus.SERVED, actor)

    def mark_no_show(self, code: str, actor: str) -> Booking:
        """Only on the booking's day or later: before it, the applicant can still come."""
        return self._close(code, BookingStatus.NO_SHOW, actor, not_before_day=True)

    def punctuality(self, booking: Booking, moment: datetime) -> str:
        office = self.office(booking.office_id)
        session = session_starting(office, booking.day, booking.session_start)
        local = moment.astimezone(office.zone)
        if session is None:  # the office changed its sessions since the booking was made
            session = Session(booking.session_start, booking.session_start, 0)
        if local < arrival_time(booking.day, session, office):
            return "early"
        if local <= datetime.combine(booking.day, session.start, tzinfo=office.zone):
            return "on_time"
        return "late"

    def purge_practice(self, made_before: datetime) -> list[str | None]:
        """Deletes the practice bookings made before `made_before`, freeing their practice seats and
        the simulator numbers' quota; returns their photo references, one per booking deleted (None
        where it had none), for the caller to remove from the media store. Idempotent."""
        return self._transaction(lambda connection: store.purge_practice(connection, made_before))

    # --- internals -------------------------------------------------------------------------------

    def _transaction(self, work: Callable[[Connection], object]):
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self.engine.begin() as connection:
                    return work(connection)
            except OperationalError as error:
                if attempt == _ATTEMPTS or not any(m in str(error.orig) for m in _TRANSIENT_MARKERS):
                    raise
                logger.info("transient database conflict (attempt %d), retrying", attempt)
                wallclock.sleep(random.uniform(0.005, 0.05) * attempt)
        raise AssertionError("unreachable")

    def _ensure_registration_open(self, calendar: OfficeCalendar, now: datetime) -> None:
        if not calendar.registration_open(now):
            raise BookingRefused(
                RefusalReason.OUTSIDE_WINDOW,
                "registration is closed now",
                {"next_opening": calendar.next_registration_opening(now)},
            )

    def _ensure_bookable(self, calendar: OfficeCalendar, day: date, now: datetime) -> None:
        bookable = calendar.bookable_days(now)
        if day not in bookable:
            raise BookingRefused(
                RefusalReason.DAY_NOT_BOOKABLE,
                f"{day} is not one of the bookable days",
                {"day": day, "bookable_days": bookable, "closure": calendar.closure_reason(day)},
            )

    def sessions(self, office_id: str, day: date) -> list[Session]:
        key = (office_id, day)
        if key not in self._sessions:
            self._sessions[key] = sessions_for(self.office(office_id), day)
        return self._sessions[key]

    def _candidate_sessions(self, office: Office, day: date, start: time | None) -> list[Session]:
        sessions = self.sessions(office.id, day)
        if start is None:
            return sessions
        chosen = [s for s in sessions if s.start == start]
        if not chosen:
            raise BookingRefused(RefusalReason.SESSION_UNKNOWN, f"no session at {start:%H:%M} on {day}",
                                 {"sessions": [s.start for s in sessions]})
        return chosen

    def _validated_applicant(self, request: BookingRequest, today: date) -> Applicant:
        try:
            birth_date = request.birth_date
            if isinstance(birth_date, str):
                birth_date = parse_birth_date(birth_date, today)
            nik = parse_nik(request.nik, today)
            check_nik_against(nik, birth_date)
            application_type = ApplicationType(request.application_type)
            return Applicant(
                full_name=normalise_name(request.full_name),
                birth_date=birth_date,
                address=normalise_address(request.address),
                nik=nik.value,
                application_type=application_type,
                is_minor=is_minor(birth_date, request.day),
            )
        except IdentityError as error:
            raise BookingRefused(RefusalReason.INVALID_DATA, error.code,
                                 {"code": error.code, "message_id": error.message_id}) from None
        except ValueError:
            raise BookingRefused(RefusalReason.INVALID_DATA, "application_type",
                                 {"code": "application_type"}) from None

    def _validated_number(self, whatsapp_number: str) -> str:
        try:
            return check_sender_id(whatsapp_number)
        except IdentityError as error:
            raise BookingRefused(RefusalReason.INVALID_DATA, error.code,
                                 {"code": error.code, "message_id": error.message_id}) from None

    def _locked(self, connection: Connection, code: str, whatsapp_number: str | None = None) -> Booking:
        normalised = self.codes.normalise(code)
        booking = None
        if normalised is not None and self.codes.is_authentic(normalised):
            booking = store.by_code(connection, normalised, lock=True)
        if booking is None or (whatsapp_number is not None and booking.whatsapp_number != whatsapp_number):
            raise BookingRefused(RefusalReason.NOT_FOUND, "no such booking")
        return booking

    def _finish(self, connection: Connection, booking: Booking, status: BookingStatus, now: datetime) -> None:
        if not store.update_booking(connection, booking.id, booking.status,
                                    status=status.value, finished_at=now, updated_at=now):
            raise BookingRefused(RefusalReason.WRONG_STATUS, "the booking changed meanwhile")
        if booking.is_active:
            store.release_sender_slot(connection, booking.whatsapp_number)

    def _close(self, code: str, status: BookingStatus, actor: str, not_before_day: bool = False) -> Booking:
        def attempt(connection: Connection) -> Booking:
            booking = self._locked(connection, code)
            ensure_transition(booking, status)
            now = self.clock()
            if not_before_day and booking.day > (today := self.calendar(booking.office_id).today(now)):
                raise BookingRefused(RefusalReason.WRONG_DAY, f"booking is for {booking.day}",
                                     {"day": booking.day, "today": today})
            self._finish(connection, booking, status, now)
            store.record_event(connection, booking.id, now, status.value, actor)
            return replace(booking, status=status, finished_at=now, updated_at=now)

        return self._transaction(attempt)


@dataclass(frozen=True)
class _Draft:
    """A booking request checked against the calendar and the identity rules, ready to be written."""

    request: BookingRequest
    office: Office
    now: datetime
    actor: str
    candidates: list[Session]  # in order of preference
    applicant: Applicant
    whatsapp_number: str


def _number_limit(office: Office) -> BookingRefused:
    limit = office.max_active_bookings_per_number
    return BookingRefused(RefusalReason.NUMBER_LIMIT, f"{limit} active bookings for this number", {"limit": limit})


def _quota_full(draft: _Draft) -> BookingRefused:
    request = draft.request
    return BookingRefused(RefusalReason.QUOTA_FULL, f"no seat left on {request.day} at {draft.office.id}",
                          {"day": request.day, "session_start": request.session_start})
