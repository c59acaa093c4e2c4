"""Reminders the day before an appointment, for bookings made over WhatsApp.

`python -m antrean reminders send` (run by a timer, e.g. daily at 16:00 office time) finds, per
office, tomorrow's active bookings whose number wrote to us on WhatsApp, and sends each one
reminder from the business number the applicant last wrote to:

- a free-form text when the applicant's last message is less than 24 hours old (inside WhatsApp's
  customer-service window);
- otherwise the approved template message named in the settings (ANTREAN_WA_REMINDER_TEMPLATE,
  _LANGUAGE, _PARAMETERS), since outside the window Meta refuses anything else (error 131047).

"Never twice": the reminder row (booking, day) and its outbox row are written in one transaction
before sending; a second run, or a second server running the timer, finds the row and skips. A send
whose answer was lost is not repeated (the Graph client's rule: WhatsApp has no idempotency key).
Cancelled bookings get nothing; a rescheduled booking gets a reminder for its new day. In sandbox
mode (no access token) reminders are recorded in the outbox only."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from antrean.booking import replies
from antrean.booking.model import Booking, BookingStatus
from antrean.booking.offices import Office
from antrean.booking.service import BookingService
from antrean.runtime.settings import Settings, WhatsAppSettings, resolve
from antrean.whatsapp.graph import GraphClient, GraphError
from antrean.whatsapp.inbox import SANDBOX, SENDING, Inbox, utcnow
from antrean.whatsapp.outbound import text_messages
from antrean.whatsapp.schema import whatsapp_inbox, whatsapp_outbox, whatsapp_reminders

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
TEXT, TEMPLATE = "text", "template"


@dataclass
class ReminderRun:
    text: int = 0
    template: int = 0
    already_sent: int = 0
    failed: int = 0
    not_whatsapp: int = 0
    days: dict[str, str] = field(default_factory=dict)  # office -> the appointment day reminded

    def summary(self) -> str:
        return (f"reminders: {self.text} text, {self.template} template, {self.already_sent} already sent, "
                f"{self.failed} failed, {self.not_whatsapp} bookings not made over WhatsApp")


def reminder_text(booking: Booking, office: Office) -> str:
    return "\n".join([
        "🔔 *Pengingat antrean paspor*",
        "",
        f"Besok, *{replies.day_name(booking.day)}*, Anda terdaftar di {office.name}.",
        f"Nomor antrean: *{booking.queue_label(office.queue_prefix)}*",
        f"Nama: {booking.applicant.full_name}",
        f"Sesi: *{replies.clock_time(booking.session_start)} {replies.zone_label(office)}*",
        f"Kode booking: *{booking.code}*",
        "",
        "Mohon datang 30 menit sebelum sesi dan bawa dokumen asli beserta fotokopinya.",
        "Jika tidak jadi datang, balas *batal* agar kuotanya dapat dipakai pemohon lain.",
    ])


def template_message(booking: Booking, office: Office, settings: WhatsAppSettings) -> dict:
    values = {
        "name": booking.applicant.full_name,
        "day": replies.day_name(booking.day),
        "session": f"{replies.clock_time(booking.session_start)} {replies.zone_label(office)}",
        "queue_number": booking.queue_label(office.queue_prefix),
        "office": office.name,
        "code": booking.code,
        "address": office.address,
    }
    parameters = [{"type": "text", "text": values[name]} for name in settings.reminder_parameters]
    template = {"name": settings.reminder_template, "language": {"code": settings.reminder_language}}
    if parameters:
        template["components"] = [{"type": "body", "parameters": parameters}]
    return {"type": "template", "template": template}


class Reminders:
    def __init__(self, service: BookingService, engine: Engine, settings: WhatsAppSettings,
                 graph: GraphClient | None):
        self.service = service
        self.engine = engine
        self.inbox = Inbox(engine)
        self.settings = settings
        self.graph = graph  # None: sandbox mode, recorded only

    def last_inbound(self, wa_id: str) -> tuple[str, datetime] | None:
        """The business number this applicant last wrote to, and when (UTC)."""
        # A system message (a changed number or BSUID) is not the user writing: it opens no window.
        query = (select(whatsapp_inbox.c.phone_number_id, whatsapp_inbox.c.received_at)
                 .where(whatsapp_inbox.c.wa_id == wa_id, whatsapp_inbox.c.kind != "system")
                 .order_by(whatsapp_inbox.c.id.desc()).limit(1))
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return (row.phone_number_id, row.received_at) if row else None

    async def send_due(self) -> ReminderRun:
        run = ReminderRun()
        now = self.service.clock()
        now_utc = now.astimezone(timezone.utc).replace(tzinfo=None)
        for office in self.service.offices.values():
            tomorrow = self.service.calendar(office.id).today(now) + timedelta(days=1)
            run.days[office.id] = tomorrow.isoformat()
            for booking in self.service.day_list(office.id, tomorrow):
                if booking.status != BookingStatus.BOOKED:
                    continue
                last = self.last_inbound(booking.whatsapp_number)
                if last is None:
                    run.not_whatsapp += 1
                    continue
                phone_number_id, last_at = last
                if now_utc - last_at < WINDOW:
                    kind, payloads = TEXT, text_messages(reminder_text(booking, office))
                else:
                    kind, payloads = TEMPLATE, [template_message(booking, office, self.settings)]
                await self._send(run, booking, kind, phone_number_id, payloads)
        return run

    async def _send(self, run: ReminderRun, booking: Booking, kind: str, phone_number_id: str,
                    payloads: list[dict]) -> None:
        outbox_ids = await asyncio.to_thread(self._claim, booking, kind, phone_number_id, payloads)
        if outbox_ids is None:
            run.already_sent += 1
            return
        setattr(run, kind, getattr(run, kind) + 1)
        if self.graph is None:
            return
        address = await asyncio.to_thread(self.inbox.address_of, booking.whatsapp_number)
        for outbox_id, payload in zip(outbox_ids, payloads, strict=True):
            try:
                wamid = await self.graph.send_message(phone_number_id, {**address, **payload})
            except GraphError as error:
                # Logged by code only: no number, no name. The row stays: no second attempt.
                logger.error("reminder for booking %s not sent: %s", booking.id, error)
                await asyncio.to_thread(self.inbox.reply_failed, outbox_id, error.code)
                run.failed += 1
                return
            await asyncio.to_thread(self.inbox.reply_sent, outbox_id, wamid)

    def _claim(self, booking: Booking, kind: str, phone_number_id: str, payloads: list[dict]) -> list[int] | None:
        """Reminder row and outbox rows in one transaction; None when this reminder exists."""
        now = utcnow()
        status = SANDBOX if self.graph is None else SENDING
        with self.engine.begin() as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            claimed = connection.execute(dialect.insert(whatsapp_reminders).values(
                booking_id=booking.id, day=booking.day, kind=kind, created_at=now).on_conflict_do_nothing()).rowcount
            if not claimed:
                return None
            ids = []
            for seq, payload in enumerate(payloads, start=1):
                ids.append(connection.execute(whatsapp_outbox.insert().values(
                    inbox_id=None, seq=seq, phone_number_id=phone_number_id, wa_id=booking.whatsapp_number,
                    kind=payload["type"], payload=json.dumps(payload, ensure_ascii=False), status=status,
                    created_at=now, sent_at=now if status == SANDBOX else None)).inserted_primary_key[0])
            connection.execute(whatsapp_reminders.update().where(
                whatsapp_reminders.c.booking_id == booking.id, whatsapp_reminders.c.day == booking.day)
                .values(outbox_id=ids[0]))
        return ids


async def send_reminders(environ: Settings | Mapping[str, str] | None = None) -> ReminderRun:
    """The CLI's entry: everything built from the settings, like the Rasa server's channel (sending
    needs no webhook secrets)."""
    from antrean.runtime.bootstrap import booking_service

    everything = resolve(environ)
    settings = everything.whatsapp
    service = booking_service(everything)
    graph = None if settings.sandbox else GraphClient(settings)
    try:
        return await Reminders(service, service.engine, settings, graph).send_due()
    finally:
        if graph is not None:
            await graph.aclose()
        service.engine.dispose()
