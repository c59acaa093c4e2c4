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
from antrean.identity import IdentityError, mask_nik
from antrean.model_registry.commands import SUBCOMMANDS as MODEL_SUBCOMMANDS
from antrean.model_registry.commands import add_parser as add_model_parser
from antrean.protection.masking import mask_sender
from antrean.runtime.db import database_url, upgrade_database
from antrean.runtime.settings import SettingsError, current

EXIT_USAGE = 2
EXIT_FAILED = 1


class CliError(Exception):
    pass


class CommandFailed(Exception):
    """The command ran and its output says what is wrong (printed on stdout, exit code 1)."""

    def __init__(self, output: str):
        super().__init__(output)
        self.output = output


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

    users = commands.add_parser("users", help="staff accounts of the console")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    users_add = users_commands.add_parser("add", help="create a staff account (asks for the password)")
    users_add.add_argument("username")
    users_add.add_argument("--role", required=True, choices=("admin", "reviewer", "counter", "security", "maintainer"))
    users_add.add_argument("--name", required=True, help="full name shown in the console and the audit log")
    users_add.add_argument("--office", help="limit the account to one office (default: every office)")
    users_add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    users_disable = users_commands.add_parser("disable", help="disable an account and end its sessions")
    users_disable.add_argument("username")
    users_enable = users_commands.add_parser("enable",
                                             help="enable a disabled account again (also ends its login waits)")
    users_enable.add_argument("username")
    users_reset = users_commands.add_parser("reset", help="set a new password and end the account's sessions")
    users_reset.add_argument("username")
    users_reset.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    users_commands.add_parser("list", help="staff accounts and their roles")

    nlu = commands.add_parser("nlu", help="training data from the console's NLU inbox")
    nlu_commands = nlu.add_subparsers(dest="nlu_command", required=True)
    nlu_export = nlu_commands.add_parser("export", help="write the accepted examples to data/nlu/reviewed.yml "
                                                        "(personal data replaced by placeholders)")
    nlu_export.add_argument("--out", help="another file instead of data/nlu/reviewed.yml")
    nlu_export.add_argument("--test-out", help="the held-out share (one in five, by a hash of the text) "
                                               "instead of tests/nlu_test_set/reviewed.yml")
    add_model_parser(commands)
    privacy = commands.add_parser("privacy", help="an applicant's personal data: erase it, or export it "
                                                  "(right of access)")
    privacy_commands = privacy.add_subparsers(dest="privacy_command", required=True)
    for name, text in (("erase", "erase one applicant's personal data from every store (dry run without --yes)"),
                       ("export", "print everything stored about one applicant as JSON")):
        sub = privacy_commands.add_parser(name, help=text)
        sub.add_argument("--number", required=True,
                         help="WhatsApp number (0812…, +62 812…, 62812…), BSUID (ID.1502…), @username or sender id")
        sub.add_argument("--nik", help="also the bookings made for this NIK from another number")
        sub.add_argument("--code", action="append", default=[], help="also this booking (repeatable)")
        if name == "erase":
            sub.add_argument("--yes", action="store_true", help="really erase (default: show what would be erased)")
        else:
            sub.add_argument("--out", help="write the JSON to this file (mode 0600) instead of stdout")
    reminders = commands.add_parser("reminders", help="WhatsApp reminders the day before an appointment")
    reminders_commands = reminders.add_subparsers(dest="reminders_command", required=True)
    reminders_commands.add_parser("send", help="send tomorrow's reminders (run daily by a timer; never twice)")

    retention = commands.add_parser("retention", help="delete personal data past its retention period")
    retention_commands = retention.add_subparsers(dest="retention_command", required=True)
    retention_run = retention_commands.add_parser("run", help="apply the retention periods now (the console "
                                                               "also runs this once a day)")
    retention_run.add_argument("--dry-run", action="store_true", help="only count what would be removed")

    whatsapp = commands.add_parser("whatsapp", help="WhatsApp channel upkeep")
    whatsapp_commands = whatsapp.add_subparsers(dest="whatsapp_command", required=True)
    purge = whatsapp_commands.add_parser("purge", help="delete processed messages and replies older than N days")
    purge.add_argument("--days", type=int, help="default: ANTREAN_WA_RETENTION_DAYS or 30")
    whatsapp_commands.add_parser("check", help="check the connection to WhatsApp: the token, each office's number, "
                                               "the webhook subscription, the reminder template (docs/going-live.md)")
    receive = whatsapp_commands.add_parser("receive", help="run the webhook alone (stores messages; Rasa answers)")
    receive.add_argument("--host", default="127.0.0.1")
    receive.add_argument("--port", type=int, default=5006)

    console = commands.add_parser("console", help="start the staff console (web)")
    console.add_argument("--host", help="default ANTREAN_CONSOLE_HOST or 127.0.0.1; 0.0.0.0 to reach it from "
                                         "phones on the office network (with HTTPS: docs/deploying.md)")
    console.add_argument("--port", type=int, help="default ANTREAN_CONSOLE_PORT or 8080")

    commands.add_parser("run", help="show the offices, then start the assistant (Rasa + actions)")
    commands.add_parser("serve", help="start the assistant only")
    cluster = commands.add_parser("cluster", help="start production's topology on this machine: several Rasa "
                                  "servers and WhatsApp receivers, the console and the model server behind "
                                  "haproxy, on PostgreSQL and Redis (docs/deploying.md)")
    cluster.add_argument("--rasa-servers", type=int, default=2, help="independent Rasa servers (default 2)")
    cluster.add_argument("--receivers", type=int, default=2, help="WhatsApp webhook receivers (default 2)")
    return parser


