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
