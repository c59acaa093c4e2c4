"""The registration form: validation of each detail, the dynamic questions, and the booking."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import wiring
from actions.forms import CountingFormValidationAction
from antrean.booking import replies
from antrean.booking.capacity import session_starting
from antrean.booking.day_choice import parse_day_choice
from antrean.booking.model import ApplicationType, BookingRefused, RefusalReason
from antrean.booking.offices import PRACTICE_METADATA_KEY, is_practice, office_from_metadata, practice_id
from antrean.booking.service import BookingRequest
from antrean.identity import (
    IdentityError,
    check_nik_against,
    is_minor,
    normalise_address,
    normalise_name,
    parse_birth_date,
    parse_nik,
)
from antrean.identity.ektp import CardReading
from antrean.identity.ownership import CardCheck, check_guardian_card, check_own_card
from antrean.media import ticket
from antrean.media.contract import NOT_KEPT_TIP, REGISTRATION_CLOSED, media_from_metadata
from antrean.runtime.settings import current

FORM_SLOTS = ["office", "application_type", "person_name", "birth_date", "address", "nik", "id_photo",
              "guardian_photo", "visit_date", "confirmed", "is_minor", "nik_from_card", "card_mismatch",
              "registration_blocked", "failed_validations"]


def sender_number(tracker: Tracker) -> str:
    """The WhatsApp number the conversation comes from: the `wa_id` the WhatsApp channel puts in the
    metadata (only channels set it: the REST channel drops a client's), else Rasa's sender id."""
    metadata = tracker.latest_message.get("metadata") or {}
    return str(metadata.get("wa_id") or tracker.sender_id)


def office_written_to(tracker: Tracker) -> str | None:
    """The office the latest message was written to (its channel metadata), if it names one."""
    return office_from_metadata(tracker.latest_message.get("metadata"), wiring.booking().offices)


def registration_open_for(tracker: Tracker) -> bool:
    """Whether the conversation's office (chosen, or known from the channel) takes registrations
    now; with no office known yet, whether any does."""
    return wiring.booking().registration_open(tracker.get_slot("office") or office_written_to(tracker))


def in_practice(tracker: Tracker) -> bool:
    """A conversation of the console's simulator: whatever office it names, it books for practice."""
    metadata = tracker.latest_message.get("metadata") or {}
    return metadata.get(PRACTICE_METADATA_KEY) is True or is_practice(tracker.get_slot("office"))


def answers_another_question(tracker: Tracker, slot: str, value: Any) -> bool:
    """The free-text mappings take the whole message as the answer to the question asked; a
    message that carries an entity for another detail ("eh salah, lahirnya 18 Agustus", while the
    day is asked) corrects that detail instead, and must not be judged as this answer too."""
    message = tracker.latest_message
    if value != message.get("text"):
        return False
    return any(e.get("entity") != slot and e.get("entity") in FORM_SLOTS for e in message.get("entities") or [])


# What comes just before a name someone gives unasked: "nama saya …", "atas nama …", "saya …".
_NAME_CUE = re.compile(
    r"(?:\bnama\w*(?:\s+(?:saya|sy|aku|anak(?:\s+saya)?|lengkap|yang\s+benar|sesuai(?:\s+e-?ktp|\s+ktp)?))*"
    r"|\batas\s+nama|\ba\.?\s?n\.|\bsaya|\bsy|\baku|\b(?:istri|suami|anak|ibu|bapak|ayah)\s+saya)"
    r"\s*(?:adalah|ialah|:|,)?\s*$", re.IGNORECASE)
LAW_READER = "LawFormatClassifier"  # antrean/assistant/nlu/law_format.py: the `#` fields, read by rule


def name_given_unasked(tracker: Tracker) -> bool:
    """Whether the latest message states a name on purpose although the name was not asked for.
    The entity extractor tags capitalised words as names, so a typed button title ("Paspor baru",
    "Ya, daftarkan") or a stale button tap read as its title would otherwise replace the name the
    applicant gave, and the card check would then refuse their own e-KTP. Taken unasked: a name in
    the `#` format, or one said with a cue ("nama saya …", "atas nama …")."""
    message = tracker.latest_message
    text = message.get("text") or ""
    for entity in message.get("entities") or []:
        if entity.get("entity") != "person_name":
            continue
        if entity.get("extractor") == LAW_READER:
            return True
        start = entity.get("start")
        if isinstance(start, int) and _NAME_CUE.search(text[max(0, start - 40):start]):
            return True
    return False


def slot_before_message(tracker: Tracker, slot: str) -> Any:
    """The slot's value before the latest message (the tracker a validation sees already holds the
    values extracted from it)."""
    seen_message = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_message = True
        elif seen_message and event.get("event") == "slot" and event.get("name") == slot:
            return event.get("value")
        elif seen_message and event.get("event") in ("session_started", "restart"):
            return None
    return None


def application_type_in(text: str) -> str | None:
    """'new' or 'renewal' when the text names exactly one of them."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    new = bool(words & {"baru", "bru", "new", "pertama"})
    renewal = bool(words & {"perpanjang", "perpanjangan", "panjang", "perpanjng", "renewal", "renew"})
    if new == renewal:
        return None
    return "new" if new else "renewal"


def today_at(office_id: str) -> date:
    service = wiring.booking()
    return service.calendar(office_id).today(service.clock())


def ticket_url(code: str) -> str:
    return ticket.reference(code, current().assistant.ticket_base_url)


class ValidateRegistrationForm(CountingFormValidationAction):
    def name(self) -> str:
        return "validate_registration_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        if tracker.get_slot("registration_blocked"):
            return []
        slots = [slot for slot in domain_slots if slot != "guardian_photo"]
        if tracker.get_slot("is_minor"):
            slots.insert(slots.index("id_photo") + 1, "guardian_photo")
        return slots

    # --- custom extraction: the office from the channel, photos from the message metadata ---------

    async def extract_office(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("office"):
            return {}
        office_id = office_written_to(tracker)
        return {"office": office_id} if office_id else {}

    async def extract_application_type(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        """A short typed answer to the buttons ("yg baru", "perpanjang aja") when the NLU found no
        entity in it."""
        if tracker.get_slot("application_type") or tracker.get_slot("requested_slot") != "application_type":
            return {}
        kind = application_type_in(tracker.latest_message.get("text") or "")
        return {"application_type": kind} if kind else {}

    async def extract_id_photo(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        return self._photo_for("id_photo", dispatcher, tracker)

    async def extract_guardian_photo(self, dispatcher, tracker: Tracker, domain) -> dict[str, Any]:
        if not tracker.get_slot("id_photo") or not tracker.get_slot("is_minor"):
            return {}
        return self._photo_for("guardian_photo", dispatcher, tracker)

    def _photo_for(self, slot: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        if tracker.get_slot(slot):
            return {}
        media = media_from_metadata(tracker.latest_message.get("metadata"))
        if media is None:
            if tracker.get_slot("requested_slot") == slot and tracker.latest_message.get("intent", {}).get(
                    "name") == "send_photo":
                dispatcher.utter_message(response="utter_please_send_photo")
            return {}
        if slot == "guardian_photo" and media.ref == tracker.get_slot("id_photo"):
            return {}
        if media.problem == REGISTRATION_CLOSED or not registration_open_for(tracker):
            return self._photo_while_closed(media, dispatcher, tracker)
        if not media.ok:
            return self.reject(dispatcher, tracker, slot, message=media.tip_id)
        dispatcher.utter_message(response="utter_photo_received")
        return self.accept(tracker, slot, media.ref)

    @staticmethod
    def _photo_while_closed(media, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        """No registration can use an ID photo outside the window (booking refuses it): it is not
        kept, and the applicant is told so instead of "Foto diterima"."""
        if media.ref:  # stored by a channel that could not tell (the window closed meanwhile)
            wiring.media().delete(media.ref)
        dispatcher.utter_message(text=NOT_KEPT_TIP)
        office_id = tracker.get_slot("office")  # chosen before, or extracted just now from the channel
        if not office_id:
            return {}  # the form asks for it next, and its validation explains the window
        service = wiring.booking()
        opening = service.calendar(office_id).next_registration_opening(service.clock())
        dispatcher.utter_message(text=replies.registration_closed(wiring.office(office_id), opening))
        return {"registration_blocked": True}  # no slot is required any more: the form ends, its submit tidies up

    # --- validation -------------------------------------------------------------------------------

    def validate_office(self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        office_id = str(value).strip().lower().replace(" ", "_") if value else None
        if office_id and in_practice(tracker):
            office_id = practice_id(office_id)
        office = wiring.office(office_id)
        if office is None:
            return self.reject(dispatcher, tracker, "office",
                               message="Maaf, kantor tersebut belum melayani antrean lewat WhatsApp ini.")
        service = wiring.booking()
        now = service.clock()
        calendar = service.calendar(office.id)
        if not calendar.registration_open(now):
            dispatcher.utter_message(text=replies.registration_closed(office, calendar.next_registration_opening(now)))
            return {"office": office.id, "registration_blocked": True}
        if all(day.left == 0 for day in service.availability(office.id)):
            dispatcher.utter_message(text=replies.quota_full_everywhere(office, calendar.next_day_opening(now)))
            return {"office": office.id, "registration_blocked": True}
        return self.accept(tracker, "office", office.id)

    def validate_application_type(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        try:
            return self.accept(tracker, "application_type", ApplicationType(value).value)
        except ValueError:
            return self.reject(dispatcher, tracker, "application_type", response="utter_ask_application_type")

    def validate_person_name(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        if answers_another_question(tracker, "person_name", value):
            return {"person_name": None}
        if tracker.get_slot("requested_slot") != "person_name" and not name_given_unasked(tracker):
            return {"person_name": slot_before_message(tracker, "person_name")}
        try:
            return self.accept(tracker, "person_name", normalise_name(str(value)))
        except IdentityError as error:
            return self.reject(dispatcher, tracker, "person_name", message=error.message_id)

    def validate_birth_date(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        if answers_another_question(tracker, "birth_date", value):
            return {"birth_date": None}
        today = today_at(tracker.get_slot("office") or wiring.default_office().id)
        try:
            birth = parse_birth_date(str(value), today)
        except IdentityError as error:
            return self.reject(dispatcher, tracker, "birth_date", message=error.message_id)
        nik = tracker.get_slot("nik")
        if nik and not self._nik_agrees(nik, birth, today):
            dispatcher.utter_message(text="Tanggal lahir ini tidak sesuai dengan NIK yang Anda kirim. "
                                          "Mohon kirim ulang NIK pemohon.")
            return self.accept(tracker, "birth_date", birth.isoformat(), nik=None,
                               is_minor=is_minor(birth, today))
        return self.accept(tracker, "birth_date", birth.isoformat(), is_minor=is_minor(birth, today))

    def validate_address(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        if answers_another_question(tracker, "address", value):
            return {"address": None}
        try:
            return self.accept(tracker, "address", normalise_address(str(value)))
        except IdentityError as error:
            return self.reject(dispatcher, tracker, "address", message=error.message_id)

    def validate_nik(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        if answers_another_question(tracker, "nik", value):
            return {"nik": None}
        today = today_at(tracker.get_slot("office") or wiring.default_office().id)
        try:
            nik = parse_nik(str(value), today)
            if tracker.get_slot("birth_date"):
                check_nik_against(nik, date.fromisoformat(tracker.get_slot("birth_date")))
        except IdentityError as error:
            return self.reject(dispatcher, tracker, "nik", message=error.message_id)
        if not tracker.get_slot("is_minor"):
            # A NIK typed after the e-KTP was read (a correction in the summary, say) is held
            # against the card too.
            card = self._card_check(tracker, nik=nik.value)
            if card.mismatch:
                return self._refuse_card(dispatcher, card.mismatch)
        return self._accept_nik(dispatcher, tracker, nik.value, nik_from_card=False)

    def _accept_nik(self, dispatcher, tracker: Tracker, nik: str, nik_from_card: bool) -> dict[str, Any]:
        existing = wiring.booking().get_active_by_nik(nik)
        if existing is not None:
            office = wiring.office(existing.office_id)
            dispatcher.utter_message(text=(
                f"NIK ini sudah punya antrean aktif: {replies.booking_status(existing, office)}\n"
                "Satu NIK hanya boleh satu antrean. Ketik *ubah jadwal* untuk pindah hari, atau *batal* untuk "
                "membatalkan."))
            return {"nik": nik, "registration_blocked": True}
        return self.accept(tracker, "nik", nik, nik_from_card=nik_from_card)

    # --- the e-KTP read from the photo ------------------------------------------------------------

    @staticmethod
    def _card_check(tracker: Tracker, photo_ref: str | None = None, nik: str | None = None) -> CardCheck:
        """The applicant's typed details against what was read from their e-KTP photo."""
        reading = card_reading(photo_ref or tracker.get_slot("id_photo"))
        birth = tracker.get_slot("birth_date")
        return check_own_card(reading, name=tracker.get_slot("person_name"),
                              birth_date=date.fromisoformat(birth) if birth else None,
                              nik=nik if nik is not None else tracker.get_slot("nik"),
                              today=today_at(tracker.get_slot("office") or wiring.default_office().id))

    @staticmethod
    def _refuse_card(dispatcher: CollectingDispatcher, mismatch: str) -> dict[str, Any]:
        """Someone else's e-KTP: the applicant is told, nothing is booked, and the conversation
        carries `card_mismatch` for staff (the console's flag and the dashboard's count)."""
        dispatcher.utter_message(text=replies.card_not_own(mismatch))
        return {"registration_blocked": True, "card_mismatch": mismatch}

    @staticmethod
    def _nik_agrees(nik_text: str, birth: date, today: date) -> bool:
        try:
            check_nik_against(parse_nik(nik_text, today), birth)
        except IdentityError:
            return False
        return True

    def validate_visit_date(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        if answers_another_question(tracker, "visit_date", value):
            return {"visit_date": None}
        office_id = tracker.get_slot("office")
        open_days = [day.day for day in wiring.booking().availability(office_id) if day.left > 0]
        chosen = parse_day_choice(str(value), open_days, today_at(office_id))
        if chosen is None:
            days = ", ".join(replies.day_name(d) for d in open_days)
            return self.reject(dispatcher, tracker, "visit_date",
                               message=f"Hari tersebut tidak tersedia. Pilih salah satu: {days}.")
        return self.accept(tracker, "visit_date", chosen.isoformat())

    def validate_id_photo(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        """The photo itself was checked when it arrived (extract_id_photo). An adult's is their
        e-KTP: held against the typed details (validated before it in the same turn), and a NIK
        read from it with confidence fills the NIK, shown in the summary to be checked."""
        if not value or tracker.get_slot("is_minor"):  # a minor's first photo is the birth certificate
            return {"id_photo": value}
        card = self._card_check(tracker, photo_ref=value)
        if card.mismatch:
            return {"id_photo": value, **self._refuse_card(dispatcher, card.mismatch)}
        if card.nik and not tracker.get_slot("nik"):
            return {"id_photo": value, **self._accept_nik(dispatcher, tracker, card.nik, nik_from_card=True)}
        return {"id_photo": value}

    def validate_guardian_photo(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        """A minor's parent's e-KTP: its holder must be an adult clearly older than the child, and
        the NIK typed for the child must not be the parent's."""
        if not value:
            return {"guardian_photo": value}
        birth = tracker.get_slot("birth_date")
        card = check_guardian_card(card_reading(value), child_birth_date=date.fromisoformat(birth) if birth else None,
                                   child_nik=tracker.get_slot("nik"),
                                   today=today_at(tracker.get_slot("office") or wiring.default_office().id))
        if card.mismatch:
            return {"guardian_photo": value, **self._refuse_card(dispatcher, card.mismatch)}
        if card.nik_is_guardians:
            dispatcher.utter_message(text=replies.NIK_IS_PARENTS)
            return {"guardian_photo": value, "nik": None, "nik_from_card": None}
        return {"guardian_photo": value}

    def validate_confirmed(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        if value is True:
            return {"confirmed": True}
        dispatcher.utter_message(response="utter_what_to_change")
        return {"confirmed": None}


class ActionAskOffice(Action):
    def name(self) -> str:
        return "action_ask_office"

    def run(self, dispatcher, tracker, domain) -> list[EventType]:
        offices = list(wiring.booking().offices.values())
        dispatcher.utter_message(
            text="Di *kantor imigrasi* mana Anda ingin mengajukan paspor?",
            buttons=[{"title": o.short_name[:20], "payload": f'/inform{{"office":"{o.id}"}}'} for o in offices],
        )
        return []


class ActionAskVisitDate(Action):
    def name(self) -> str:
        return "action_ask_visit_date"

    def run(self, dispatcher, tracker, domain) -> list[EventType]:
        office_id = tracker.get_slot("office")
        days = [day for day in wiring.booking().availability(office_id) if day.left > 0]
        if not days:
            service = wiring.booking()
            opening = service.calendar(office_id).next_day_opening(service.clock())
            dispatcher.utter_message(text=replies.quota_full_everywhere(wiring.office(office_id), opening))
            return [SlotSet("registration_blocked", True)]
        dispatcher.utter_message(
            text="Pilih *hari kedatangan* (sisa kuota):\n" + "\n".join(
                f"{i}. {replies.day_name(d.day)} — sisa {d.left}" for i, d in enumerate(days, start=1)),
            buttons=[{"title": replies.short_day(d.day), "payload": f'/inform{{"visit_date":"{d.day.isoformat()}"}}'}
                     for d in days],
        )
        return []


class ActionAskConfirmed(Action):
    def name(self) -> str:
        return "action_ask_confirmed"

    def run(self, dispatcher, tracker, domain) -> list[EventType]:
        office = wiring.office(tracker.get_slot("office"))
        kind = {"new": "Paspor baru", "renewal": "Perpanjangan"}[tracker.get_slot("application_type")]
        minor = " (anak, di bawah 17 tahun)" if tracker.get_slot("is_minor") else ""
        dispatcher.utter_message(
            text="\n".join([
                "*Periksa data pendaftaran:*",
                f"Kantor: {office.short_name}",
                f"Permohonan: {kind}{minor}",
                f"Nama: {tracker.get_slot('person_name')}",
                f"Tanggal lahir: {replies.day_name(date.fromisoformat(tracker.get_slot('birth_date')))}",
                f"Alamat: {tracker.get_slot('address')}",
                f"NIK: {tracker.get_slot('nik')}" + (" (dibaca dari foto e-KTP, mohon periksa)"
                                                     if tracker.get_slot("nik_from_card") else ""),
                f"Hari datang: {replies.day_name(date.fromisoformat(tracker.get_slot('visit_date')))}",
                "",
                "Sudah benar?",
            ]),
            buttons=[{"title": "Ya, daftarkan", "payload": "/affirm"}, {"title": "Ubah data", "payload": "/deny"}],
        )
        return []


def card_reading(photo_ref: str | None) -> CardReading | None:
    """What was read from a stored photo as an e-KTP (kept beside the photo), if anything."""
    if not photo_ref:
        return None
    try:
        return CardReading.from_dict(wiring.media().card_reading(photo_ref))
    except ValueError:  # not a photo reference
        return None


def reset_form() -> list[EventType]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS]


def discard_photos(tracker: Tracker) -> None:
    """Photos of a registration that did not end in a booking are not kept (data minimisation)."""
    for slot in ("id_photo", "guardian_photo"):
        if tracker.get_slot(slot):
            wiring.media().delete(tracker.get_slot(slot))


class ActionSubmitRegistration(Action):
    """Runs when the form ends: book (if confirmed), reply with the ticket, clear the form."""

    def name(self) -> str:
        return "action_submit_registration"

    def run(self, dispatcher, tracker, domain) -> list[EventType]:
        if tracker.get_slot("registration_blocked") or tracker.get_slot("confirmed") is not True:
            discard_photos(tracker)
            return reset_form()
        if not tracker.get_slot("is_minor"):
            # Details changed after the photo (in the summary) are held against the card once more.
            card = ValidateRegistrationForm._card_check(tracker)
            if card.mismatch:
                events = ValidateRegistrationForm._refuse_card(dispatcher, card.mismatch)
                discard_photos(tracker)
                return [SlotSet(name, value) for name, value in events.items()] + reset_form()
        service = wiring.booking()
        office = service.office(tracker.get_slot("office"))
        request = BookingRequest(
            office_id=office.id,
            day=date.fromisoformat(tracker.get_slot("visit_date")),
            full_name=tracker.get_slot("person_name"),
            birth_date=date.fromisoformat(tracker.get_slot("birth_date")),
            address=tracker.get_slot("address"),
            nik=tracker.get_slot("nik"),
            application_type=tracker.get_slot("application_type"),
            whatsapp_number=sender_number(tracker),
            # a minor's registration carries two photos: the birth certificate and a parent's e-KTP
            photo_ref=" ".join(filter(None, (tracker.get_slot("id_photo"), tracker.get_slot("guardian_photo")))),
            request_key=f"{tracker.sender_id}:{tracker.latest_message.get('message_id') or ''}:"
                        f"{tracker.get_slot('nik')}",
        )
        try:
            booking = service.book(request)
        except BookingRefused as refused:
            dispatcher.utter_message(text=replies.refusal(refused, office))
            if refused.reason in (RefusalReason.QUOTA_FULL, RefusalReason.DAY_NOT_BOOKABLE) and any(
                    day.left > 0 for day in service.availability(office.id)):
                # The day filled up while this applicant was confirming (a rush does that): keep
                # every detail and the photo and let the form ask for another day; its buttons show
                # what is left. The follow-up comes last, so the form has no slot left to re-judge.
                return [SlotSet("visit_date", None), SlotSet("confirmed", None), FollowupAction("registration_form")]
            discard_photos(tracker)
            return reset_form()
        # The booking holds the NIK now; nothing else read from the card is needed.
        for slot in ("id_photo", "guardian_photo"):
            if tracker.get_slot(slot):
                wiring.media().forget_card(tracker.get_slot(slot))
        session = session_starting(office, booking.day, booking.session_start)
        dispatcher.utter_message(text=replies.booking_confirmation(booking, office, session))
        dispatcher.utter_message(image=ticket_url(booking.code))
        return reset_form()


class ActionStopRegistration(Action):
    def name(self) -> str:
        return "action_stop_registration"

    def run(self, dispatcher, tracker, domain) -> list[EventType]:
        dispatcher.utter_message(response="utter_registration_stopped")
        discard_photos(tracker)
        return [ActiveLoop(None), SlotSet("requested_slot", None), *reset_form()]
