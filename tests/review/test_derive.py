"""Pure parts of the review: masking inside texts, splitting sessions, words, story placeholders —
on events as Rasa's own classes serialise them (no database)."""

from __future__ import annotations

import yaml

from antrean.booking.offices import load_offices
from antrean.protection.masking import mask_sender, mask_text
from antrean.review.derive import (
    EVENT_HANDLERS,
    Conversation,
    Reading,
    on_action,
    on_bot,
    on_slot,
    on_user,
    split_sessions,
    summarise,
    utc,
    words_of,
)
from antrean.review.stories import story_steps, story_yaml
from antrean.review.tracker import TrackerEvent


def events_of(*rasa_events, sender="6281234567001"):
    return [TrackerEvent(n, sender, e.type_name, 1_764_550_000.0 + n, e.as_dict())
            for n, e in enumerate(rasa_events, start=1)]


def rasa():
    from rasa.shared.core import events

    return events


def test_niks_phone_numbers_and_birth_dates_are_masked_inside_texts():
    text = "NIK 2171035708900001 / 2171 0357 0890 0001, wa 081234567890 atau +6281234567890, lahir 17-08-1990"
    assert mask_text(text) == ("NIK 2171**********01 / 2171 **** **** **01, wa 0812****7890 atau +6281*****7890, "
                               "lahir ••-••-••••")
    assert mask_sender("6281234567001") == "6281*****7001" and mask_sender("rest-user-42") == "res…"


def test_sessions_split_where_rasa_starts_one():
    e = rasa()
    events = events_of(e.ActionExecuted("action_session_start"), e.SessionStarted(), e.ActionExecuted("action_listen"),
                       e.UserUttered("halo", {"name": "greet", "confidence": 0.9}),
                       e.ActionExecuted("action_session_start"), e.SessionStarted(),
                       e.UserUttered("jam buka", {"name": "ask_hours", "confidence": 0.8}))
    first, second = split_sessions(events)
    assert [x.id for x in first] == [1, 2, 3, 4] and [x.id for x in second] == [5, 6, 7]


def test_a_summary_reads_office_channel_and_confidence():
    e = rasa()
    events = events_of(e.ActionExecuted("action_session_start"), e.SessionStarted(),
                       e.UserUttered("halo kak", {"name": "greet", "confidence": 0.61}, input_channel="whatsapp",
                                     metadata={"office_id": "batam"}),
                       e.ActionExecuted("action_answer_question"), e.BotUttered("Halo"))
    summary = summarise(events, load_offices())
    assert (summary.office_id, summary.channel, summary.turns) == ("batam", "whatsapp", 1)
    assert summary.outcome == "information"
    assert summary.min_confidence == 0.61 and summary.words == {"halo", "kak"}


def test_words_are_taken_after_masking():
    assert words_of("NIK saya 2171035708900001") == {"nik", "saya", "2171", "01"}


def test_a_story_replaces_personal_data_and_skips_listening():
    e = rasa()
    metadata = {"phone_number_id": "106540352242922", "wa_id": "6281234567001"}
    events = events_of(e.SlotSet("session_started_metadata", metadata), e.ActionExecuted("action_session_start"),
                       e.SessionStarted(), e.ActionExecuted("action_listen"),
                       e.UserUttered("nama saya Siti Rahayu", {"name": "inform", "confidence": 0.7}),
                       e.ActionExecuted("registration_form"), e.ActiveLoop("registration_form"),
                       e.SlotSet("person_name", "Siti Rahayu"), e.SlotSet("requested_slot", "nik"),
                       e.UserUttered('/inform{"application_type":"new"}', {"name": "inform", "confidence": 1.0}),
                       e.ActionExecuted("action_listen"))
    steps = story_steps(events)
    assert steps == [
        {"user": "nama saya Budi Contoh", "intent": "inform"}, {"action": "registration_form"},
        {"active_loop": "registration_form"}, {"slot_was_set": [{"person_name": "Budi Contoh"}]}, {"intent": "inform"},
    ]
    document = yaml.safe_load(story_yaml("cerita", events))
    assert document["stories"][0]["story"] == "cerita" and "Siti" not in story_yaml("cerita", events)
    assert "6281234567001" not in story_yaml("cerita", events)  # the channel's metadata is not a dialogue step


# --- one handler per kind of event ---------------------------------------------------------------

def reading() -> Reading:
    return Reading(Conversation("6281234567001", 1, 1, utc(0), utc(0)), load_offices())


def one(rasa_event):
    return events_of(rasa_event)[0]


def test_every_kind_with_a_handler_is_a_kind_rasa_writes():
    e = rasa()
    kinds = {e.UserUttered.type_name, e.ActionExecuted.type_name, e.ActiveLoop.type_name, e.SlotSet.type_name,
             e.BotUttered.type_name}
    assert set(EVENT_HANDLERS) == kinds


