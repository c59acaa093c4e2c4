import asyncio
import io
from datetime import date

from PIL import Image
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet

from actions.registration import (
    ActionAskVisitDate,
    ActionStopRegistration,
    ActionSubmitRegistration,
    ValidateRegistrationForm,
)
from antrean.booking.model import BookingStatus
from antrean.media.contract import ingest_photo, not_kept_metadata, photo_metadata
from tests.actions.conftest import DOMAIN_SLOTS, card_photo, make_tracker, stored_photo_metadata
from tests.builders import make_nik, make_request
from tests.conftest import wib

FORM_DOMAIN = {"forms": {"registration_form": {"required_slots": DOMAIN_SLOTS}}, "slots": {}}
NIK = make_nik(date(1990, 8, 17))


def validate(tracker, dispatcher):
    return asyncio.run(ValidateRegistrationForm().run(dispatcher, tracker, FORM_DOMAIN))


def slot_values(events):
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def complete_slots(**overrides):
    slots = {"office": "batam", "application_type": "new", "person_name": "Budi Santoso", "birth_date": "1990-08-17",
             "address": "Jl. Raya Sekupang No. 12, RT 01/RW 02", "nik": NIK, "id_photo": None,
             "visit_date": "2026-12-03", "confirmed": True}
    slots.update(overrides)
    return slots


def test_details_sent_in_one_message_are_validated_and_normalised(wired, dispatcher):
    tracker = make_tracker(
        slots={"person_name": "BUDI SANTOSO", "birth_date": "17 agt 90", "address": "jl raya sekupang no 12 rt 1",
               "nik": NIK},
        metadata={"office_id": "batam"}, active_loop="registration_form", intent="register",
        # The `#` format's fields, read by rule (antrean/assistant/nlu/law_format.py).
        entities=[{"entity": "person_name", "value": "BUDI SANTOSO", "extractor": "LawFormatClassifier"}],
        events=[{"event": "user", "text": "x", "parse_data": {}}] + [
            {"event": "slot", "name": n, "value": v} for n, v in
            {"person_name": "BUDI SANTOSO", "birth_date": "17 agt 90", "address": "jl raya sekupang no 12 rt 1",
             "nik": NIK}.items()],
    )
    values = slot_values(validate(tracker, dispatcher))
    assert values["person_name"] == "Budi Santoso"
    assert values["birth_date"] == "1990-08-17"
    assert values["nik"] == NIK
    assert values["office"] == "batam"  # from the channel's metadata
    assert values["is_minor"] is False


def test_a_wrong_nik_is_refused_and_explained_after_two_tries(wired, dispatcher):
    def attempt(failures):
        tracker = make_tracker(slots={"office": "batam", "nik": "1234", "failed_validations": failures},
                               active_loop="registration_form", requested_slot="nik",
                               events=[{"event": "user", "text": "1234", "parse_data": {}},
                                       {"event": "slot", "name": "nik", "value": "1234"}])
        return slot_values(validate(tracker, dispatcher))

    first = attempt({})
    assert first["nik"] is None and first["failed_validations"] == {"nik": 1}
    assert "16 angka" in dispatcher.messages[0]["text"]
    second = attempt({"nik": 1})
    assert second["failed_validations"] == {"nik": 2}
    assert dispatcher.messages[-1]["response"] == "utter_explain_nik"


def test_registration_outside_the_window_is_blocked_with_the_next_opening(wired, dispatcher, clock):
    clock.moment = wib(2026, 12, 1, 10, 30)
    tracker = make_tracker(slots={"office": "batam"}, active_loop="registration_form", intent="inform",
                           events=[{"event": "user", "text": "batam", "parse_data": {}},
                                   {"event": "slot", "name": "office", "value": "batam"}])
    values = slot_values(validate(tracker, dispatcher))
    assert values["registration_blocked"] is True
    assert "Rabu, 2 Desember 2026" in dispatcher.messages[0]["text"]
    assert "07.30 WIB" in dispatcher.messages[0]["text"]


def test_a_minor_needs_a_parents_ektp_too(wired, dispatcher):
    tracker = make_tracker(slots={"office": "batam", "birth_date": "2015-03-09", "is_minor": True},
                           active_loop="registration_form")
    required = asyncio.run(ValidateRegistrationForm().required_slots(DOMAIN_SLOTS, dispatcher, tracker, FORM_DOMAIN))
    assert required.index("guardian_photo") == required.index("id_photo") + 1


