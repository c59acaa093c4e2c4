"""How bookings read on screen, in Indonesian: status and punctuality labels, masked values, local
times. Registered as Jinja filters and used by the CSV export."""

from __future__ import annotations

import re
from datetime import date, datetime, time

from markupsafe import Markup, escape

from antrean.booking.model import Booking, BookingStatus
from antrean.booking.offices import Office
from antrean.booking.replies import clock_time, day_name, zone_label
from antrean.booking.store import from_db_time
from antrean.identity import mask_nik
from antrean.protection.masking import mask_sender  # one rule for console lists and the read model

STATUS_LABELS = {
    BookingStatus.BOOKED: "Terdaftar",
    BookingStatus.CHECKED_IN: "Sudah hadir",
    BookingStatus.SERVED: "Selesai dilayani",
    BookingStatus.NO_SHOW: "Tidak hadir",
    BookingStatus.CANCELLED: "Dibatalkan",
}

PUNCTUALITY = {
    "early": ("Datang lebih awal", "Persilakan menunggu; sesinya belum dimulai."),
    "on_time": ("Tepat waktu", "Persilakan masuk ke ruang tunggu."),
    "late": ("Terlambat", "Sesinya sudah dimulai; persilakan masuk dan beri tahu petugas loket."),
}

EVENT_LABELS = {
    "booked": "Didaftarkan",
    "cancelled": "Dibatalkan",
    "rescheduled": "Dijadwal ulang",
    "checked_in": "Check-in di pintu",
    "called": "Dipanggil ke loket",
    "served": "Selesai dilayani",
    "no_show": "Ditandai tidak hadir",
    "released": "Dilepas oleh petugas (NIK dipakai orang lain)",
}

# Why the assistant refused an e-KTP as someone else's (the `card_mismatch` slot, review facets).
CARD_MISMATCH_LABELS = {
    "nik": "NIK yang ditulis berbeda dengan NIK di e-KTP",
    "birth_date": "tanggal lahir yang ditulis berbeda dengan e-KTP",
    "name": "nama yang ditulis jelas berbeda dengan e-KTP",
    "guardian": "e-KTP yang dikirim untuk anak bukan milik orang tua",
}

APPLICATION_TYPES = {"new": "Paspor baru", "renewal": "Penggantian (habis masa berlaku/penuh)"}


def actor_label(actor: str | None, staff_names: dict[str, str]) -> str:
    """Who did something, as people read it: the applicant (booking_events say "applicant", or
    "wa:<number>" for what they did later on WhatsApp: never shown), a staff member by their name,
    an operator's command-line run; an account that no longer exists by its username."""
    if not actor:
        return "—"
    if actor == "applicant" or actor.startswith("wa:"):
        return "pemohon"
    if actor.startswith("cli:"):
        return f"operator {actor[4:]} (baris perintah)"
    return staff_names.get(actor, actor)


def day_summary(bookings: list[Booking]) -> str:
    """"3 booking · Terdaftar: 2 · Sudah hadir: 1" — only the statuses that occur."""
    parts = [f"{len(bookings)} booking"]
    for status in BookingStatus:
        count = sum(1 for booking in bookings if booking.status is status)
        if count:
            parts.append(f"{STATUS_LABELS[status]}: {count}")
    return " · ".join(parts)


def status_label(status: BookingStatus | str) -> str:
    return STATUS_LABELS[BookingStatus(status)]


def local_time(moment: datetime | None, office: Office) -> str:
    return clock_time(moment.astimezone(office.zone)) if moment else "—"


def local_day_time(moment: datetime | None, office: Office) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(office.zone)
    return f"{local:%d-%m-%Y} {clock_time(local)}"


def short_time(value: time) -> str:
    return clock_time(value)


def long_day(day: date) -> str:
    return day_name(day)


def masked_nik(booking: Booking) -> str:
    return mask_nik(booking.applicant.nik)


def masked_number(booking: Booking) -> str:
    # A number, or the business-scoped user ID of a WhatsApp user who keeps their number private.
    return mask_sender(booking.whatsapp_number)


def zoned_day_time(moment: datetime | None, zone) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(zone)
    return f"{local:%d-%m-%Y} {clock_time(local)}"


def office_moment(moment: datetime | None, office: Office) -> str:
    """A moment to the second in the office's time, with its zone: "03-12-2026 08.00.05 WIB"."""
    if moment is None:
        return "—"
    local = moment.astimezone(office.zone)
    return f"{local:%d-%m-%Y %H.%M.%S} {zone_label(office)}"


def confidence(value: float | None) -> str:
    """Intent confidence as staff read it: 0.42 → "0,42" (Indonesian decimal comma)."""
    return "—" if value is None else f"{value:.2f}".replace(".", ",")


# WhatsApp's formatting marks (faq.whatsapp.com, "How to format your messages"): a mark opens
# before a non-space and closes after one, and is not inside a word — so "action_listen", a
# masked NIK "2171**********01" or "3*4" stay as they are.
_CODE_BLOCK = re.compile(r"```(.+?)```", re.DOTALL)


def _inline(mark: str) -> re.Pattern:
    m = re.escape(mark)
    return re.compile(rf"(?<![\w{m}]){m}(?=[^\s{m}])([^{m}\n]*?[^\s{m}]){m}(?![\w{m}])")


_INLINE = [(_inline(mark), tag) for mark, tag in (("`", "code"), ("*", "strong"), ("_", "em"), ("~", "s"))]


def whatsapp_markup(text: str | None) -> Markup:
    """A message as WhatsApp shows it: *bold*, _italic_, ~strikethrough~, ```monospace``` and
    `inline code` become HTML; everything else is escaped."""
    parts = _CODE_BLOCK.split(text or "")
    html = []
    for index, part in enumerate(parts):
        escaped = str(escape(part))
        if index % 2:  # inside ``` ```: no further formatting, as in WhatsApp
            html.append(f"<code>{escaped}</code>")
            continue
        for pattern, tag in _INLINE:
            escaped = pattern.sub(rf"<{tag}>\1</{tag}>", escaped)
        html.append(escaped)
    return Markup("".join(html))


def register_filters(environment) -> None:
    environment.filters.update(
        status_label=status_label, local_time=local_time, short_time=short_time, long_day=long_day,
        masked_nik=masked_nik, from_db=from_db_time, local_day_time=local_day_time,
        event_label=lambda kind: EVENT_LABELS.get(kind, kind), masked_number=masked_number, mask_sender=mask_sender,
        zoned_day_time=zoned_day_time, confidence=confidence, actor_label=actor_label, whatsapp=whatsapp_markup,
        office_moment=office_moment,
        application_type=lambda value: APPLICATION_TYPES.get(getattr(value, "value", value), value),
    )
