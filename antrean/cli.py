"""`python -m antrean …` — the operator's command line.

Every failure is one clear line on stderr and a non-zero exit code; no tracebacks for expected errors."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from tabulate import tabulate

from antrean.booking.capacity import daily_capacity, sessions_for
from antrean.booking.model import Booking, BookingRefused
from antrean.booking.offices import OfficeConfigError
from antrean.booking.service import BookingService
from antrean.db import database_url, upgrade_database
from antrean.identity import IdentityError, mask_msisdn, mask_nik
from antrean.settings import SettingsError

EXIT_USAGE = 2
EXIT_FAILED = 1


class CliError(Exception):
    pass


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-12-01") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m antrean", description="Antrean operator commands")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("offices", help="offices with their daily and per-session capacity")

    availability = commands.add_parser("availability", help="seats left per session")
    availability.add_argument("--office", required=True)
    availability.add_argument("--date", type=_iso_date, help="one day instead of the bookable days")

    bookings = commands.add_parser("bookings", help="bookings")
    bookings_commands = bookings.add_subparsers(dest="bookings_command", required=True)
    day_list = bookings_commands.add_parser("list", help="the counter's day list")
    day_list.add_argument("--office", required=True)
    day_list.add_argument("--date", type=_iso_date, required=True)
    day_list.add_argument("--format", choices=("table", "csv", "json"), default="table")
    day_list.add_argument("--unmasked", action="store_true", help="show full NIK and WhatsApp numbers")

    db = commands.add_parser("db", help="database")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations")

    commands.add_parser("run", help="show the offices, then start the assistant (Rasa + actions)")
    commands.add_parser("serve", help="start the assistant only")
    return parser


def _service() -> BookingService:
    from antrean.bootstrap import booking_service

    return booking_service()


def cmd_offices(_args) -> str:
    service = _service()
    rows = []
    for office in service.offices.values():
        calendar = service.calendar(office.id)
        next_day = calendar.bookable_days(service.clock())[0]
        sessions = sessions_for(office, next_day)
        rows.append([
            office.id, office.name, office.timezone, office.counters, office.interview_minutes,
            next_day.isoformat(), daily_capacity(office, next_day),
            "  ".join(f"{s.label}:{s.capacity}" for s in sessions),
        ])
    headers = ["office", "name", "time zone", "counters", "min/applicant", "next working day", "capacity",
               "sessions (seats)"]
    return tabulate(rows, headers=headers)


def cmd_availability(args) -> str:
    service = _service()
    days = [args.date] if args.date else None
    rows = []
    for day in service.availability(args.office, days):
        closure = service.calendar(args.office).closure_reason(day.day)
        if closure:
            rows.append([day.day.isoformat(), "—", 0, 0, 0, closure])
        for slot in day.sessions:
            rows.append([day.day.isoformat(), slot.session.label, slot.session.capacity, slot.booked, slot.left, ""])
    return tabulate(rows, headers=["day", "session", "capacity", "booked", "left", "closed"])


DAY_LIST_FIELDS = ["queue", "session", "code", "name", "nik", "type", "minor", "whatsapp", "status"]


def _booking_record(booking: Booking, prefix: str, unmasked: bool) -> dict[str, str]:
    applicant = booking.applicant
    return {
        "queue": booking.queue_label(prefix),
        "session": f"{booking.session_start:%H:%M}",
        "code": booking.code,
        "name": applicant.full_name,
        "nik": applicant.nik if unmasked else mask_nik(applicant.nik),
        "type": applicant.application_type.value,
        "minor": "yes" if applicant.is_minor else "no",
        "whatsapp": booking.whatsapp_number if unmasked else mask_msisdn(booking.whatsapp_number),
        "status": booking.status.value,
    }


def cmd_bookings_list(args) -> str:
    service = _service()
    office = service.office(args.office)
    records = [_booking_record(b, office.queue_prefix, args.unmasked) for b in service.day_list(office.id, args.date)]
    if args.format == "json":
        return json.dumps(records, ensure_ascii=False, indent=2)
    if args.format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=DAY_LIST_FIELDS)
        writer.writeheader()
        writer.writerows(records)
        return buffer.getvalue().rstrip("\n")
    if not records:
        return f"no bookings for {office.short_name} on {args.date.isoformat()}"
    return tabulate(records, headers="keys")


def cmd_db_upgrade(_args) -> str:
    upgrade_database()
    return f"database is up to date ({_redacted_url(database_url())})"


def cmd_run(args) -> str:
    print(f"Bookings: {_redacted_url(database_url())}\n\n{cmd_offices(args)}\n", flush=True)
    return cmd_serve(args)


def cmd_serve(_args) -> str:
    from antrean.serve import serve

    serve()
    return "Antrean stopped."


def _redacted_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


HANDLERS = {
    ("offices", None): cmd_offices,
    ("availability", None): cmd_availability,
    ("bookings", "list"): cmd_bookings_list,
    ("db", "upgrade"): cmd_db_upgrade,
    ("run", None): cmd_run,
    ("serve", None): cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    sub = getattr(args, "bookings_command", None) or getattr(args, "db_command", None)
    try:
        output = HANDLERS[(args.command, sub)](args)
    except BookingRefused as refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return EXIT_FAILED
    except (OfficeConfigError, SettingsError, IdentityError, CliError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"error: database: {reason} (run `python -m antrean db upgrade`?)", file=sys.stderr)
        return EXIT_FAILED
    print(output)
    return 0
