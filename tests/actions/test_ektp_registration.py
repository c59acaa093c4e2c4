"""The registration with an e-KTP that is read: the NIK is taken from the card (and shown to be
checked), someone else's card is refused and flagged, a minor's parent's card is checked, and
without Tesseract everything works as before (the NIK is asked). Real Tesseract on generated cards."""

import asyncio
from datetime import date

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.registration import ActionAskConfirmed, ActionSubmitRegistration, ValidateRegistrationForm
from antrean.identity import ektp
from antrean.media.contract import ingest_photo, photo_metadata
from benchmarks.ektp_cards import Person, photo_of
from tests.actions.conftest import DOMAIN_SLOTS, make_tracker
from tests.builders import make_nik

pytestmark = pytest.mark.usefixtures("tesseract")

FORM_DOMAIN = {"forms": {"registration_form": {"required_slots": DOMAIN_SLOTS}}, "slots": {}}
SENDER = "6281234567890"
BIRTH = date(1990, 8, 17)
NIK = make_nik(BIRTH, "L", serial=1234)
BUDI = Person(nik=NIK, name="BUDI SANTOSO", birth_place="BATAM", birth_date=BIRTH, sex="L",
              address="JL. RAYA SEKUPANG NO. 12", province="KEPULAUAN RIAU", regency="KOTA BATAM")
TYPED = {"office": "batam", "application_type": "new", "person_name": "Budi Santoso", "birth_date": "1990-08-17",
         "address": "Jl. Raya Sekupang No. 12, RT 01/RW 02"}


def slot_values(events):
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def send_card(store, person=BUDI, slots=None, **kwargs):
    """The photo of `person`'s card arriving while the form runs with `slots` already given."""
    ref, check = ingest_photo(store, photo_of(person), SENDER)
    assert check.ok, check
    tracker = make_tracker(slots={**TYPED, **(slots or {})}, metadata=photo_metadata(ref, check), intent="send_photo",
                           active_loop="registration_form", requested_slot="id_photo", sender=SENDER, **kwargs)
    return ref, tracker


def validate(tracker, dispatcher):
    return slot_values(asyncio.run(ValidateRegistrationForm().run(dispatcher, tracker, FORM_DOMAIN)))


def test_the_nik_on_a_readable_ektp_is_not_asked_for_and_is_shown_to_be_checked(wired, dispatcher):
    _, store = wired
    ref, tracker = send_card(store)
    values = validate(tracker, dispatcher)
    assert values["id_photo"] == ref
    assert values["nik"] == NIK and values["nik_from_card"] is True
    assert not values.get("registration_blocked")
    required = asyncio.run(ValidateRegistrationForm().required_slots(
        DOMAIN_SLOTS, dispatcher, make_tracker(slots={**TYPED, "id_photo": ref, "nik": NIK}), FORM_DOMAIN))
    summary = CollectingDispatcher()
    ActionAskConfirmed().run(summary, make_tracker(slots={**TYPED, "id_photo": ref, "nik": NIK, "nik_from_card": True,
                                                          "visit_date": "2026-12-03"}), {})
    assert f"NIK: {NIK} (dibaca dari foto e-KTP, mohon periksa)" in summary.messages[0]["text"]
    assert "nik" in required  # still a form slot: filled, so the form does not ask for it


def test_someone_elses_ektp_is_refused_politely_and_flagged(wired, dispatcher):
    _, store = wired
    _, tracker = send_card(store, slots={"person_name": "Siti Aminah", "birth_date": "1985-03-02"})
    values = validate(tracker, dispatcher)
    assert values["registration_blocked"] is True
    assert values["card_mismatch"] == "birth_date"
    text = dispatcher.messages[-1]["text"]
    assert "e-KTP milik pemohon sendiri" in text and "tanggal lahir" in text


def test_a_name_that_clearly_differs_is_refused_but_case_titles_and_slips_are_not(wired, dispatcher):
    _, store = wired
    for typed, refused in (("Siti Aminah", True), ("budi   santoso", False), ("H. Budi Santoso, S.Kom", False),
                           ("Budi Santosa", False)):
        dispatcher.messages.clear()
        _, tracker = send_card(store, slots={"person_name": typed})
        values = validate(tracker, dispatcher)
        assert bool(values.get("registration_blocked")) is refused, typed
        assert values.get("card_mismatch") == ("name" if refused else None), typed