def test_user_messages_give_intents_the_lowest_confidence_fallback_and_the_first_channel():
    e = rasa()
    r = reading()
    on_user(r, one(e.UserUttered("halo", {"name": "greet", "confidence": 0.8}, input_channel="rest",
                                 metadata={"office_id": "tangerang"})))
    on_user(r, one(e.UserUttered("asdf", {"name": "nlu_fallback", "confidence": 0.3}, input_channel="whatsapp",
                                 metadata={"office_id": "batam"})))
    on_user(r, one(e.UserUttered("mau bicara dengan petugas", {"name": "human_handoff", "confidence": 0.9})))
    c = r.conversation
    assert [m.text for m in c.messages] == ["halo", "asdf", "mau bicara dengan petugas"]
    assert c.min_confidence == 0.3 and c.fallback and r.handoff
    assert (c.channel, r.metadata_office) == ("rest", "tangerang")
    assert {f for f in c.facets if f[0] == "intent"} == {("intent", "greet", ""), ("intent", "nlu_fallback", ""),
                                                         ("intent", "human_handoff", "")}


def test_actions_mark_fallback_handoff_and_the_form_but_routine_ones_are_no_facet():
    e = rasa()
    r = reading()
    for name in ("action_listen", "action_session_start", "action_fallback", "action_handoff", "registration_form"):
        on_action(r, one(e.ActionExecuted(name)))
    assert r.conversation.facets == {("action", "action_fallback", ""), ("action", "action_handoff", ""),
                                     ("action", "registration_form", "")}
    assert r.conversation.fallback and r.handoff and r.form_started


def test_slots_are_facets_but_a_personal_slot_shows_no_value():
    e = rasa()
    r = reading()
    for name, value in (("nik", "2171035708900001"), ("office", "batam"), ("application_type", "new"),
                        ("confirmed", True), ("requested_slot", "nik"), ("address", None)):
        on_slot(r, one(e.SlotSet(name, value)))
    assert r.conversation.facets == {("slot", "nik", ""), ("slot", "office", "batam"),
                                     ("slot", "application_type", "new"), ("slot", "confirmed", "true")}
    assert r.conversation.office_id == "batam" and not r.refused
    on_slot(r, one(e.SlotSet("office", "atlantis")))  # not an office: the one chosen before stays
    on_slot(r, one(e.SlotSet("registration_blocked", True)))
    assert r.conversation.office_id == "batam" and r.refused and r.outcome() == "refused"


def test_a_confirmed_submission_is_refused_unless_a_ticket_follows():
    e = rasa()
    r = reading()
    on_slot(r, one(e.SlotSet("confirmed", True)))
    on_action(r, one(e.ActionExecuted("action_submit_registration")))
    assert r.submitted_unbooked and r.outcome() == "refused"
    ticket = "http://localhost:5005/webhooks/antrean/tiket/ab12-cd34.png"
    on_bot(r, one(e.BotUttered("Tiket Anda", data={"image": ticket})))
    assert r.conversation.booking_code == "AB12-CD34" and r.outcome() == "booked"
    on_bot(r, one(e.BotUttered("Sampai jumpa", data={"image": None})))
    assert r.conversation.booking_code == "AB12-CD34"


def test_the_outcome_is_booked_then_refused_then_handoff_then_abandoned():
    r = reading()
    assert r.outcome() == "information"
    r.form_started = True
    assert r.outcome() == "abandoned"
    r.handoff = True
    assert r.outcome() == "handoff"
    r.refused = True
    assert r.outcome() == "refused"
    r.conversation.booking_code = "AB12-CD34"
    assert r.outcome() == "booked"


def test_the_office_chosen_in_the_conversation_wins_over_the_channels():
    e = rasa()
    events = events_of(e.UserUttered("halo", {"name": "greet", "confidence": 0.9}, metadata={"office_id": "batam"}),
                       e.SlotSet("office", "tangerang"))
    assert summarise(events, load_offices()).office_id == "tangerang"
    assert summarise(events[:1], load_offices()).office_id == "batam"


def test_the_review_reads_the_booking_code_from_the_reference():
    from antrean.media import ticket

    e = rasa()

    def conversation(image: str):
        return summarise(events_of(e.ActionExecuted("action_session_start"), e.SessionStarted(),
                                   e.UserUttered("ya", {"name": "affirm", "confidence": 0.9}),
                                   e.ActionExecuted("action_submit_registration"), e.BotUttered(data={"image": image})),
                         load_offices())

    code = "ABCD-EFGH-JKMN"
    booked = conversation(ticket.reference(code, "http://localhost:5005"))
    assert (booked.outcome, booked.booking_code) == ("booked", code)
    other = conversation("https://antrean.example/simulator/tiket/" + code + ".png")
    assert (other.outcome, other.booking_code) == ("information", None)
