"""The NLU training data keeps its contract with the domain, the offices and the actions."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest
import yaml
from rasa.shared.nlu.training_data.loading import load_data

ROOT = Path(__file__).resolve().parents[2]
MIN_EXAMPLES_PER_INTENT = 40


@pytest.fixture(scope="module")
def training_data():
    return load_data(str(ROOT / "data" / "nlu"))


@pytest.fixture(scope="module")
def domain():
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def canonical(training_data, entity: dict) -> str:
    value = str(entity["value"])
    return training_data.entity_synonyms.get(value.lower(), value)


def test_every_domain_intent_has_enough_varied_examples(training_data, domain):
    counts = collections.Counter(example.get("intent") for example in training_data.intent_examples)
    thin = {intent: counts[intent] for intent in domain["intents"] if counts[intent] < MIN_EXAMPLES_PER_INTENT}

    assert thin == {}
    assert set(counts) <= set(domain["intents"])


def test_no_example_is_labelled_with_two_intents(training_data):
    intents_by_text = collections.defaultdict(set)
    for example in training_data.intent_examples:
        intents_by_text[example.get("text").strip().lower()].add(example.get("intent"))

    assert {text: i for text, i in intents_by_text.items() if len(i) > 1} == {}


def test_annotated_entities_are_domain_entities(training_data, domain):
    used = {e["entity"] for example in training_data.entity_examples for e in example.get("entities")}

    assert used <= set(domain["entities"])


def test_office_values_map_to_configured_office_ids(training_data):
    offices = yaml.safe_load((ROOT / "config" / "offices.yml").read_text(encoding="utf-8"))["offices"]
    values = {
        canonical(training_data, e)
        for example in training_data.entity_examples
        for e in example.get("entities")
        if e["entity"] == "office"
    }

    assert values <= set(offices)


def test_application_types_map_to_new_or_renewal(training_data):
    values = {
        canonical(training_data, e)
        for example in training_data.entity_examples
        for e in example.get("entities")
        if e["entity"] == "application_type"
    }

    assert values == {"new", "renewal"}


def day_and_month(written: str) -> tuple[int, int]:
    """Day and month of an example birth date: "17-08-1990", "5/8/95" or "17 Agustus 1990"."""
    numeric = re.match(r"(\d{1,2})\D(\d{1,2})\D", written)
    if numeric:
        return int(numeric.group(1)), int(numeric.group(2))
    day, month_name = re.match(r"(\d{1,2})\s*([A-Za-z]+)", written).groups()
    return int(day), MONTHS[month_name.lower()[:3]]


MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "mei", "jun", "jul", "agu", "sep",
                                      "okt", "nov", "des"], start=1)} | {"agt": 8, "ags": 8, "nop": 11}


def test_example_niks_are_fictional_and_match_the_birth_date_beside_them(training_data):
    # Serial numbers 9xxx keep the examples clearly fictional; a woman's NIK day is day + 40.
    checked = 0
    for example in training_data.entity_examples:
        entities = {e["entity"]: e for e in example.get("entities")}
        if "nik" not in entities:
            continue
        nik = re.sub(r"\D", "", str(entities["nik"]["value"]))
        assert len(nik) == 16 and nik[12] == "9", example.get("text")
        if "birth_date" in entities:
            assert day_and_month(str(entities["birth_date"]["value"])) == (int(nik[6:8]) % 40, int(nik[8:10]))
            checked += 1
    assert checked >= 3


# --- out-of-scope lookup tables and chat regexes (features for the intent classifier)

IN_SCOPE_WORDS_KEPT_OUT = {"ktp", "kk", "akta", "ijazah", "buku nikah", "polsek", "polisi", "kbri", "konsulat",
                           "disnaker", "kemenag", "bandara", "pelabuhan", "bus", "grab", "gojek", "angkot", "taksi",
                           "tiket", "hujan", "banjir", "visa", "paspor", "imigrasi", "antrean"}
# In-scope examples a lookup entry legitimately occurs in; anything else is a lexicon mistake.
KNOWN_IN_SCOPE_MATCHES = {"paspor ketinggalan di hotel, hilang"}


@pytest.fixture(scope="module")
def lookup_patterns(training_data):
    from rasa.nlu.utils.pattern_utils import extract_patterns

    return {p["name"]: re.compile(p["pattern"], re.IGNORECASE) for p in extract_patterns(training_data)}


def test_out_of_scope_lookups_leave_the_passport_vocabulary_alone(training_data, lookup_patterns):
    tables = {t["name"]: t["elements"] for t in training_data.lookup_tables}
    entries = {e.lower() for elements in tables.values() for e in elements}

    assert set(tables) == {"other_agency", "travel_booking", "commerce", "small_talk"}
    assert IN_SCOPE_WORDS_KEPT_OUT.isdisjoint(entries)
    matched_in_scope = {
        example.get("text")
        for example in training_data.intent_examples
        if example.get("intent") != "out_of_scope"
        and any(lookup_patterns[name].search(example.get("text")) for name in tables)
    }
    assert matched_in_scope <= KNOWN_IN_SCOPE_MATCHES


def test_out_of_scope_lookups_recognise_other_agencies_and_topics(lookup_patterns):
    assert lookup_patterns["other_agency"].search("Samsat buka jam berapa")
    assert lookup_patterns["other_agency"].search("syarat bikin skck apa aja")
    assert lookup_patterns["other_agency"].search("cara urus visa kerja malaysia")
    assert not lookup_patterns["other_agency"].search("halaman visa di paspor saya sobek")
    assert not lookup_patterns["other_agency"].search("ktp harus asli?")
    assert lookup_patterns["travel_booking"].search("jadwal ferry ke bintan")
    assert not lookup_patterns["travel_booking"].search("naik bus ke kantor imigrasi")
    assert lookup_patterns["commerce"].search("beli pulsa 50rb")
    assert lookup_patterns["small_talk"].search("cuaca besok gimana")


@pytest.mark.parametrize(
    ("text", "interjection", "ping"),
    [
        ("wkwkwk", True, False),
        ("hahaha", True, False),
        ("hehe", True, False),
        ("Hmm...", True, False),
        ("xixixi", True, False),
        ("he'em", False, False),  # affirm
        ("hooh", False, False),
        ("hmm iya", False, False),
        ("P", False, True),
        ("pp", False, True),
        ("tes tes", False, True),
        ("test 123", False, True),
        ("paspor", False, False),
        ("tes kesehatan perlu?", False, False),
    ],
)
def test_chat_interjections_and_pings(lookup_patterns, text, interjection, ping):
    assert bool(lookup_patterns["chat_interjection"].search(text)) is interjection
    assert bool(lookup_patterns["chat_ping"].search(text)) is ping


def test_each_regex_name_has_one_pattern(training_data):
    # Rasa 3.6's RegexFeaturizer resets a token's flag for a name at each of that name's patterns,
    # so only the last pattern of a name reaches the CRF's `pattern` feature: write alternatives
    # as one alternation (this once hid every 16-digit NIK and dd-mm-yyyy date from the CRF).
    names = [regex["name"] for regex in training_data.regex_features]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


@pytest.mark.parametrize(
    ("text", "name", "matches"),
    [
        ("3171012807829004", "nik", True),
        ("2171 0601 0101 9011", "nik", True),
        ("31-12-1968", "numeric_date", True),
        ("05011992", "numeric_date", True),
        ("selamat jalan kak", "farewell", True),
        ("mari pak, saya duluan", "farewell", True),
        ("selamat pagi", "farewell", False),
        ("mari saya bantu", "farewell", False),
        ("kamu suka kucing?", "personal_question_to_bot", True),
        ("km udah makan blm", "personal_question_to_bot", True),
        ("kamu bot?", "personal_question_to_bot", False),
        ("saya suka paspor yang baru", "personal_question_to_bot", False),
        ("mau bicara sama petugas", "wants_a_person", True),
        ("i need a real person", "wants_a_person", True),
        ("saya perlu dibantu orang, bukan bot", "wants_a_person", True),
        ("daftar 3 orang sekeluarga bisa min?", "wants_a_person", False),
        ("call center imigrasi berapa", "contact_request", True),
        ("minta nomor whatsapp kantor imigrasinya", "contact_request", True),
        ("nomor antrean saya berapa?", "contact_request", False),
        ("apakah saya berbicara dengan manusia", "asks_if_bot", True),
        ("ini admin asli?", "asks_if_bot", True),
        ("saya perlu dibantu orang, bukan bot", "asks_if_bot", False),
        ("apa saja dokumen yang wajib asli", "asks_if_bot", False),
    ],
)
def test_regex_features(lookup_patterns, text, name, matches):
    assert bool(lookup_patterns[name].search(text)) is matches
