"""Checking, cancelling and rescheduling a booking: by the sender's number, or by booking code."""

from __future__ import annotations

import abc
from datetime import date

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import wiring
from actions.registration import sender_number, ticket_url, today_at
from antrean.booking import replies
from antrean.booking.capacity import session_starting
from antrean.booking.day_choice import parse_day_choice
from antrean.booking.model import Booking, BookingRefused
from antrean.media.ticket import codes_in_text


def code_in(text: str | None) -> str | None:
    """A booking code typed anywhere in the message (someone checking for a relative)."""
    codes = wiring.booking().codes
    return next((code for code in codes_in_text(text) if codes.is_authentic(code)), None)


def bookings_in_question(tracker: Tracker) -> list[Booking]:
    service = wiring.booking()
    code = code_in(tracker.latest_message.get("text"))
    if code:
        booking = service.get_by_code(code)
        return [booking] if booking else []
    return service.get_by_whatsapp_number(sender_number(tracker))


def describe(booking: Booking) -> str:
    return replies.booking_status(booking, wiring.office(booking.office_id))


class ActionCheckBooking(Action):
    def name(self) -> str:
        return "action_check_booking"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list[EventType]:
        found = bookings_in_question(tracker)
        if not found:
            dispatcher.utter_message(text="Tidak ada antrean aktif untuk nomor ini. Untuk antrean orang lain, "
                                          "kirim kode booking-nya (contoh: ABCD-EFGH-JKMN). Ketik *daftar* untuk "
                                          "mendaftar.")
            return []
        dispatcher.utter_message(text="*Antrean Anda:*\n\n" + "\n\n".join(describe(b) for b in found))
        return []


class _StartChange(Action, metaclass=abc.ABCMeta):
    kind_word = ""  # what a button sends back to pick one booking of several ("batal ABCD-…")

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list[EventType]:
        found = [b for b in bookings_in_question(tracker) if b.is_active]
        if not found:
            dispatcher.utter_message(text="Tidak ada antrean aktif yang bisa diubah. Untuk antrean orang lain, "
                                          "sertakan kode booking-nya.")
            return [SlotSet("pending_change", None)]
        if len(found) > 1:
            dispatcher.utter_message(
                text="Ada beberapa antrean aktif. Pilih yang dimaksud:\n\n" + "\n\n".join(describe(b) for b in found),
                buttons=[{"title": f"{b.applicant.full_name[:11]} {b.code[:4]}"[:20],
                          "payload": f"{self.kind_word} {b.code}"} for b in found[:3]],
            )
            return [SlotSet("pending_change", None)]
        return self.ask(dispatcher, found[0])

    @abc.abstractmethod
    def ask(self, dispatcher: CollectingDispatcher, booking: Booking) -> list[EventType]:
        """Ask the applicant to confirm the change of this one booking."""


class ActionStartCancel(_StartChange):
    kind_word = "batal"

    def name(self) -> str:
        return "action_start_cancel"

    def ask(self, dispatcher, booking):
        dispatcher.utter_message(text=f"Batalkan antrean ini?\n\n{describe(booking)}",
                                 buttons=[{"title": "Ya, batalkan", "payload": "/affirm"},
                                          {"title": "Tidak", "payload": "/deny"}])
        return [SlotSet("pending_change", f"cancel {booking.code}")]


class ActionStartReschedule(_StartChange):
    kind_word = "ubah jadwal"

    def name(self) -> str:
        return "action_start_reschedule"

    def ask(self, dispatcher, booking):
        if booking.reschedule_count >= 1:
            dispatcher.utter_message(text="Jadwal antrean ini sudah pernah diubah. Perubahan hanya boleh satu kali.")
            return [SlotSet("pending_change", None)]
        service = wiring.booking()
        days = [d for d in service.availability(booking.office_id) if d.left > 0 and d.day != booking.day]
        if not days:
            dispatcher.utter_message(text="Mohon maaf, belum ada hari lain dengan kuota tersisa. Antrean Anda tetap.")
            return [SlotSet("pending_change", None)]
        dispatcher.utter_message(
            text=f"Pindah ke hari apa?\n\n{describe(booking)}",
            buttons=[{"title": replies.short_day(d.day), "payload": f'/inform{{"visit_date":"{d.day.isoformat()}"}}'}
                     for d in days[:3]],
        )
        return [SlotSet("pending_change", f"reschedule {booking.code}"), SlotSet("visit_date", None)]


class ActionContinueChange(Action):
    """The applicant's answer to a pending cancel (yes/no) or reschedule (a day, or no)."""

    def name(self) -> str:
        return "action_continue_change"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> list[EventType]:
        pending = (tracker.get_slot("pending_change") or "").split()
        intent = tracker.latest_message.get("intent", {}).get("name")
        done = [SlotSet("pending_change", None), SlotSet("visit_date", None)]
        if len(pending) != 2 or intent == "deny":
            dispatcher.utter_message(response="utter_change_cancelled")
            return done
        kind, code = pending
        service = wiring.booking()
        number = sender_number(tracker)
        # The code is the credential: it came from this sender's own bookings, or was typed by someone
        # holding a relative's ticket — as at the office door, whoever has the code may act on it.
        booking = service.get_by_code(code)
        try:
            if kind == "cancel":
                if intent != "affirm":
                    dispatcher.utter_message(response="utter_change_cancelled")
                    return done
                cancelled = service.cancel(code, actor=f"wa:{number}")
                dispatcher.utter_message(text=f"Antrean *{cancelled.code}* sudah dibatalkan. Kuotanya kami berikan "
                                              "kepada pemohon lain. Terima kasih.")
                return done
            day = self._chosen_day(tracker, booking)
            if day is None:
                dispatcher.utter_message(text="Silakan pilih salah satu hari pada tombol, atau ketik *tidak*.")
                return [SlotSet("visit_date", None)]
            moved = service.reschedule(code, day, actor=f"wa:{number}")
        except BookingRefused as refused:
            office = wiring.office(booking.office_id) if booking else None
            dispatcher.utter_message(text=replies.refusal(refused, office))
            return done
        office = wiring.office(moved.office_id)
        dispatcher.utter_message(text=replies.booking_confirmation(
            moved, office, session_starting(office, moved.day, moved.session_start)))
        dispatcher.utter_message(image=ticket_url(moved.code))
        return done

    @staticmethod
    def _chosen_day(tracker: Tracker, booking: Booking | None) -> date | None:
        if booking is None:
            return None
        value = tracker.get_slot("visit_date") or tracker.latest_message.get("text") or ""
        open_days = [d.day for d in wiring.booking().availability(booking.office_id) if d.left > 0]
        return parse_day_choice(str(value), open_days, today_at(booking.office_id))
