"""The figures, the gate and the comparison as pure functions: evaluations built by the
registry's own `summarise` from given predictions (no model needed to check the arithmetic)."""

from __future__ import annotations

import pytest

from antrean.model_registry.compare import compare, new_inbox_examples, reviewed_corrections
from antrean.model_registry.evaluation import (
    Prediction,
    StoryResult,
    entity_scores,
    intent_scores,
    percentile,
    summarise,
)
from antrean.model_registry.gate import GateSettings, gate
from antrean.model_registry.inputs import plain_example
from antrean.model_registry.testset import Entity, TestExample
from antrean.runtime.settings import Settings, SettingsError

EXAMPLES = [
    TestExample("halo min", "greet", ()),
    TestExample("pagi kak", "greet", ()),
    TestExample("mau batal", "cancel_booking", ()),
    TestExample("batalin yg besok", "cancel_booking", (Entity("visit_date", 11, 16),)),
    TestExample("jam buka brp", "ask_hours", ()),
    TestExample("Budi#17-08-1990#Jl. Mawar 1", "register",
                (Entity("person_name", 0, 4), Entity("birth_date", 5, 15), Entity("address", 16, 27))),
]
STORY_FILE = "tests/test_stories.yml"


def predictions(*intents: str, entities=None, confidence: float = 0.9) -> list[Prediction]:
    entities = entities or [tuple(e.key() for e in example.entities) for example in EXAMPLES]
    return [Prediction(intent, confidence, tuple(found), 0.01 * (n + 1))
            for n, (intent, found) in enumerate(zip(intents, entities, strict=True))]


GOOD = ("greet", "greet", "cancel_booking", "cancel_booking", "ask_hours", "register")
STORIES_OK = [StoryResult("cancel a booking", STORY_FILE, True), StoryResult("greet", STORY_FILE, True)]


def evaluation(intents=GOOD, entities=None, stories=STORIES_OK) -> dict:
    return summarise(EXAMPLES, predictions(*intents, entities=entities), stories, size_bytes=1_500_000,
                     load_seconds=1.5)


def test_intent_figures():
    scores = intent_scores(["a", "a", "b", "b"], ["a", "b", "b", "nlu_fallback"])
    assert scores["accuracy"] == 0.5
    assert scores["per_intent"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert scores["per_intent"]["b"]["precision"] == 0.5 and scores["per_intent"]["b"]["recall"] == 0.5
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 2)  # over the expected intents only
    labels = scores["confusion"]["labels"]
    assert labels == ["a", "b", "nlu_fallback"]
    assert scores["confusion"]["matrix"][labels.index("b")][labels.index("nlu_fallback")] == 1


def test_entities_count_only_with_the_exact_type_and_span():
    gold = [[("nik", 9, 25)], [("address", 0, 10), ("person_name", 11, 15)]]
    found = [[("nik", 9, 24)], [("address", 0, 10), ("office", 11, 15)]]
    scores = entity_scores(gold, found)
    assert scores["per_type"]["nik"]["f1"] == 0.0  # one character short is a miss
    assert scores["per_type"]["address"]["f1"] == 1.0
    assert scores["per_type"]["office"]["precision"] == 0.0 and scores["per_type"]["office"]["support"] == 0
    assert scores["precision"] == pytest.approx(1 / 3) and scores["recall"] == pytest.approx(1 / 3)
    assert scores["macro_f1"] == pytest.approx(1 / 3)  # nik 0, address 1, person_name 0 (gold types only)


def test_law_rate_fallback_rate_latency_and_stories():
    law_misread = [tuple(e.key() for e in example.entities) for example in EXAMPLES]
    law_misread[5] = (("person_name", 0, 4), ("address", 16, 27))
    result = evaluation(intents=("greet", "nlu_fallback", "cancel_booking", "cancel_booking", "ask_hours",
                                 "register"), entities=law_misread,
                        stories=[StoryResult("cancel a booking", STORY_FILE, False, "expected action x")])
    assert result["law"] == {"examples": 1, "parsed": 0, "rate": 0.0, "failures": ["Budi#17-08-1990#Jl. Mawar 1"]}
    assert result["fallback_rate"] == pytest.approx(1 / 6)
    assert result["latency_ms"] == {"p50": pytest.approx(30.0), "p95": pytest.approx(60.0)}
    assert result["stories"]["passed"] == 0 and result["stories"]["failed"] == 1
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile([], 95) == 0.0


