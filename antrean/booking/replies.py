"""Everything the assistant tells applicants, in Indonesian, built from the office settings and the
booking core's results. Pure functions: the Rasa actions only choose which one to send.

WhatsApp formatting: *bold*, short lines, no tables."""

from __future__ import annotations

from datetime import date, datetime, time

from babel.dates import format_date
from babel.numbers import format_decimal

from antrean.booking.capacity import Session
from antrean.booking.model import ApplicationType, Booking, BookingRefused, RefusalReason
from antrean.booking.offices import ApplicationCase, Office

FEE_LABELS = {
    "paspor_biasa_5_tahun": "Paspor biasa (5 tahun)",
    "paspor_biasa_10_tahun": "Paspor biasa (10 tahun)",
    "paspor_elektronik_5_tahun": "Paspor elektronik (5 tahun)",
    "paspor_elektronik_10_tahun": "Paspor elektronik (10 tahun)",
    "denda_paspor_hilang": "Tambahan untuk paspor hilang",
    "denda_paspor_rusak": "Tambahan untuk paspor rusak",
    "hilang_rusak_keadaan_kahar": "Hilang/rusak karena bencana (keadaan kahar)",
}


def day_name(day: date) -> str:
    """'Rabu, 2 Desember 2026'."""
    return format_date(day, "EEEE, d MMMM y", locale="id")


def short_day(day: date) -> str:
    """'Rab, 2 Des' — fits WhatsApp's 20-character button titles."""
    return format_date(day, "EEE, d MMM", locale="id")


def clock_time(moment: time | datetime) -> str:
    return f"{moment:%H.%M}"


def rupiah(amount: int) -> str:
    return f"Rp{format_decimal(amount, locale='id')}"


def bullet_list(items: list[str]) -> str:
    return "\n".join(f"• {item}" for item in items)


def document_case(booking_type: ApplicationType | str, is_minor: bool) -> ApplicationCase:
    if is_minor:
        return ApplicationCase.MINOR
    if ApplicationType(booking_type) is ApplicationType.RENEWAL:
        return ApplicationCase.RENEWAL
    return ApplicationCase.NEW_ADULT


def booking_confirmation(booking: Booking, office: Office, session: Session | None) -> str:
    arrival = datetime.combine(booking.day, booking.session_start)
    arrival_minutes = arrival.hour * 60 + arrival.minute - 30
    session_label = (f"{clock_time(session.start)}–{clock_time(session.end)}" if session
                     else clock_time(booking.session_start))
    case = document_case(booking.applicant.application_type, booking.applicant.is_minor)
    return "\n".join([
        "✅ *Pendaftaran berhasil*",
        "",
        f"Nomor antrean: *{booking.queue_label(office.queue_prefix)}*",
        f"Nama: {booking.applicant.full_name}",
        f"Hari/tanggal: *{day_name(booking.day)}*",
        f"Sesi: *{session_label} {zone_label(office)}*",
        f"Kantor: {office.name}",
        f"Kode booking: *{booking.code}*",
        "",
        f"Mohon datang 30 menit sebelumnya, pukul *{arrival_minutes // 60:02d}.{arrival_minutes % 60:02d}*, "
        "dan tunjukkan pesan ini atau kode QR kepada petugas keamanan.",
        "",
        "*Dokumen yang dibawa:*",
        bullet_list(office.documents[case]),
        "",
        "Layanan ini GRATIS. Jangan percaya calo yang menjual nomor antrean.",
    ])


def zone_label(office: Office) -> str:
    return {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}.get(
        office.timezone, office.timezone)


def booking_status(booking: Booking, office: Office) -> str:
    states = {
        "booked": "terdaftar", "checked_in": "sudah hadir", "served": "sudah dilayani",
        "no_show": "tidak hadir", "cancelled": "dibatalkan",
    }
    return (f"*{booking.queue_label(office.queue_prefix)}* — {booking.applicant.full_name}\n"
            f"{day_name(booking.day)}, sesi {clock_time(booking.session_start)} {zone_label(office)}\n"
            f"{office.short_name} · kode {booking.code} · {states[booking.status.value]}")


def next_opening_text(opening: datetime | None, office: Office) -> str:
    if opening is None:
        return "Silakan coba lagi nanti."
    return f"Pendaftaran dibuka lagi *{day_name(opening.date())}* pukul *{clock_time(opening)} {zone_label(office)}*."


