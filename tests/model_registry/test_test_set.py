"""The test set no model is trained on: disjoint from the training data, covering the domain, and
the export's rule that holds a fixed share of reviewed examples out for it."""

from __future__ import annotations

from datetime import datetime, timezone

import yaml

from antrean.model_registry.inputs import DATA_DIR, training_texts
from antrean.model_registry.testset import (
    HANDWRITTEN_FILE,
    TEST_SET_DIR,
    TEST_SHARE,
    held_out_for_testing,
    load_test_set,
    overlap,
)
from antrean.runtime.db import make_engine
from antrean.training import nlu_inbox
from antrean.training.data import load_domain, normalise
from antrean.training.export import export
from tests.console.reviewdata import add_conversation


def test_no_test_example_is_a_training_example():
    """Every file under data/ (Rasa trains on all of it) against every file of the test set."""
    examples = load_test_set(TEST_SET_DIR)
    assert len(examples) >= 100
    assert overlap(examples, training_texts(DATA_DIR)) == []


def test_the_test_set_lives_outside_the_training_data():
    assert not TEST_SET_DIR.resolve().is_relative_to(DATA_DIR.resolve())


def test_the_handwritten_set_covers_every_intent_and_entity_of_the_domain():
    domain = load_domain()
    examples = load_test_set(TEST_SET_DIR)
    per_intent = {intent: sum(1 for e in examples if e.intent == intent) for intent in domain.intents}
    assert min(per_intent.values()) >= 5, per_intent
    assert {e.entity for example in examples for e in example.entities} == set(domain.entities)
    law = [e for e in examples if e.is_law]
    assert len(law) >= 6 and {"register", "cancel_booking"} <= {e.intent for e in law}
    # Spans point at the text they annotate (Rasa's reader strips the markup).
    for example in examples:
        for entity in example.entities:
            assert example.text[entity.start:entity.end].strip() == example.text[entity.start:entity.end] != ""


def test_overlap_finds_a_test_example_in_the_training_data_whatever_its_spelling():
    examples = load_test_set(TEST_SET_DIR)
    training = {normalise("  MIN, sy mau batalin ANTRIAN!! "): "cancel_booking", "halo": "greet"}
    assert overlap(examples, training) == ["min sy mau batalin antrian"]


def test_the_held_out_share_is_fixed_by_the_text_alone():
    texts = [f"contoh pesan nomor {n}" for n in range(500)]
    held = [t for t in texts if held_out_for_testing(t)]
    assert 0.12 < len(held) / len(texts) < 0.28  # one in TEST_SHARE = 5, give or take chance
    assert TEST_SHARE == 5
    # Spelling variants of one text are one example: same decision.
    assert all(held_out_for_testing(t.upper() + " !!") == held_out_for_testing(t) for t in texts[:50])


def _accept(engine, messages: list[tuple[str, str]]) -> None:
    domain = load_domain()
    ids = add_conversation(engine, messages=[(text, intent, 0.4) for text, intent in messages])
    for message_id, (_, intent) in zip(ids, messages, strict=True):
        nlu_inbox.accept(engine, domain, message_id, intent, [], "reviewer", datetime(2026, 12, 1, tzinfo=timezone.utc))


def _texts(path) -> set[str]:
    document = yaml.safe_load(path.read_text()) or {}
    return {normalise(line[2:]) for item in document.get("nlu") or []
            for line in item["examples"].splitlines() if line.startswith("- ")}


def test_the_export_writes_the_held_out_share_to_the_test_set_and_never_trains_on_a_test_example(sqlite_url,
                                                                                                tmp_path):
    engine = make_engine(sqlite_url)
    handwritten = load_test_set(TEST_SET_DIR)
    already_a_test = next(e for e in handwritten if not e.is_law and e.intent == "ask_hours")
    messages = [(f"jam buka kantor imigrasi hari ke {n} gimana min", "ask_hours") for n in range(30)]
    messages.append((already_a_test.text, "ask_hours"))
    _accept(engine, messages)
    nlu, tests = tmp_path / "nlu", tmp_path / "nlu_test_set"
    nlu.mkdir()
    tests.mkdir()
    (tests / HANDWRITTEN_FILE.name).write_bytes(HANDWRITTEN_FILE.read_bytes())
    result = export(engine, nlu / "reviewed.yml", data_dir=nlu, test_path=tests / "reviewed.yml")
    engine.dispose()

    expected_held_out = {normalise(text) for text, _ in messages[:-1] if held_out_for_testing(text)}
    assert expected_held_out and result.test_examples == len(expected_held_out)
    assert _texts(tests / "reviewed.yml") == expected_held_out
    trained = _texts(nlu / "reviewed.yml")
    assert trained == {normalise(text) for text, _ in messages[:-1]} - expected_held_out
    assert normalise(already_a_test.text) not in trained | expected_held_out  # a test example already
    assert result.skipped == 1
    # What the export wrote keeps the rule: the test set and the training data stay disjoint.
    assert overlap(load_test_set(tests), training_texts(nlu)) == []