def test_a_candidate_as_good_as_live_passes():
    verdict = gate("B", evaluation(), "A", evaluation())
    assert verdict.passed and verdict.reasons == ()


def test_the_gate_lists_every_reason():
    live = evaluation()
    broken = ("greet", "greet", "greet", "greet", "ask_hours", "register")  # cancel_booking never recognised
    no_law = [tuple(e.key() for e in example.entities) for example in EXAMPLES]
    no_law[5] = ()
    candidate = evaluation(intents=broken, entities=no_law,
                           stories=[StoryResult("cancel a booking", STORY_FILE, False, "expected intent x"),
                                    StoryResult("greet", STORY_FILE, True)])
    verdict = gate("B", candidate, "A", live)
    assert not verdict.passed
    codes = [reason.code for reason in verdict.reasons]
    assert codes.count("story_broken") == 1 and "law_parse_rate" in codes
    assert "intent_macro_f1" in codes and "entity_f1" in codes
    assert {r.facts["intent"] for r in verdict.reasons if r.code == "intent_f1"} == {"cancel_booking", "greet"}
    assert "cancel a booking" in verdict.summary() and "ANTREAN_GATE_INTENT_F1_DROP" in verdict.summary()


def test_tolerances_come_from_the_environment():
    environ = {"ANTREAN_GATE_INTENT_F1_DROP": "0.5", "ANTREAN_GATE_ENTITY_F1_TOLERANCE": ""}
    assert GateSettings.from_settings(Settings.from_env(environ).models) == GateSettings(intent_f1_drop=0.5)
    assert GateSettings.from_settings(Settings.from_env({}).models) == GateSettings()
    with pytest.raises(SettingsError, match="ANTREAN_GATE_INTENT_F1_TOLERANCE must be a number from 0 to 1"):
        Settings.from_env({"ANTREAN_GATE_INTENT_F1_TOLERANCE": "banyak"})
    with pytest.raises(SettingsError, match="ANTREAN_GATE_INTENT_F1_DROP"):
        Settings.from_env({"ANTREAN_GATE_INTENT_F1_DROP": "1.5"})
    # One intent dropping by 0.33 passes with a tolerance of 0.5, fails with the default 0.10.
    worse = evaluation(intents=("greet", "ask_hours", "cancel_booking", "cancel_booking", "ask_hours", "register"))
    lenient = GateSettings(intent_f1_tolerance=1, entity_f1_tolerance=1, intent_f1_drop=0.5)
    assert gate("B", worse, "A", evaluation(), lenient).passed
    assert not gate("B", worse, "A", evaluation()).passed


def test_without_a_live_model_only_the_law_rule_applies():
    assert gate("A", evaluation(intents=("deny",) * 5 + ("register",)), None, None).passed
    assert not gate("A", evaluation(intents=("deny",) * 6), None, None).passed


