"""Bookings and the rules about them. No SQLAlchemy, no Rasa: plain objects and named refusals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import Enum
from typing import Any


class ApplicationType(str, Enum):
    """What can be booked. Lost/damaged/data-change replacements are walk-in only (seed article)."""

    NEW = "new"
    RENEWAL = "renewal"


class BookingStatus(str, Enum):
    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    SERVED = "served"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


# A booking holds a seat (and counts against the NIK and WhatsApp-number limits) while active.
ACTIVE_STATUSES = (BookingStatus.BOOKED, BookingStatus.CHECKED_IN)


@dataclass(frozen=True)
class Applicant:
    """Already validated and normalised by the identity helpers before it reaches the core."""

    full_name: str
    birth_date: date
    address: str
    nik: str
    application_type: ApplicationType
    is_minor: bool


@dataclass
class Booking:
    office_id: str
    day: date
    session_start: time
    queue_number: int
    code: str
    applicant: Applicant
    whatsapp_number: str
    status: BookingStatus = BookingStatus.BOOKED
    photo_ref: str | None = None
    request_key: str | None = None
    reschedule_count: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    checked_in_at: datetime | None = None
    finished_at: datetime | None = None  # served, no-show or cancelled
    id: int | None = None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def queue_label(self, prefix: str) -> str:
        return f"{prefix}-{self.queue_number:03d}"


class RefusalReason(str, Enum):
    """Stable codes: the assistant maps each to an Indonesian reply, the console to a message."""

    UNKNOWN_OFFICE = "unknown_office"
    OUTSIDE_WINDOW = "outside_window"
    DAY_NOT_BOOKABLE = "day_not_bookable"
    SESSION_UNKNOWN = "session_unknown"
    QUOTA_FULL = "quota_full"
    NIK_ALREADY_BOOKED = "nik_already_booked"
    NUMBER_LIMIT = "number_limit"
    INVALID_DATA = "invalid_data"
    NOT_FOUND = "not_found"
    ALREADY_RESCHEDULED = "already_rescheduled"
    WRONG_STATUS = "wrong_status"
    WRONG_DAY = "wrong_day"


@dataclass
class BookingRefused(Exception):
    """Every refusal of the booking service: a reason code plus the facts needed to explain it."""

    reason: RefusalReason
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}" if self.detail else self.reason.value


ALLOWED_TRANSITIONS: dict[BookingStatus, tuple[BookingStatus, ...]] = {
    BookingStatus.BOOKED: (BookingStatus.CHECKED_IN, BookingStatus.CANCELLED, BookingStatus.NO_SHOW),
    BookingStatus.CHECKED_IN: (BookingStatus.SERVED, BookingStatus.NO_SHOW),
    BookingStatus.SERVED: (),
    BookingStatus.NO_SHOW: (),
    BookingStatus.CANCELLED: (),
}


def ensure_transition(booking: Booking, target: BookingStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[booking.status]:
        raise BookingRefused(
            RefusalReason.WRONG_STATUS,
            f"booking {booking.code} is {booking.status.value}, cannot become {target.value}",
            {"status": booking.status.value, "target": target.value},
        )