def test_a_typed_nik_of_someone_else_is_refused_a_typo_is_not(wired, dispatcher):
    _, store = wired
    stranger = make_nik(BIRTH, "L", serial=7788, region="217105")
    _, tracker = send_card(store, slots={"nik": stranger})
    values = validate(tracker, dispatcher)
    assert values["card_mismatch"] == "nik" and values["registration_blocked"] is True

    typo = NIK[:-1] + ("5" if NIK[-1] != "5" else "6")
    dispatcher.messages.clear()
    _, tracker = send_card(store, slots={"nik": typo})
    values = validate(tracker, dispatcher)
    assert not values.get("registration_blocked")
    assert "nik" not in values  # the typed NIK stays; the summary shows it to be checked


def test_details_changed_after_the_photo_are_checked_again_before_booking(wired, dispatcher):
    service, store = wired
    ref, _ = send_card(store)
    slots = {**TYPED, "person_name": "Siti Aminah", "id_photo": ref, "nik": NIK, "visit_date": "2026-12-03",
             "confirmed": True}
    events = ActionSubmitRegistration().run(dispatcher, make_tracker(slots=slots, sender=SENDER), {})
    assert service.get_by_whatsapp_number(SENDER) == []
    assert SlotSet("card_mismatch", "name") in events
    assert "e-KTP milik pemohon sendiri" in dispatcher.messages[0]["text"]
    assert not store.path(ref).exists()  # a refused registration keeps no photo


def test_a_booking_keeps_the_nik_and_forgets_the_rest_of_the_reading(wired, dispatcher):
    service, store = wired
    ref, _ = send_card(store)
    assert store.card_reading(ref)["name"] == "BUDI SANTOSO"
    slots = {**TYPED, "id_photo": ref, "nik": NIK, "nik_from_card": True, "visit_date": "2026-12-03", "confirmed": True}
    ActionSubmitRegistration().run(dispatcher, make_tracker(slots=slots, sender=SENDER), {})
    [booking] = service.get_by_whatsapp_number(SENDER)
    assert booking.applicant.nik == NIK and booking.photo_ref == ref
    assert store.card_reading(ref) is None and store.path(ref).exists()


def test_a_minors_parent_card_is_checked_against_the_child(wired, dispatcher):
    _, store = wired
    child = {"person_name": "Putri Ayu", "birth_date": "2015-03-02", "is_minor": True, "id_photo": "photo:" + "a" * 32}

    def guardian_photo(person, nik=None):
        ref, check = ingest_photo(store, photo_of(person), SENDER)
        tracker = make_tracker(slots={**TYPED, **child, "nik": nik}, metadata=photo_metadata(ref, check),
                               intent="send_photo", active_loop="registration_form",
                               requested_slot="guardian_photo", sender=SENDER)
        dispatcher.messages.clear()
        return validate(tracker, dispatcher)

    values = guardian_photo(BUDI)  # the father's card: fine
    assert values["guardian_photo"] and not values.get("registration_blocked")
    values = guardian_photo(BUDI, nik=NIK)  # the father's NIK typed for the child: ask the child's
    assert values["nik"] is None and "Kartu Keluarga" in dispatcher.messages[-1]["text"]
    sibling_birth = date(2012, 5, 1)
    sibling = Person(nik=make_nik(sibling_birth, "P", serial=2), name="DEWI AYU", birth_place="BATAM",
                     birth_date=sibling_birth, sex="P", address="JL. MERDEKA NO. 1", province="KEPULAUAN RIAU",
                     regency="KOTA BATAM")
    values = guardian_photo(sibling)  # a 14-year-old's card is no parent's
    assert values["card_mismatch"] == "guardian" and values["registration_blocked"] is True
    assert "salah satu orang tua" in dispatcher.messages[-1]["text"]


def test_without_tesseract_the_photo_is_kept_and_the_nik_is_asked(wired, dispatcher, monkeypatch):
    _, store = wired
    monkeypatch.setenv(ektp.ENABLED_ENV, "0")
    ektp.status.cache_clear()
    try:
        assert ektp.status() == (False, "e-KTP reading is off (ANTREAN_EKTP_READING=0): applicants are asked for "
                                        "their NIK")
        ref, tracker = send_card(store)
        values = validate(tracker, dispatcher)
        assert values["id_photo"] == ref and "nik" not in values
        assert store.card_reading(ref) is None
    finally:
        monkeypatch.delenv(ektp.ENABLED_ENV)
        ektp.status.cache_clear()
