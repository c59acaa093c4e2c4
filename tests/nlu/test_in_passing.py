"""Details given in passing: a lost or damaged passport said while asking to register, and the kind
of application said anywhere in a message, are read so that they are not asked again."""

from __future__ import annotations

import pytest
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from antrean.assistant.nlu.in_passing import InPassingReader, read_in_passing

REPLACEMENT = [
    "paspor saya hilang, mau daftar antrian buat ganti",
    "paspor sy rusak kena air, mau daftar antri",
    "mau daftar antrean paspor, paspor lama hilang",
    "daftar antrian ganti paspor yg hilang",
    "paspor anak saya dicuri, mau buat lagi",
    "kak mau ambil antrian, pasport saya kecopetan di pasar",
    "halo min, paspornya robek gimana daftarnya",
    "mau daftar ganti nama di paspor",
    "mau antri, hilang paspornya waktu pindahan",
    "Budi Santoso#17-08-1990#Jl. Sudirman 5, paspor saya hilang",
]
NOT_REPLACEMENT = [
    "KTP saya hilang, mau daftar paspor baru",  # the lost thing is the KTP
    "mau daftar paspor, hp saya rusak jadi pakai hp istri",
    "paspor saya tidak hilang, cuma mau perpanjang",
    "mau daftar antrian paspor",
    "Budi Santoso#17-08-1990#Jl. Sudirman 5",
    "maaf salah ketik, maksudnya paspor baru",
]


@pytest.mark.parametrize("text", REPLACEMENT)
def test_a_lost_or_damaged_passport_is_read_wherever_it_is_said(text):
    found = read_in_passing(text)
    assert found.replacement is not None and found.application_type is None
    assert text[found.replacement.start:found.replacement.end].strip()


@pytest.mark.parametrize("text", NOT_REPLACEMENT)
def test_other_losses_negations_and_plain_registrations_are_not_a_replacement(text):
    assert read_in_passing(text).replacement is None


@pytest.mark.parametrize("text, kind, said", [
    ("mau daftar perpanjang paspor", "renewal", "perpanjang"),
    ("saya mau daftar paspor baru untuk anak saya umur 8 tahun", "new", "paspor baru"),
    ("daftar antrian ya kak, paspor saya sudah habis bulan lalu", "renewal", "paspor saya sudah habis"),
    ("pasport sy expired, mau antri", "renewal", "pasport sy expired"),
    ("belum pernah punya paspor, mau bikin", "new", "belum pernah punya paspor"),
    ("mau bikin paspor untuk umroh", "new", "bikin paspor"),
    ("baru pertama kali mau buat paspor", "new", "baru pertama kali"),
    ("mau memperpanjang paspor hari kamis", "renewal", "memperpanjang"),
    ("mau daftarin anak saya, perpanjangan, Putri Ayu#02-03-2015#Perum Central Raya E2 no 1", "renewal",
     "perpanjangan"),
])
def test_the_kind_of_application_said_in_passing_is_read_with_its_span(text, kind, said):
    found = read_in_passing(text).application_type
    assert found is not None and found.what == kind and text[found.start:found.end] == said


@pytest.mark.parametrize("text", [
    "saya baru pindah ke batam, mau daftar paspor",  # "baru" alone is not a new passport
    "mau daftar antrian",
    "paspor baru atau perpanjang ya kak?",  # both: the question stays open
    "mau bikin paspor lagi",  # again: new or renewal is not said
])
def test_no_kind_is_guessed_from_loose_words(text):
    assert read_in_passing(text).application_type is None


def classified(text: str, intent: str, confidence: float = 0.8, entities: list | None = None) -> Message:
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": intent, "confidence": confidence}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": confidence},
                                     {"name": "inform", "confidence": 1 - confidence}], add_to_output=True)
    message.set(ENTITIES, entities or [], add_to_output=True)
    return message


@pytest.mark.parametrize("intent", ["register", "inform", "ask_requirements", "greet"])
def test_a_registration_about_a_lost_passport_becomes_the_replacement_question(create_component, intent):
    message = classified("paspor saya hilang, mau daftar antrian buat ganti", intent, 0.46)
    create_component(InPassingReader).process([message])
    create_component(FallbackClassifier, threshold=0.5, ambiguity_threshold=0.1).process([message])
    assert message.get(INTENT) == {"name": "replace_passport", "confidence": 1.0}


@pytest.mark.parametrize("intent", ["ask_fee", "check_booking", "cancel_booking"])
def test_other_questions_about_a_lost_passport_keep_their_intent(create_component, intent):
    message = classified("berapa biaya kalau paspor hilang", intent)
    create_component(InPassingReader).process([message])
    assert message.get(INTENT)["name"] == intent


def test_the_kind_of_application_becomes_an_entity_when_the_extractor_missed_it(create_component):
    message = classified("daftar antrian ya kak, paspor saya sudah habis", "register")
    create_component(InPassingReader).process([message])
    [entity] = message.get(ENTITIES)
    assert (entity["entity"], entity["value"], entity["extractor"]) == ("application_type", "renewal",
                                                                        "InPassingReader")


def test_an_application_type_the_extractor_found_is_left_alone(create_component):
    found = {"entity": "application_type", "start": 11, "end": 21, "value": "new", "extractor": "CRFEntityExtractor"}
    message = classified("mau daftar perpanjang paspor", "register", entities=[found])
    create_component(InPassingReader).process([message])
    assert message.get(ENTITIES) == [found]


def test_button_payloads_are_taken_as_they_are(create_component):
    message = classified('/inform{"application_type":"new"}', "inform", 1.0)
    before = message.as_dict()
    create_component(InPassingReader).process([message])
    assert message.as_dict() == before