def registration_closed(office: Office, opening: datetime | None) -> str:
    window = office.weekly.get("mon")
    hours = (f"{clock_time(window.registration.start)}–{clock_time(window.registration.end)} {zone_label(office)}"
             if window and window.registration else "jam pendaftaran")
    return (f"Mohon maaf, pendaftaran antrean paspor {office.short_name} hanya dilayani hari kerja pukul {hours}. "
            f"{next_opening_text(opening, office)}\n\n"
            "Pertanyaan tentang syarat, biaya dan jam layanan tetap bisa saya jawab sekarang.")


def quota_full_everywhere(office: Office, opening: datetime | None) -> str:
    return (f"Mohon maaf, kuota antrean {office.short_name} untuk {office.booking_horizon_days} hari kerja ke depan "
            f"sudah penuh. {next_opening_text(opening, office)} Kuota hari berikutnya dibuka setiap pagi.")


def refusal(refused: BookingRefused, office: Office | None) -> str:
    """One polite sentence or two for each refusal reason of the booking core."""
    facts = refused.facts
    reason = refused.reason
    if reason is RefusalReason.OUTSIDE_WINDOW and office is not None:
        return registration_closed(office, facts.get("next_opening"))
    if reason is RefusalReason.QUOTA_FULL:
        day = facts.get("day")
        when = f" untuk {day_name(day)}" if day else ""
        return f"Mohon maaf, kuota{when} sudah penuh. Silakan pilih hari lain."
    if reason is RefusalReason.DAY_NOT_BOOKABLE:
        days = ", ".join(day_name(d) for d in facts.get("bookable_days", []))
        return f"Tanggal tersebut tidak bisa dipilih. Hari yang tersedia: {days}." if days else \
            "Tanggal tersebut tidak bisa dipilih."
    if reason is RefusalReason.NIK_ALREADY_BOOKED:
        if facts.get("same_sender"):
            return ("NIK ini sudah punya antrean aktif. Ketik *cek antrean* untuk melihatnya, atau *ubah jadwal* "
                    "jika ingin pindah hari.")
        return ("NIK ini sudah terdaftar di antrean aktif dari nomor lain. Satu NIK hanya boleh satu antrean. "
                "Jika ini bukan pendaftaran Anda, ketik *bicara dengan petugas*.")
    if reason is RefusalReason.NUMBER_LIMIT:
        return (f"Nomor WhatsApp ini sudah memiliki {facts.get('limit', 5)} antrean aktif, batas maksimal per nomor. "
                "Batalkan salah satu atau daftar dari nomor lain.")
    if reason is RefusalReason.INVALID_DATA:
        return facts.get("message_id") or "Ada data yang belum sesuai. Silakan periksa kembali."
    if reason is RefusalReason.ALREADY_RESCHEDULED:
        return "Jadwal antrean hanya bisa diubah satu kali. Antrean Anda tetap seperti semula."
    if reason is RefusalReason.NOT_FOUND:
        return "Antrean dengan kode tersebut tidak ditemukan. Periksa kembali kode booking Anda."
    if reason is RefusalReason.WRONG_STATUS:
        return "Antrean ini sudah tidak aktif (sudah dibatalkan, dilayani, atau lewat)."
    if reason is RefusalReason.UNKNOWN_OFFICE:
        return "Kantor imigrasi tersebut belum melayani antrean lewat WhatsApp ini."
    return "Mohon maaf, permintaan belum bisa diproses. Silakan coba lagi."


def hours_text(office: Office) -> str:
    lines = [f"*Jam layanan {office.name}*"]
    for key, label in (("mon", "Senin–Kamis"), ("fri", "Jumat")):
        schedule = office.weekly.get(key)
        if schedule and schedule.service:
            breaks = ", ".join(f"{clock_time(b.start)}–{clock_time(b.end)}" for b in schedule.breaks)
            lines.append(f"{label}: {clock_time(schedule.service.start)}–{clock_time(schedule.service.end)} "
                         f"{zone_label(office)}" + (f" (istirahat {breaks})" if breaks else ""))
    registration = office.weekly.get("mon")
    if registration and registration.registration:
        lines.append(f"Pendaftaran antrean lewat WhatsApp: hari kerja {clock_time(registration.registration.start)}–"
                     f"{clock_time(registration.registration.end)} {zone_label(office)}, untuk "
                     f"{office.booking_horizon_days} hari kerja ke depan.")
    lines.append("Sabtu, Minggu dan hari libur nasional/cuti bersama tutup.")
    return "\n".join(lines)