def test_a_good_photo_fills_the_slot_and_a_dark_one_gets_a_tip(wired, dispatcher):
    _, store = wired
    metadata = stored_photo_metadata(store)
    tracker = make_tracker(slots={"office": "batam"}, metadata=metadata, intent="send_photo",
                           active_loop="registration_form", requested_slot="id_photo")
    events = asyncio.run(ValidateRegistrationForm().get_extraction_events(dispatcher, tracker, FORM_DOMAIN))
    assert slot_values(events)["id_photo"] == metadata["antrean_media"]["ref"]

    dark = io.BytesIO()
    Image.open(io.BytesIO(card_photo())).point(lambda v: v * 0.1).save(dark, "JPEG")
    ref, check = ingest_photo(store, dark.getvalue(), "6281234567890")
    assert ref is None and check.problem == "too_dark"
    tracker = make_tracker(slots={"office": "batam"}, metadata=photo_metadata(ref, check), intent="send_photo",
                           active_loop="registration_form", requested_slot="id_photo")
    dispatcher.messages.clear()
    events = asyncio.run(ValidateRegistrationForm().get_extraction_events(dispatcher, tracker, FORM_DOMAIN))
    assert "id_photo" not in slot_values(events) or slot_values(events)["id_photo"] is None
    assert "gelap" in dispatcher.messages[0]["text"]


def test_the_day_buttons_show_the_next_working_days_with_seats_left(wired, dispatcher):
    tracker = make_tracker(slots={"office": "batam"}, active_loop="registration_form")
    ActionAskVisitDate().run(dispatcher, tracker, {})
    message = dispatcher.messages[0]
    assert [b["payload"] for b in message["buttons"]] == [
        f'/inform{{"visit_date":"2026-12-0{day}"}}' for day in (2, 3, 4)]
    assert "sisa 250" in message["text"]


def test_a_confirmed_registration_books_a_real_seat(wired, dispatcher):
    service, store = wired
    photo_ref = stored_photo_metadata(store)["antrean_media"]["ref"]
    tracker = make_tracker(slots=complete_slots(id_photo=photo_ref), sender="6281234567890")
    events = ActionSubmitRegistration().run(dispatcher, tracker, {})
    [booking] = service.get_by_whatsapp_number("6281234567890")
    assert booking.day == date(2026, 12, 3)
    assert booking.applicant.full_name == "Budi Santoso"
    assert booking.applicant.nik == NIK
    assert booking.photo_ref == photo_ref
    assert booking.status is BookingStatus.BOOKED
    text = dispatcher.messages[0]["text"]
    assert "A-001" in text and "Kamis, 3 Desember 2026" in text and booking.code in text
    assert "08.00–09.00 WIB" in text and "07.30" in text and "Kartu Keluarga" in text
    assert dispatcher.messages[1]["image"].endswith(f"/tiket/{booking.code}.png")
    assert SlotSet("nik", None) in events


def test_a_refused_booking_is_explained_and_its_photo_discarded(wired, dispatcher):
    service, store = wired
    service.book(make_request(serial=1, whatsapp_number="6289999999999"))
    photo_ref = stored_photo_metadata(store)["antrean_media"]["ref"]
    tracker = make_tracker(slots=complete_slots(id_photo=photo_ref))
    ActionSubmitRegistration().run(dispatcher, tracker, {})
    assert "sudah terdaftar" in dispatcher.messages[0]["text"]
    assert not store.path(photo_ref).exists()


def test_stopping_the_form_forgets_the_photo(wired, dispatcher):
    _, store = wired
    photo_ref = stored_photo_metadata(store)["antrean_media"]["ref"]
    events = ActionStopRegistration().run(dispatcher, make_tracker(slots={"id_photo": photo_ref}), {})
    assert dispatcher.messages[0]["response"] == "utter_registration_stopped"
    assert not store.path(photo_ref).exists()
    assert ActiveLoop(None) in events


def test_a_typed_answer_to_the_application_type_buttons_is_understood(wired, dispatcher):
    for text, expected in [("yg baru", "new"), ("perpanjang aja min", "renewal"), ("yang itu", None),
                           ("baru atau perpanjang?", None)]:
        tracker = make_tracker(slots={"office": "batam"}, text=text, intent="inform",
                               active_loop="registration_form", requested_slot="application_type")
        events = asyncio.run(ValidateRegistrationForm().get_extraction_events(dispatcher, tracker, FORM_DOMAIN))
        assert slot_values(events).get("application_type") == expected, text


def test_a_correction_of_another_detail_is_not_taken_as_the_answer_to_the_question_asked(wired, dispatcher):
    text = "eh salah, lahirnya 18 Agustus 1990"
    tracker = make_tracker(
        slots={**complete_slots(visit_date=None, confirmed=None), "birth_date": "18 Agustus 1990", "visit_date": text},
        text=text, intent="inform", active_loop="registration_form", requested_slot="visit_date",
        entities=[{"entity": "birth_date", "value": "18 Agustus 1990", "start": 17, "end": 34}],
        events=[{"event": "user", "text": text}, {"event": "slot", "name": "birth_date", "value": "18 Agustus 1990"},
                {"event": "slot", "name": "visit_date", "value": text}])
    events = validate(tracker, dispatcher)
    values = slot_values(events)
    assert values.get("visit_date") is None
    assert not any("Hari tersebut tidak tersedia" in (m.get("text") or "") for m in dispatcher.messages)