def test_the_comparison_shows_what_changed(tmp_path):
    a = evaluation()
    b = evaluation(intents=("greet", "greet", "greet", "cancel_booking", "greet", "register"),
                   stories=[StoryResult("cancel a booking", STORY_FILE, False, "expected intent cancel_booking"),
                            StoryResult("greet", STORY_FILE, True)])
    comparison = compare("A", a, "B", b)
    assert comparison.same_test_set
    macro = next(f for f in comparison.figures if f["name"] == "intent_macro_f1")
    assert macro["change"] == pytest.approx(macro["b"] - macro["a"]) and macro["change"] < 0
    assert [row["intent"] for row in comparison.intents][:2] in (["ask_hours", "cancel_booking"],
                                                                 ["cancel_booking", "ask_hours"])
    assert comparison.intents[-1]["change"] >= 0
    assert {m["text"] for m in comparison.broken} == {"mau batal", "jam buka brp"}
    broken = next(m for m in comparison.broken if m["text"] == "mau batal")
    assert (broken["a"], broken["b"], broken["a_confidence"]) == ("cancel_booking", "greet", 0.9)
    assert comparison.stories == [{"story": "cancel a booking", "file": STORY_FILE, "a": True, "b": False,
                                   "failure": "expected intent cancel_booking"}]
    labels = comparison.confusion["labels"]
    assert comparison.confusion["difference"][labels.index("cancel_booking")][labels.index("greet")] == 1
    report = comparison.write(tmp_path)
    assert report.name == "A-vs-B.md"
    text = report.read_text()
    assert "| broken | mau batal | cancel_booking | cancel_booking (0.90) | greet (0.90) |" in text
    assert "![confusion matrix difference](A-vs-B-confusion.png)" in text
    assert (tmp_path / "A-vs-B-confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reviewed_corrections_are_the_inbox_examples_b_has_and_a_had_not(tmp_path):
    earlier = [{"text": "kanim buka jam brp", "intent": "ask_hours", "entities": []}]
    moved = {"text": "Kanim buka jam BRP!", "intent": "ask_fee", "entities": []}  # relabelled: new
    new = [{"text": "piro regane paspor", "intent": "ask_fee", "entities": []},
           {"text": "batal yg besok", "intent": "cancel_booking", "entities": [["visit_date", 9, 14]]}]
    b_inputs = {"inbox_examples": [*earlier, moved, *new, {**earlier[0], "text": "Kanim buka jam brp"}]}
    found, basis = new_inbox_examples({"inbox_examples": earlier}, b_inputs)
    assert basis == "new" and found == [moved, *new]
    assert new_inbox_examples({}, b_inputs) == (b_inputs["inbox_examples"][:4], "all")
    assert new_inbox_examples({"inbox_examples": earlier}, {}) == ([], "unknown")

    def parse(intent, entities=(), confidence=0.5):
        return {"intent": intent, "confidence": confidence, "entities": [list(e) for e in entities]}

    date = [("visit_date", 9, 14)]
    rows = reviewed_corrections(
        [moved, *new],
        [parse("ask_fee", confidence=0.8), parse("ask_hours", confidence=0.41), parse("cancel_booking", date)],
        [parse("ask_hours"), parse("ask_fee", confidence=0.93), parse("cancel_booking")])  # B misses the date
    assert [(r["status"], r["text"]) for r in rows] == [
        ("broken", moved["text"]), ("broken", new[1]["text"]), ("fixed", new[0]["text"])]
    fixed = rows[2]
    assert (fixed["a"], fixed["a_confidence"], fixed["b"], fixed["b_confidence"]) == ("ask_hours", 0.41, "ask_fee",
                                                                                       0.93)
    still = reviewed_corrections(new[:1], [parse("greet")], [parse("ask_hours")])
    assert still[0]["status"] == "still_wrong"
    right = reviewed_corrections(new[:1], [parse("ask_fee")], [parse("ask_fee")])
    assert right[0]["status"] == "right"

    comparison = compare("A", evaluation(), "B", evaluation(), rows, basis)
    assert comparison.corrections_with("fixed") == [fixed]
    text = comparison.write(tmp_path).read_text()
    assert "## Reviewed corrections: 1 fixed, 0 still wrong, 2 broken, 0 right in both" in text
    assert "| fixed | piro regane paspor | ask_fee | ask_hours (0.41) | ask_fee (0.93) |" in text
    assert "| broken | batal yg besok | cancel_booking; visit_date: 'besok' | cancel_booking (0.50); " \
           "visit_date: 'besok' | cancel_booking (0.50); — |" in text
    assert "none to compare" in compare("A", evaluation(), "B", evaluation(), [], "unknown").markdown()


def test_the_manifest_lists_the_inbox_examples_as_rasa_reads_them():
    assert plain_example("nik [3171012345678901](nik) a.n. [Budi]{\"entity\": \"person_name\"}") == (
        "nik 3171012345678901 a.n. Budi", [("nik", 4, 20), ("person_name", 26, 30)])
    assert plain_example("[besok](visit_date:tomorrow) ya") == ("besok ya", [("visit_date", 0, 5)])
    assert plain_example("halo [kak]") == ("halo [kak]", [])
