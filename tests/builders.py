"""Test data builders: valid applicants whose NIK agrees with their birth date."""

from __future__ import annotations

from datetime import date

from antrean.booking.service import BookingRequest

BATAM_DISTRICT = "217103"  # Kota Batam, Sekupang


def make_nik(birth: date, gender: str = "L", serial: int = 1, region: str = BATAM_DISTRICT) -> str:
    day = birth.day + (40 if gender == "P" else 0)
    return f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


def make_request(
    serial: int = 1,
    day: date = date(2026, 12, 2),
    office_id: str = "batam",
    whatsapp_number: str | None = None,
    birth: date = date(1990, 8, 17),
    **overrides,
) -> BookingRequest:
    values = dict(
        office_id=office_id,
        day=day,
        full_name="budi santoso",
        birth_date=birth,
        address="Jl. Raya Sekupang No. 12, RT 01/RW 02, Tiban Baru",
        nik=make_nik(birth, serial=serial),
        application_type="new",
        whatsapp_number=whatsapp_number or f"62812{serial:08d}",
    )
    values.update(overrides)
    return BookingRequest(**values)