def fees_text(office: Office) -> str:
    lines = ["*Biaya paspor (PP 45/2024)*"]
    lines += [f"• {FEE_LABELS.get(name, name.replace('_', ' '))}: {rupiah(amount)}"
              for name, amount in office.fees.items()]
    lines.append("Pembayaran lewat kode billing PNBP (bank, kantor pos atau e-wallet). Pendaftaran antrean gratis.")
    return "\n".join(lines)


def location_text(office: Office) -> str:
    return f"*{office.name}*\n{office.address}"


def requirements_text(office: Office) -> str:
    return "\n\n".join([
        "*Persyaratan paspor*",
        "*Paspor baru (dewasa):*\n" + bullet_list(office.documents[ApplicationCase.NEW_ADULT]),
        "*Perpanjangan:*\n" + bullet_list(office.documents[ApplicationCase.RENEWAL]),
        "*Anak di bawah 17 tahun:*\n" + bullet_list(office.documents[ApplicationCase.MINOR]),
    ])


def walk_in_text(office: Office) -> str:
    quota = f" (kuota {office.walk_in.daily_quota} orang per hari)" if office.walk_in.daily_quota else ""
    return "\n".join([
        "*Layanan prioritas — datang langsung tanpa antrean WhatsApp*",
        bullet_list(office.walk_in.groups),
        f"Datang hari kerja pukul {clock_time(office.walk_in.hours.start)}–{clock_time(office.walk_in.hours.end)} "
        f"{zone_label(office)}{quota} ke {office.name}, {office.address}.",
        "Bawa dokumen persyaratan asli:",
        bullet_list(office.documents[ApplicationCase.NEW_ADULT]),
        "Calon pekerja migran juga membawa surat rekomendasi dari Disnaker/BP2MI.",
    ])


def replacement_text(office: Office) -> str:
    return "\n\n".join([
        "Penggantian paspor *hilang, rusak, atau perubahan data* tidak melalui antrean WhatsApp. "
        f"Silakan datang langsung ke {office.name} pada hari kerja pukul "
        f"{clock_time(office.walk_in.hours.start)}–{clock_time(office.walk_in.hours.end)} {zone_label(office)} "
        "untuk wawancara (BAP).",
        "*Paspor hilang:*\n" + bullet_list(office.documents[ApplicationCase.LOST]),
        "*Paspor rusak:*\n" + bullet_list(office.documents[ApplicationCase.DAMAGED]),
        "*Perubahan data:*\n" + bullet_list(office.documents[ApplicationCase.DATA_CHANGE]),
        f"Biaya tambahan: hilang {rupiah(office.fees.get('denda_paspor_hilang', 0))}, rusak "
        f"{rupiah(office.fees.get('denda_paspor_rusak', 0))}.",
    ])


# What differs between the typed details and the e-KTP on the photo (identity.ownership).
_CARD_DIFFERENCES = {
    "nik": "NIK yang Anda tulis berbeda dengan NIK pada foto e-KTP",
    "birth_date": "tanggal lahir yang Anda tulis berbeda dengan tanggal lahir pada foto e-KTP",
    "name": "nama yang Anda tulis berbeda dengan nama pada foto e-KTP",
}

NIK_IS_PARENTS = ("NIK yang Anda tulis adalah NIK pada e-KTP orang tua. Untuk pemohon anak, tulis *NIK anak* "
                  "yang tercantum di Kartu Keluarga.")


def card_not_own(mismatch: str) -> str:
    """The refusal when the e-KTP is someone else's: polite, says what differs, books nothing."""
    if mismatch == "guardian":
        return ("Maaf, untuk pemohon anak, foto e-KTP yang dikirim harus e-KTP *salah satu orang tua* anak "
                "tersebut. e-KTP pada foto bukan milik orang tua anak ini, jadi pendaftaran tidak dapat kami "
                "lanjutkan dan data yang dikirim tidak disimpan. Ketik *daftar* untuk mengulang dengan e-KTP ayah "
                "atau ibu anak tersebut.")
    what = _CARD_DIFFERENCES.get(mismatch, "data yang Anda tulis berbeda dengan data pada foto e-KTP")
    return (f"Maaf, {what}. Antrean paspor hanya dapat didaftarkan dengan *e-KTP milik pemohon sendiri*, "
            "sehingga pendaftaran ini tidak dapat kami lanjutkan dan data yang dikirim tidak disimpan.\n"
            "Jika ada salah ketik, ketik *daftar* untuk mengulang dengan data dan foto e-KTP Anda sendiri. "
            "Untuk mendaftarkan anak, tulis data anak dan kirim e-KTP salah satu orang tua.")
