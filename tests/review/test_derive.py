"""Pure parts of the review: masking inside texts, splitting sessions, words, story placeholders —
on events as Rasa's own classes serialise them (no database)."""

from __future__ import annotations

import yaml

from antrean.booking.offices import load_offices
from antrean.protection.masking import mask_sender, mask_text
from antrean.review.derive import split_sessions, summarise, words_of
from antrean.review.stories import story_steps, story_yaml
from antrean.review.tracker import TrackerEvent


def events_of(*rasa_events, sender="6281234567001"):
    return [TrackerEvent(n, sender, e.type_name, 1_764_550_000.0 + n, e.as_dict())
            for n, e in enumerate(rasa_events, start=1)]


def rasa():
    from rasa.shared.core import events

    return events


def test_niks_and_phone_numbers_are_masked_inside_texts():
    text = "NIK 2171035708900001 / 2171 0357 0890 0001, wa 081234567890 atau +6281234567890, lahir 17-08-1990"
    assert mask_text(text) == ("NIK 2171**********01 / 2171**********01, wa 0812****7890 atau 6281*****7890, "
                               "lahir 17-08-1990")
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
    events = events_of(e.ActionExecuted("action_session_start"), e.SessionStarted(), e.ActionExecuted("action_listen"),
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