def _service() -> BookingService:
    from antrean.runtime.bootstrap import booking_service

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
            # "08:00–09:00 (39)": a seat count glued to a time range as "08:00–09:00:39" reads as a clock.
            ", ".join(f"{s.label} ({s.capacity})" for s in sessions),
        ])
    headers = ["office", "name", "time zone", "counters", "min/applicant", "next working day", "capacity",
               "sessions (seats)"]
    return tabulate(rows, headers=headers)


def cmd_availability(args) -> str:
    service = _service()
    days = [args.date] if args.date else None
    rows = []
    for day in service.availability(args.office, days):
        if day.closure:  # one line, no sessions: nothing can be booked on a closed day
            note = (f"; {day.booked_while_open} booked before the closure: reschedule them"
                    if day.booked_while_open else "")
            rows.append([day.day.isoformat(), "closed", 0, day.booked_while_open, 0, day.closure + note])
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
        "whatsapp": booking.whatsapp_number if unmasked else mask_sender(booking.whatsapp_number),
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


def _accounts():
    from antrean.console.config import ConsoleConfig

    return ConsoleConfig.from_env().build_accounts()


def _new_password(args) -> str:
    """From stdin (scripts) or typed twice at a hidden prompt; never from the command line, where
    it would end up in the shell history and the process list."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        # getpass would read the pipe with a warning about echoing, or end in EOFError on no input.
        raise CliError("no terminal to ask for the password on: give it on stdin with --password-stdin")
    else:
        import getpass

        try:
            password = getpass.getpass("New password: ")
            if getpass.getpass("Repeat it: ") != password:
                raise CliError("the two passwords differ")
        except EOFError:  # Ctrl-D at the prompt
            raise CliError("no password given") from None
    if not password:
        raise CliError("no password given")
    return password


def cmd_users_add(args) -> str:
    from antrean.console.accounts import AccountError

    if args.office and args.office not in _service().offices:
        raise CliError(f"unknown office {args.office!r}")
    try:
        user = _accounts().add(args.username, args.name, args.role, _new_password(args), args.office)
    except AccountError as error:
        raise CliError(str(error)) from None
    return f"added {user.username} ({user.role}{', ' + user.office_id if user.office_id else ''})"


def _account_change(args, change: str) -> str:
    from antrean.console.accounts import AccountError

    accounts = _accounts()
    try:
        if change == "reset":
            accounts.reset_password(args.username, _new_password(args))
        else:
            getattr(accounts, change)(args.username)
    except AccountError as error:
        raise CliError(str(error)) from None
    return {"reset": "password changed", "disable": "disabled", "enable": "enabled"}[change] + f": {args.username}"


def cmd_users_list(_args) -> str:
    rows = [[u.username, u.full_name, u.role, u.office_id or "all", "yes" if u.active else "no"]
            for u in _accounts().all()]
    return tabulate(rows, headers=["username", "name", "role", "office", "active"]) if rows else "no staff accounts"


def cmd_nlu_export(args) -> str:
    import getpass
    from pathlib import Path

    from antrean.console.audit import AuditLog
    from antrean.model_registry.testset import REVIEWED_TEST_FILE
    from antrean.training.data import REVIEWED_FILE
    from antrean.training.export import export

    service = _service()
    result = export(service.engine, Path(args.out) if args.out else REVIEWED_FILE,
                    test_path=Path(args.test_out) if args.test_out else REVIEWED_TEST_FILE)
    # Exports are audited like the console's: who wrote training data out of the database, when.
    AuditLog(service.engine, service.clock).record(f"cli:{getpass.getuser()}"[:40], "nlu.exported",
                                                   target=str(result.path)[-100:], examples=result.examples,
                                                   intents=result.intents, skipped=result.skipped,
                                                   test_examples=result.test_examples)
    done = "wrote" if result.changed else "unchanged (not rewritten, so nothing to retrain):"
    return (f"{done} {result.examples} examples of {result.intents} intents {'to' if result.changed else 'in'} "
            f"{result.path}"
            + (f" ({result.skipped} skipped: already in the training or test data)" if result.skipped else "")
            + f"; {result.test_examples} held out for testing in {result.test_path}")


def cmd_model(args) -> str:
    from antrean.model_registry.commands import run

    return run(args)


def _privacy_context(args):
    import getpass

    from antrean.protection.erasure import Subject
    from antrean.review.tracker import make_tracker_engine, tracker_store_url
    from antrean.runtime.bootstrap import media_store

    service = _service()
    return (service, Subject.from_input(args.number, args.nik, args.code), make_tracker_engine(tracker_store_url()),
            media_store(), f"cli:{getpass.getuser()}"[:40])


def cmd_privacy_erase(args) -> str:
    from antrean.protection.erasure import ErasureRefused, erase
    from antrean.review.stories import DEFAULT_STORIES_DIR

    try:
        service, subject, tracker_engine, media, actor = _privacy_context(args)
    except ErasureRefused as refusal:
        raise CliError(str(refusal)) from None
    try:
        report = erase(service.engine, subject, actor=actor, now=service.clock(), tracker_engine=tracker_engine,
                       media=media, offices=service.offices, apply=args.yes, stories_dir=DEFAULT_STORIES_DIR)
    except ErasureRefused as refusal:
        raise CliError(str(refusal)) from None
    finally:
        tracker_engine.dispose()
    return report.summary()


def cmd_privacy_export(args) -> str:
    import os

    from antrean.console.audit import AuditLog
    from antrean.protection.erasure import ErasureRefused, export
    from antrean.review.stories import DEFAULT_STORIES_DIR

    try:
        service, subject, tracker_engine, media, actor = _privacy_context(args)
    except ErasureRefused as refusal:
        raise CliError(str(refusal)) from None
    try:
        found = export(service.engine, subject, tracker_engine=tracker_engine, media=media,
                       stories_dir=DEFAULT_STORIES_DIR)
    finally:
        tracker_engine.dispose()
    # Recorded before the data leaves: no trace, no data.
    AuditLog(service.engine, service.clock).record(actor, "privacy.exported", target=subject.masked[:100])
    text = json.dumps(found, ensure_ascii=False, indent=2, default=str)
    if not args.out:
        return text
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text + "\n")
    return f"wrote what is stored about {subject.masked} to {args.out}"


def cmd_console(args) -> str:
    from antrean.console import create_app

    settings = current().console
    settings.check_tls()
    host, port = args.host or settings.host, args.port or settings.port
    app = create_app()
    if not app.ctx.accounts.all():
        print('No staff accounts yet: add one with `python -m antrean users add siti --name "Siti Aminah" '
              '--role admin`', file=sys.stderr)
    if host not in {"127.0.0.1", "localhost", "::1"} and not settings.tls and not settings.trusted_proxies:
        # Staff can log in over plain HTTP, but their phones will not open the camera for the door.
        print("Warning: the console is reachable from the network over plain HTTP: passwords travel unencrypted "
              "and phones will not open the camera for the door's QR scanner. Set ANTREAN_CONSOLE_TLS_CERT and "
              "ANTREAN_CONSOLE_TLS_KEY, or put it behind an HTTPS proxy (docs/deploying.md).", file=sys.stderr)
    ssl = {"cert": str(settings.tls_cert), "key": str(settings.tls_key)} if settings.tls else None
    app.run(host=host, port=port, access_log=False, ssl=ssl)
    return "console stopped."


def cmd_reminders_send(_args) -> str:
    import asyncio

    from antrean.whatsapp.reminders import send_reminders

    run = asyncio.run(send_reminders())
    days = ", ".join(f"{office} {day}" for office, day in run.days.items())
    return f"{run.summary()} (appointments on: {days})"


def cmd_retention_run(args) -> str:
    from antrean.protection.retention import run
    from antrean.review.tracker import make_tracker_engine, tracker_store_url
    from antrean.runtime.bootstrap import media_store

    settings = current().retention
    service = _service()
    tracker_engine = make_tracker_engine(tracker_store_url())
    try:
        report = run(service.engine, now=service.clock(), settings=settings, tracker_engine=tracker_engine,
                     media=media_store(), apply=not args.dry_run)
    finally:
        tracker_engine.dispose()
    return report.summary()


def cmd_whatsapp_purge(args) -> str:
    from antrean.runtime.db import make_engine
    from antrean.whatsapp.inbox import Inbox

    days = args.days or current().whatsapp.retention_days
    engine = make_engine(database_url())
    try:
        removed = Inbox(engine).purge(days)
    finally:
        engine.dispose()
    return (f"removed {removed['messages']} messages, {removed['replies']} replies and "
            f"{removed['statuses']} delivery statuses older than {days} days")


def cmd_whatsapp_check(_args) -> str:
    import asyncio

    from antrean.booking.offices import load_offices
    from antrean.whatsapp.check import check

    settings = current()
    report = asyncio.run(check(settings, load_offices(settings.bookings.offices)))
    if report.problems:
        raise CommandFailed(report.text())
    return report.text()


def cmd_whatsapp_receive(args) -> str:
    from antrean.whatsapp.receiver import receive

    receive(args.host, args.port)
    return "WhatsApp receiver stopped."


def cmd_run(args) -> str:
    print(f"Bookings: {_redacted_url(database_url())}\n\n{cmd_offices(args)}\n", flush=True)
    return cmd_serve(args)


def cmd_serve(_args) -> str:
    from antrean.runtime.db import upgrade_database
    from antrean.runtime.serve import serve

    # Every process of the stack needs the current schema; migrating is a no-op when it is current.
    upgrade_database()
    serve()
    return "Antrean stopped."


def cmd_cluster(args) -> str:
    from antrean.runtime.cluster import ClusterError, check_postgresql
    from antrean.runtime.cluster import cluster as run_cluster

    if min(args.rasa_servers, args.receivers) < 1:
        raise SystemExit("--rasa-servers and --receivers must be at least 1")
    try:  # before migrating: say which setting is missing rather than migrate a SQLite file
        check_postgresql(database_url(), "bookings", "ANTREAN_DATABASE_URL")
    except ClusterError as error:
        raise SystemExit(f"cannot start the cluster: {error}") from None
    upgrade_database()
    run_cluster(args.rasa_servers, args.receivers)
    return "Antrean cluster stopped."


def _redacted_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


HANDLERS = {
    ("offices", None): cmd_offices,
    ("availability", None): cmd_availability,
    ("bookings", "list"): cmd_bookings_list,
    ("db", "upgrade"): cmd_db_upgrade,
    ("users", "add"): cmd_users_add,
    ("users", "disable"): lambda args: _account_change(args, "disable"),
    ("users", "enable"): lambda args: _account_change(args, "enable"),
    ("users", "reset"): lambda args: _account_change(args, "reset"),
    ("users", "list"): cmd_users_list,
    ("nlu", "export"): cmd_nlu_export,
    **{("model", name): cmd_model for name in MODEL_SUBCOMMANDS},
    ("privacy", "erase"): cmd_privacy_erase,
    ("privacy", "export"): cmd_privacy_export,
    ("reminders", "send"): cmd_reminders_send,
    ("retention", "run"): cmd_retention_run,
    ("whatsapp", "purge"): cmd_whatsapp_purge,
    ("whatsapp", "check"): cmd_whatsapp_check,
    ("whatsapp", "receive"): cmd_whatsapp_receive,
    ("console", None): cmd_console,
    ("run", None): cmd_run,
    ("serve", None): cmd_serve,
    ("cluster", None): cmd_cluster,
}


def _log_to_stderr() -> None:
    """Warnings and errors on stderr, as logging.basicConfig would (and, like it, nothing when logging
    is configured already). Sanic's loggers have handlers of their own: through this one too, every
    line of the console's and the receiver's start showed twice."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(lambda record: not record.name.startswith("sanic."))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    _log_to_stderr()
    args = build_parser().parse_args(argv)
    sub = (getattr(args, "bookings_command", None) or getattr(args, "db_command", None)
           or getattr(args, "users_command", None) or getattr(args, "nlu_command", None)
           or getattr(args, "privacy_command", None) or getattr(args, "reminders_command", None)
           or getattr(args, "retention_command", None) or getattr(args, "model_command", None)
           or getattr(args, "whatsapp_command", None))
    try:
        current()  # every setting checked before anything starts: one line naming a wrong one
        output = HANDLERS[(args.command, sub)](args)
    except BookingRefused as refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return EXIT_FAILED
    except CommandFailed as failed:
        print(failed.output)
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
