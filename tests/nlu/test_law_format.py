"""LawFormatClassifier: the old `Nama#TGL Lahir#Alamat` messages are read deterministically."""

from __future__ import annotations

import pytest
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from antrean.assistant.nlu.law_format import LawFormatClassifier, is_cancel_command, parse_law_message

# text -> the fields expected, as {entity type: value}; each value must sit at its span.
RECOGNISED = [
    (
        "Budi Santoso#17-08-1990#Jl. Raya Batam Centre No. 5 RT 01/RW 02",
        {"person_name": "Budi Santoso", "birth_date": "17-08-1990",
         "address": "Jl. Raya Batam Centre No. 5 RT 01/RW 02"},
    ),
    (
        "# Siti Rahmawati # 17081990 # Perum Bida Asri Blok C No 12, Batam Kota ",
        {"person_name": "Siti Rahmawati", "birth_date": "17081990",
         "address": "Perum Bida Asri Blok C No 12, Batam Kota"},
    ),
    (
        "E-PASSPORT#HENDRA SITOMPUL#17 AGT 90#BENGKONG INDAH BLOK A NO 3",
        {"person_name": "HENDRA SITOMPUL", "birth_date": "17 AGT 90", "address": "BENGKONG INDAH BLOK A NO 3"},
    ),
    (
        "epaspor # Lim Mei Hua # 2 Januari 1988 # Nagoya Newton Blok B/7, Lubuk Baja",
        {"person_name": "Lim Mei Hua", "birth_date": "2 Januari 1988",
         "address": "Nagoya Newton Blok B/7, Lubuk Baja"},
    ),
    (
        "PASPOR#Rina Marlina#5.3.1995#Sagulung Baru Blok D 4",
        {"person_name": "Rina Marlina", "birth_date": "5.3.1995", "address": "Sagulung Baru Blok D 4"},
    ),
    (
        "2171054508959001#Ani Lestari#5/8/1995#Sekupang",
        {"nik": "2171054508959001", "person_name": "Ani Lestari", "birth_date": "5/8/1995", "address": "Sekupang"},
    ),
    (
        "Dewi Anggraini#12-12-1979#Tiban III no 8#2171 0552 1279 9003",
        {"person_name": "Dewi Anggraini", "birth_date": "12-12-1979", "address": "Tiban III no 8",
         "nik": "2171 0552 1279 9003"},
    ),
    (
        # swapped: the address first, the date last
        "Jl. Sudirman No. 5#Muhammad Rizky#1 mei 2001",
        {"address": "Jl. Sudirman No. 5", "person_name": "Muhammad Rizky", "birth_date": "1 mei 2001"},
    ),
    (
        "17agustus1990#Andi Pangeran#Kav. Bukit Kamboja, Batu Aji",
        {"birth_date": "17agustus1990", "person_name": "Andi Pangeran", "address": "Kav. Bukit Kamboja, Batu Aji"},
    ),
    (
        # the national variant: name, birth date, arrival date
        "#Budi#25011987#07082017",
        {"person_name": "Budi", "birth_date": "25011987", "visit_date": "07082017"},
    ),
    (
        "Nama: Yohanes Manurung#Tgl lahir: 3 Maret 1985#Alamat: Tiban Indah Blok F no 7",
        {"person_name": "Yohanes Manurung", "birth_date": "3 Maret 1985", "address": "Tiban Indah Blok F no 7"},
    ),
    (
        "nama saya Ahmad Syukri # tgl lahir 7 Jul 1966 # alamat Kampung Tua Tanjung Riau",
        {"person_name": "Ahmad Syukri", "birth_date": "7 Jul 1966", "address": "Kampung Tua Tanjung Riau"},
    ),
    (
        # tempat, tanggal lahir: the place is not part of the date
        "Rudi Hartono#Tanjung Pinang, 17-08-1990#Batu Aji",
        {"person_name": "Rudi Hartono", "birth_date": "17-08-1990", "address": "Batu Aji"},
    ),
    (
        # no keyword or digit in either text field: the documented order decides
        "Nur Aisyah#9 Sept 1999#Belakang Padang",
        {"person_name": "Nur Aisyah", "birth_date": "9 Sept 1999", "address": "Belakang Padang"},
    ),
    (
        "Wahyu Pratama#30-06-1992#081234567890#Nongsa",
        {"person_name": "Wahyu Pratama", "birth_date": "30-06-1992", "address": "Nongsa"},
    ),
    (
        "Yanti Marpaung#030791#Perum Tiban Mas blok B no 3",
        {"person_name": "Yanti Marpaung", "birth_date": "030791", "address": "Perum Tiban Mas blok B no 3"},
    ),
    (
        "M. Fadli#11-11-2011",
        {"person_name": "M. Fadli", "birth_date": "11-11-2011"},
    ),
]

