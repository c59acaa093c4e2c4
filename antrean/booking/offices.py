"""Office settings (`config/offices.yml`), validated at load time.

Everything an office may decide differently (hours, quotas, documents, fees, closed days) lives here,
not in code. A `defaults:` section is merged under every office so national rules are written once."""

from __future__ import annotations

import re
from datetime import date, time
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, Field, ValidationError, root_validator, validator

DEFAULT_OFFICES_PATH = Path(__file__).resolve().parents[2] / "config" / "offices.yml"

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class OfficeConfigError(ValueError):
    """The office file is unusable; the message names the offending field."""


class ApplicationCase(str, Enum):
    """Which list of documents applies. Lost/damaged/data changes are walk-in only (no booking)."""

    NEW_ADULT = "new_adult"
    RENEWAL = "renewal"
    MINOR = "minor"
    LOST = "lost"
    DAMAGED = "damaged"
    DATA_CHANGE = "data_change"


_RANGE = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*-\s*(\d{1,2})[:.](\d{2})\s*$")


class TimeRange(BaseModel):
    start: time
    end: time

    class Config:
        frozen = True

    @classmethod
    def __get_validators__(cls):
        yield cls._coerce

    @classmethod
    def _coerce(cls, value: Any) -> TimeRange:
        if isinstance(value, TimeRange):
            return value
        match = _RANGE.match(str(value)) if isinstance(value, str) else None
        if not match:
            raise ValueError(f"expected a time range like '07:30-10:00', got {value!r}")
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        try:
            start, end = time(h1, m1), time(h2, m2)
        except ValueError as error:
            raise ValueError(f"{value!r}: {error}") from None
        if end <= start:
            raise ValueError(f"{value!r}: the end must be after the start")
        return cls.construct(start=start, end=end)

    @property
    def minutes(self) -> int:
        return (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class DaySchedule(BaseModel):
    """One weekday: when registration is open, when counters serve, and the breaks."""

    registration: TimeRange | None = None
    service: TimeRange | None = None
    breaks: list[TimeRange] = Field(default_factory=list)

    @root_validator(skip_on_failure=True)
    def _breaks_inside_service(cls, values):
        service, breaks = values.get("service"), values.get("breaks") or []
        for pause in breaks:
            if service is None or pause.start < service.start or pause.end > service.end:
                raise ValueError(f"break {pause} is outside the service hours {service}")
        return values


class WalkInPolicy(BaseModel):
    """Who may come without a booking (the seed: migrant workers, the sick, the elderly)."""

    groups: list[str] = Field(min_items=1)
    hours: TimeRange
    daily_quota: int | None = Field(default=None, ge=1)


class Office(BaseModel):
    id: str
    name: str = Field(min_length=3)
    short_name: str = Field(min_length=2)
    address: str = Field(min_length=5)
    timezone: str
    queue_prefix: str = Field(default="A", regex=r"^[A-Z]$")
    weekly: dict[str, DaySchedule]
    booking_horizon_days: int = Field(default=3, ge=1, le=30)
    counters: int = Field(ge=1, le=200)
    interview_minutes: int = Field(ge=1, le=240)
    session_minutes: int = Field(default=60, ge=10, le=480)
    daily_quota: int | None = Field(default=None, ge=1)
    max_active_bookings_per_number: int = Field(default=5, ge=1, le=50)
    collective_leave_dates: list[date] = Field(default_factory=list)  # cuti bersama, set nationally
    closed_dates: list[date] = Field(default_factory=list)  # local closures of this office
    walk_in: WalkInPolicy
    documents: dict[ApplicationCase, list[str]]
    fees: dict[str, int]
    whatsapp_phone_number_ids: list[str] = Field(default_factory=list)

    class Config:
        extra = "forbid"  # a misspelt key is an error, not a silently ignored setting

    @validator("timezone")
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use e.g. Asia/Jakarta, Asia/Makassar)") from None
        return value

    @validator("weekly")
    def _weekday_keys(cls, value: dict[str, DaySchedule]) -> dict[str, DaySchedule]:
        unknown = sorted(set(value) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown weekday(s) {unknown}; use {', '.join(WEEKDAYS)}")
        return value

    @validator("documents")
    def _every_case_documented(cls, value: dict[ApplicationCase, list[str]]):
        missing = [case.value for case in ApplicationCase if not value.get(case)]
        if missing:
            raise ValueError(f"no documents listed for {missing}")
        return value

    @validator("fees")
    def _fees_are_rupiah(cls, value: dict[str, int]) -> dict[str, int]:
        negative = [name for name, amount in value.items() if amount < 0]
        if negative:
            raise ValueError(f"negative fee for {negative}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def schedule_for(self, day: date) -> DaySchedule:
        return self.weekly.get(WEEKDAYS[day.weekday()], DaySchedule())


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError, office_id: str) -> str:
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"] if part != "__root__")
        field = f"offices.{office_id}.{location}" if location else f"offices.{office_id}"
        lines.append(f"{field}: {item['msg']}")
    return "; ".join(lines)


def parse_offices(document: Any, source: str = "offices.yml") -> dict[str, Office]:
    if not isinstance(document, dict) or not isinstance(document.get("offices"), dict):
        raise OfficeConfigError(f"{source}: expected a mapping with an 'offices:' section")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise OfficeConfigError(f"{source}: 'defaults' must be a mapping")
    offices: dict[str, Office] = {}
    for office_id, settings in document["offices"].items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", str(office_id)):
            raise OfficeConfigError(f"{source}: offices.{office_id}: ids are lowercase words, e.g. jakarta_pusat")
        if not isinstance(settings, dict):
            raise OfficeConfigError(f"{source}: offices.{office_id}: expected a mapping")
        try:
            offices[office_id] = Office(id=office_id, **_merge(defaults, settings))
        except ValidationError as error:
            raise OfficeConfigError(f"{source}: {_describe(error, office_id)}") from None
        except TypeError as error:  # e.g. a duplicated 'id' key
            raise OfficeConfigError(f"{source}: offices.{office_id}: {error}") from None
    if not offices:
        raise OfficeConfigError(f"{source}: no offices defined")
    owners: dict[str, str] = {}
    for office in offices.values():
        for number_id in office.whatsapp_phone_number_ids:
            if number_id in owners:
                raise OfficeConfigError(
                    f"{source}: offices.{office.id}.whatsapp_phone_number_ids: {number_id} "
                    f"already belongs to {owners[number_id]}"
                )
            owners[number_id] = office.id
    return offices


def load_offices(path: Path | str | None = None) -> dict[str, Office]:
    path = Path(path) if path else DEFAULT_OFFICES_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise OfficeConfigError(f"cannot read office settings {path}: {error.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise OfficeConfigError(f"{path}: not valid YAML: {error}") from None
    return parse_offices(document, source=str(path))


def office_for_phone_number_id(offices: dict[str, Office], phone_number_id: str) -> Office | None:
    return next((o for o in offices.values() if phone_number_id in o.whatsapp_phone_number_ids), None)


# Every office has a practice twin (antrean.booking.practice) whose id is the office's behind this
# prefix: a real id never contains "-" (see parse_offices), so the two can never be confused.
PRACTICE_PREFIX = "latihan-"
PRACTICE_METADATA_KEY = "practice"  # set by a channel on messages of practice conversations (the simulator)


def practice_id(office_id: str) -> str:
    return office_id if is_practice(office_id) else PRACTICE_PREFIX + office_id


def is_practice(office_id: str | None) -> bool:
    return bool(office_id) and office_id.startswith(PRACTICE_PREFIX)


def real_office_id(office_id: str) -> str:
    """The office a practice office is the twin of (a real id is returned as it is)."""
    return office_id.removeprefix(PRACTICE_PREFIX)


def office_from_metadata(metadata: object, offices: dict[str, Office]) -> str | None:
    """The id of the office a message was written to, from its channel metadata: the REST channel
    passes `office_id`, WhatsApp the office's `phone_number_id`; in a practice conversation, that
    office's practice twin. None when neither names one. `offices`: the real offices (an explicit
    practice id is accepted for a real office's twin)."""
    if not isinstance(metadata, dict):
        return None
    office_id = None
    given = metadata.get("office_id")
    if isinstance(given, str) and real_office_id(given) in offices:
        office_id = given
    elif isinstance(metadata.get("phone_number_id"), str):
        office = office_for_phone_number_id(offices, metadata["phone_number_id"])
        office_id = office.id if office else None
    if office_id and metadata.get(PRACTICE_METADATA_KEY) is True:
        return practice_id(office_id)
    return office_id