def test_a_day_that_filled_up_during_confirmation_is_chosen_again_keeping_the_details(wired, dispatcher):
    service, store = wired
    for serial in range(1001, 1251):  # Batam's 250 seats of Thursday 3 December go to others
        service.book(make_request(serial=serial, day=date(2026, 12, 3), whatsapp_number=f"62811{serial:07d}"))
    photo_ref = stored_photo_metadata(store)["antrean_media"]["ref"]
    tracker = make_tracker(slots=complete_slots(id_photo=photo_ref))
    events = ActionSubmitRegistration().run(dispatcher, tracker, {})
    assert events == [SlotSet("visit_date", None), SlotSet("confirmed", None), FollowupAction("registration_form")]
    assert store.path(photo_ref).exists()  # the e-KTP photo is still needed
    assert "penuh" in dispatcher.messages[0]["text"]


def test_a_law_message_with_a_photo_outside_the_window_is_not_told_foto_diterima(wired, dispatcher, clock):
    _, store = wired
    clock.moment = wib(2026, 12, 1, 10, 30)  # Tuesday, after Batam's 07:30-10:00
    # What both channels send outside the window: the photo neither checked nor kept.
    metadata = {"phone_number_id": "106540352242922", **not_kept_metadata()}
    tracker = make_tracker(text="Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12", intent="register",
                           metadata=metadata, active_loop="registration_form",
                           events=[{"event": "user", "text": "Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12",
                                    "parse_data": {}}])
    values = slot_values(validate(tracker, dispatcher))

    assert values == {"requested_slot": None}  # the form ends here (and its submit tidies up)
    assert [m.get("response") for m in dispatcher.messages] == [None, None]  # no utter_photo_received
    texts = [m["text"] for m in dispatcher.messages]
    assert texts[0] == "Foto e-KTP Anda tidak kami simpan karena pendaftaran sedang ditutup."
    assert "hanya dilayani hari kerja pukul 07.30" in texts[1] and "Rabu, 2 Desember 2026" in texts[1]
    assert list(store.root.rglob("*.jpg")) == []


def test_a_photo_kept_by_a_channel_as_the_window_closed_is_deleted_and_the_registration_stopped(wired, dispatcher,
                                                                                               clock):
    _, store = wired
    metadata = stored_photo_metadata(store)  # checked at 09:59:59
    clock.moment = wib(2026, 12, 1, 10, 0)  # read by the form at 10:00
    tracker = make_tracker(slots=complete_slots(visit_date=None, confirmed=None), metadata=metadata,
                           intent="send_photo", active_loop="registration_form", requested_slot="id_photo")
    events = asyncio.run(ValidateRegistrationForm().get_extraction_events(dispatcher, tracker, FORM_DOMAIN))

    assert slot_values(events) == {"registration_blocked": True}
    assert [m.get("response") for m in dispatcher.messages] == [None, None]  # no "Foto diterima"
    assert "tidak kami simpan" in dispatcher.messages[0]["text"]
    assert "Rabu, 2 Desember 2026" in dispatcher.messages[1]["text"]
    assert not store.path(metadata["antrean_media"]["ref"]).exists()


def test_a_simulator_conversation_registers_at_the_practice_twin_at_any_hour(wired, dispatcher, clock):
    """Issue 15.5 / 16 §3: the simulator's registrations never take a real seat, and are not closed
    outside 07:30–10:00."""
    service, _ = wired
    clock.moment = wib(2026, 12, 1, 15, 0)  # registration closed at the real office
    simulator = {"phone_number_id": service.offices["batam"].whatsapp_phone_number_ids[0], "wa_id": "6280000001001",
                 "practice": True}
    tracker = make_tracker(metadata=simulator, sender="6280000001001", active_loop="registration_form")
    events = asyncio.run(ValidateRegistrationForm().get_extraction_events(dispatcher, tracker, FORM_DOMAIN))
    assert slot_values(events)["office"] == "latihan-batam"
    typed = make_tracker(slots={"office": "batam"}, metadata=simulator, sender="6280000001001", text="batam",
                         active_loop="registration_form",
                         events=[{"event": "user", "text": "batam", "parse_data": {}},
                                 {"event": "slot", "name": "office", "value": "batam"}])
    values = slot_values(validate(typed, dispatcher))
    assert values["office"] == "latihan-batam" and not values.get("registration_blocked")
    ActionAskVisitDate().run(dispatcher, make_tracker(slots={"office": "latihan-batam"}, metadata=simulator), {})
    assert [b["payload"] for b in dispatcher.messages[-1]["buttons"]] == ['/inform{"visit_date":"2026-12-01"}']
    before = service.availability("batam")
    ActionSubmitRegistration().run(dispatcher, make_tracker(
        slots=complete_slots(office="latihan-batam", visit_date="2026-12-01"), metadata=simulator,
        sender="6280000001001"), {})
    [booking] = service.get_by_whatsapp_number("6280000001001")
    assert (booking.office_id, booking.day) == ("latihan-batam", date(2026, 12, 1))
    assert service.availability("batam") == before