NOT_LAW = [
    "#batal",
    "mau tanya #paspor hilang",
    "Budi#Batam",
    "Budi Santoso#Jl. Sudirman 5",
    "Jl. Sudirman 5#17-08-1990#Perum Legenda Malaka Blok A 1",
    "Budi#Ani#17-08-1990#Jl. Sudirman 5#Sekupang",
    "Budi#17-08-1990#18-08-1990#19-08-1990",
    "2171054508959001#2171054508959002#Budi#17-08-1990",
    "NIK: 12345#Budi#17-08-1990",
    "Nama Budi, lahir 17-08-1990, alamat Sekupang",
    "Budi#123456#Sekupang",  # six digits that are no DDMMYY
    "Budi#32081990#Sekupang",  # no 32nd day
]


@pytest.mark.parametrize(("text", "expected"), RECOGNISED, ids=[t for t, _ in RECOGNISED])
def test_law_messages_yield_each_field_at_its_span(text, expected):
    fields = parse_law_message(text)

    assert fields is not None
    assert {f.entity: f.value for f in fields} == expected
    assert all(text[f.start : f.end] == f.value for f in fields)
    assert [f.start for f in fields] == sorted(f.start for f in fields)


@pytest.mark.parametrize("text", NOT_LAW)
def test_messages_that_do_not_fit_the_format_are_not_read(text):
    assert parse_law_message(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#batal", True),
        ("#BATAL", True),
        (" # batalkan", True),
        ("batal#Budi Santoso#17-08-1990", True),
        ("#cancel", True),
        ("mau batal", False),
        ("#batalion", False),
        ("Budi#17-08-1990#batal", False),
    ],
)
def test_the_cancel_command_is_recognised(text, expected):
    assert is_cancel_command(text) is expected


def diet_output(text: str, intent: str, confidence: float, entities: list[dict] | None = None) -> Message:
    """A message as DIET would leave it, with another intent ranked second."""
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": intent, "confidence": confidence}, add_to_output=True)
    message.set(
        INTENT_RANKING_KEY,
        [{"name": intent, "confidence": confidence}, {"name": "greet", "confidence": 1 - confidence}],
        add_to_output=True,
    )
    message.set(ENTITIES, entities or [], add_to_output=True)
    return message


def test_a_law_message_overrides_diet_with_register_and_exact_entities(create_component):
    text = "Budi Santoso#17-08-1990#Jl. Raya Batam Centre No. 5"
    diet_guess = {"entity": "office", "start": 33, "end": 38, "value": "batam", "extractor": "DIETClassifier"}
    wrong_name = {"entity": "person_name", "start": 0, "end": 4, "value": "Budi", "extractor": "DIETClassifier"}
    message = diet_output(text, "inform", 0.48, [wrong_name, diet_guess])

    create_component(LawFormatClassifier).process([message])

    assert message.get(INTENT) == {"name": "register", "confidence": 1.0}
    assert message.get(INTENT_RANKING_KEY) == [{"name": "register", "confidence": 1.0}]
    assert message.get(ENTITIES) == [
        {"entity": "person_name", "start": 0, "end": 12, "value": "Budi Santoso",
         "confidence_entity": 1.0, "extractor": "LawFormatClassifier"},
        {"entity": "birth_date", "start": 13, "end": 23, "value": "17-08-1990",
         "confidence_entity": 1.0, "extractor": "LawFormatClassifier"},
        {"entity": "address", "start": 24, "end": 51, "value": "Jl. Raya Batam Centre No. 5",
         "confidence_entity": 1.0, "extractor": "LawFormatClassifier"},
    ]
    assert "register" in message.as_dict(only_output_properties=True)[INTENT]["name"]


def test_diet_entities_outside_the_law_fields_are_kept(create_component):
    # An office named before the first '#' is no LAW field; one inside the address would be.
    text = "kantor batam: Budi#17-08-1990#Sekupang"
    office = {"entity": "office", "start": 7, "end": 12, "value": "batam", "extractor": "DIETClassifier"}
    message = diet_output(text, "register", 0.9, [office])

    create_component(LawFormatClassifier).process([message])

    assert office in message.get(ENTITIES)


def test_cancel_command_sets_cancel_booking(create_component):
    message = diet_output("#batal", "register", 0.7)

    create_component(LawFormatClassifier).process([message])

    assert message.get(INTENT) == {"name": "cancel_booking", "confidence": 1.0}
    assert message.get(ENTITIES) == []


@pytest.mark.parametrize("text", ["mau tanya #paspor hilang", "Budi#Batam", "saya mau daftar paspor"])
def test_other_messages_keep_diets_prediction(create_component, text):
    message = diet_output(text, "replace_passport", 0.83)
    before = message.as_dict()

    create_component(LawFormatClassifier).process([message])

    assert message.as_dict() == before


def test_intent_names_come_from_the_config(create_component):
    message = diet_output("Budi#17-08-1990#Sekupang", "inform", 0.6)

    create_component(LawFormatClassifier, register_intent="daftar").process([message])

    assert message.get(INTENT)["name"] == "daftar"


def test_a_recognised_law_message_never_falls_back(create_component):
    # DIET unsure and split between two intents: FallbackClassifier alone would fall back.
    message = diet_output("Budi#17-08-1990#Sekupang", "inform", 0.45)

    create_component(LawFormatClassifier).process([message])
    create_component(FallbackClassifier, threshold=0.5, ambiguity_threshold=0.1).process([message])

    assert message.get(INTENT)["name"] == "register"


def test_process_training_data_leaves_the_annotations_as_written(create_component):
    example = Message(data={TEXT: "Budi#17-08-1990#Sekupang", INTENT: "register", ENTITIES: []})
    training_data = TrainingData([example])

    result = create_component(LawFormatClassifier).process_training_data(training_data)

    assert result.training_examples[0].get(INTENT) == "register"
    assert result.training_examples[0].get(ENTITIES) == []


# Free text around the fields: a lead-in before the name, a sign-off after the address.
AROUND = [
    ("mau daftarin anak saya, Putri Ayu#02-03-2015#Perum Central Raya E2 no 1",
     {"person_name": "Putri Ayu", "birth_date": "02-03-2015", "address": "Perum Central Raya E2 no 1"}),
    ("daftar buat anak saya Putri Ayu#02-03-2015#Perum Central Raya E2 no 1",
     {"person_name": "Putri Ayu", "birth_date": "02-03-2015", "address": "Perum Central Raya E2 no 1"}),
    ("Selamat pagi kak\nBudi Santoso#17-08-1990#Jl. Sudirman No. 5",
     {"person_name": "Budi Santoso", "birth_date": "17-08-1990", "address": "Jl. Sudirman No. 5"}),
    ("Assalamualaikum, sy ingin mendaftarkan putri sy: Putri Ayu#02-03-2015#Perum Central Raya E2 no 1",
     {"person_name": "Putri Ayu", "birth_date": "02-03-2015", "address": "Perum Central Raya E2 no 1"}),
    ("halo min, mau daftar paspor baru atas nama Budi Santoso#17-08-1990#Jl. Sudirman No. 5 Batam",
     {"person_name": "Budi Santoso", "birth_date": "17-08-1990", "address": "Jl. Sudirman No. 5 Batam"}),
    ("Putri Ayu#02-03-2015#Perum Central Raya E2 no 1\nmakasih kak",
     {"person_name": "Putri Ayu", "birth_date": "02-03-2015", "address": "Perum Central Raya E2 no 1"}),
    ("Budi Santoso#17-08-1990#Jl. Sudirman No. 5, terima kasih",
     {"person_name": "Budi Santoso", "birth_date": "17-08-1990", "address": "Jl. Sudirman No. 5"}),
    ("mau perpanjang paspor utk anak sy Rizky#11-11-2011#Tiban Indah blok A no 3 ya kak",
     {"person_name": "Rizky", "birth_date": "11-11-2011", "address": "Tiban Indah blok A no 3"}),
    ("tolong daftarkan istri saya Siti Aminah#2171054508959001#5/8/1995#Sekupang untuk istri saya",
     {"person_name": "Siti Aminah", "nik": "2171054508959001", "birth_date": "5/8/1995", "address": "Sekupang"}),
    # A name that starts like chat is still a name: "Anak" without "saya" is a Balinese name part.
    ("Anak Agung Gede Putra#17-08-1990#Jl. Sudirman No. 5",
     {"person_name": "Anak Agung Gede Putra", "birth_date": "17-08-1990", "address": "Jl. Sudirman No. 5"}),
    ("Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12 RT 01/RW 02 Tiban Baru",
     {"person_name": "Budi Santoso", "birth_date": "17-08-1990",
      "address": "Jl. Raya Sekupang No. 12 RT 01/RW 02 Tiban Baru"}),
]


@pytest.mark.parametrize("text, expected", AROUND)
def test_chat_around_the_fields_is_not_part_of_the_name_or_the_address(text, expected):
    fields = parse_law_message(text)
    assert fields is not None
    assert {f.entity: f.value for f in fields} == expected
    assert all(text[f.start:f.end] == f.value for f in fields)
