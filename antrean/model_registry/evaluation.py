"""A model's evaluation on the NLU test set and the conversation tests; stored with the model.

Figures (all computed here from the model's own parses, so every model is measured the same way):
- intents: accuracy, macro-F1 over the test set's intents, precision/recall/F1 per intent, the
  confusion matrix (gold × predicted, `nlu_fallback` included);
- entities: precision/recall/F1 per type and overall (micro, plus macro over types), an entity
  counting as found only with the exact type, start and end;
- LAW `#` parse rate: of the test messages containing `#`, the share whose intent and LAW fields
  (person_name, birth_date, address, nik, visit_date: type and exact span) are all right;
- fallback rate: the share of test messages answered with `nlu_fallback`;
- conversation tests: every story of tests/test_stories.yml and tests/reviewed_stories/*.yml,
  passed or failed. Unlike `make test-stories` (dialogue only, intents taken from the story), the
  user's words are parsed by the model, because a retrained NLU model is what changes: a story fails
  on the first wrong intent or wrong action (the dialogue then goes on with the story's intent, as
  in Rasa's own end-to-end test);
- parse latency p50/p95 (one message at a time, after a warm-up), model size and load time.

`evaluate_model` loads Rasa (lazily) and runs its own event loop: call it from a plain thread or
process, not from inside a running asyncio loop."""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from antrean.model_registry.testset import TestExample, test_set_fingerprint
from antrean.runtime.db import REPO_ROOT

FALLBACK_INTENT = "nlu_fallback"
LAW_ENTITY_TYPES = frozenset({"person_name", "birth_date", "address", "nik", "visit_date"})
EVALUATION_VERSION = 1
STORIES_FILE = REPO_ROOT / "tests" / "test_stories.yml"
REVIEWED_STORIES_DIR = REPO_ROOT / "tests" / "reviewed_stories"


def quiet_rasa_logs() -> None:
    """Rasa prints a structlog line per parsed message and per predicted action, and logs every
    loaded component: thousands of lines for one evaluation. Commands want the figures only."""
    import logging
    import os
    import warnings

    from rasa.utils.common import EXPECTED_WARNINGS
    from rasa.utils.log_utils import configure_structlog

    os.environ.setdefault("LOG_LEVEL", "WARNING")  # Rasa's progress bars follow it
    configure_structlog(logging.WARNING)
    for name in ("rasa", "absl", "tensorflow", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for category, pattern in EXPECTED_WARNINGS:  # what Rasa's own commands hide
        warnings.filterwarnings("ignore", message=f".*{pattern}", category=category)


def default_story_files() -> list[Path]:
    files = [STORIES_FILE] if STORIES_FILE.exists() else []
    return files + sorted(REVIEWED_STORIES_DIR.glob("*.yml"))


@dataclass(frozen=True)
class Prediction:
    intent: str
    confidence: float
    entities: tuple[tuple[str, int, int], ...]
    seconds: float


@dataclass(frozen=True)
class StoryResult:
    name: str
    file: str
    passed: bool
    failure: str | None = None


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def intent_scores(gold: Sequence[str], predicted: Sequence[str]) -> dict:
    """Accuracy, macro-F1 over the gold intents, per-intent P/R/F1 and the confusion matrix."""
    labels = sorted(set(gold))
    pairs = list(zip(gold, predicted, strict=True))
    per_intent = {}
    for label in labels:
        true_positive = sum(1 for g, p in pairs if g == label and p == label)
        predicted_as = sum(1 for _, p in pairs if p == label)
        support = sum(1 for g, _ in pairs if g == label)
        precision, recall = _ratio(true_positive, predicted_as), _ratio(true_positive, support)
        per_intent[label] = {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
                             "support": support}
    matrix_labels = sorted(set(gold) | set(predicted))
    counts = Counter(pairs)
    return {
        "accuracy": _ratio(sum(1 for g, p in pairs if g == p), len(pairs)),
        "macro_f1": statistics.fmean(v["f1"] for v in per_intent.values()) if per_intent else 0.0,
        "per_intent": per_intent,
        "confusion": {"labels": matrix_labels,
                      "matrix": [[counts[(g, p)] for p in matrix_labels] for g in matrix_labels]},
    }


def entity_scores(gold: Sequence[Iterable[tuple[str, int, int]]],
                  predicted: Sequence[Iterable[tuple[str, int, int]]]) -> dict:
    """Exact-span matching per message: (type, start, end) must all agree."""
    true_positive, gold_count, predicted_count = Counter(), Counter(), Counter()
    for gold_set, predicted_set in zip(gold, predicted, strict=True):
        gold_set, predicted_set = set(gold_set), set(predicted_set)
        for entity, _, _ in gold_set:
            gold_count[entity] += 1
        for entity, _, _ in predicted_set:
            predicted_count[entity] += 1
        for entity, _, _ in gold_set & predicted_set:
            true_positive[entity] += 1
    per_type = {}
    for entity in sorted(gold_count | predicted_count):
        precision = _ratio(true_positive[entity], predicted_count[entity])
        recall = _ratio(true_positive[entity], gold_count[entity])
        per_type[entity] = {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
                            "support": gold_count[entity]}
    precision = _ratio(sum(true_positive.values()), sum(predicted_count.values()))
    recall = _ratio(sum(true_positive.values()), sum(gold_count.values()))
    gold_types = [v["f1"] for k, v in per_type.items() if gold_count[k]]
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
            "macro_f1": statistics.fmean(gold_types) if gold_types else 0.0, "per_type": per_type}


def law_parse(examples: Sequence[TestExample], predictions: Sequence[Prediction]) -> dict:
    law = [(e, p) for e, p in zip(examples, predictions, strict=True) if e.is_law]
    failures = []
    for example, prediction in law:
        gold = {e.key() for e in example.entities if e.entity in LAW_ENTITY_TYPES}
        found = {e for e in prediction.entities if e[0] in LAW_ENTITY_TYPES}
        if prediction.intent != example.intent or gold != found:
            failures.append(example.text)
    return {"examples": len(law), "parsed": len(law) - len(failures),
            "rate": _ratio(len(law) - len(failures), len(law)) if law else 1.0, "failures": failures}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); no interpolation between two parses."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summarise(examples: Sequence[TestExample], predictions: Sequence[Prediction], stories: Sequence[StoryResult],
              *, size_bytes: int, load_seconds: float) -> dict:
    """The stored evaluation: every figure, and each message's prediction (for comparisons)."""
    latencies = [p.seconds * 1000 for p in predictions]
    return {
        "version": EVALUATION_VERSION,
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "test_set": {"fingerprint": test_set_fingerprint(list(examples)), "examples": len(examples),
                     "law_examples": sum(1 for e in examples if e.is_law)},
        "intent": intent_scores([e.intent for e in examples], [p.intent for p in predictions]),
        "entity": entity_scores([[x.key() for x in e.entities] for e in examples],
                                [p.entities for p in predictions]),
        "law": law_parse(examples, predictions),
        "fallback_rate": _ratio(sum(1 for p in predictions if p.intent == FALLBACK_INTENT), len(predictions)),
        "stories": {"passed": sum(1 for s in stories if s.passed), "failed": sum(1 for s in stories if not s.passed),
                    "results": [{"name": s.name, "file": s.file, "passed": s.passed, "failure": s.failure}
                                for s in stories]},
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)},
        "model": {"size_bytes": size_bytes, "load_seconds": load_seconds},
        "messages": [{"text": e.text, "intent": e.intent, "predicted": p.intent, "confidence": p.confidence,
                      "entities": sorted(list(x.key()) for x in e.entities),
                      "predicted_entities": sorted(list(x) for x in p.entities)}
                     for e, p in zip(examples, predictions, strict=True)],
    }


def evaluate_model(model_path: Path, examples: Sequence[TestExample], story_files: Sequence[Path]) -> dict:
    """Loads the model with Rasa's Agent and measures it (see the module's docstring)."""
    import asyncio

    from rasa.core.agent import Agent

    started = time.perf_counter()
    agent = Agent.load(str(model_path))
    load_seconds = time.perf_counter() - started

    async def measure():
        await agent.parse_message("halo")  # warm-up: first-call caches are not a parse's latency
        predictions = [await _parse(agent, example.text) for example in examples]
        stories = []
        for path in story_files:
            stories += await _run_stories(agent, Path(path))
        return predictions, stories

    predictions, stories = asyncio.run(measure())
    return summarise(examples, predictions, stories, size_bytes=Path(model_path).stat().st_size,
                     load_seconds=load_seconds)


def parse_messages(model_path: Path, texts: Sequence[str]) -> list[Prediction]:
    """The model's parse of each text (a comparison's reviewed corrections, which are not in the
    stored evaluation); loads the model like `evaluate_model`, with the same threading rule."""
    import asyncio

    from rasa.core.agent import Agent

    agent = Agent.load(str(model_path))

    async def parse_all():
        return [await _parse(agent, text) for text in texts]

    return asyncio.run(parse_all())


async def _parse(agent, text: str) -> Prediction:
    started = time.perf_counter()
    parsed = await agent.parse_message(text)
    seconds = time.perf_counter() - started
    intent = parsed.get("intent") or {}
    entities = tuple(sorted((e["entity"], int(e["start"]), int(e["end"])) for e in parsed.get("entities") or []
                            if "start" in e and "end" in e))
    return Prediction(intent.get("name") or FALLBACK_INTENT, float(intent.get("confidence") or 0.0), entities,
                      seconds)


async def _run_stories(agent, path: Path) -> list[StoryResult]:
    """Rasa's conversation-test machinery (story trackers, action prediction with form-rejection
    emulation), with each user message's words parsed by the model and its intent compared."""
    from rasa.core.test import _collect_action_executed_predictions, _create_data_generator
    from rasa.shared.core.events import ActionExecuted, UserUttered

    trackers = _create_data_generator(str(path), agent).generate_story_trackers()
    relative = path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else path.name
    results = []
    for tracker in trackers:
        failure = await _first_failure(agent, tracker, ActionExecuted, UserUttered,
                                       _collect_action_executed_predictions)
        results.append(StoryResult(tracker.sender_id, relative, failure is None, failure))
    return results


async def _first_failure(agent, tracker, action_executed, user_uttered, collect_action) -> str | None:
    from rasa.shared.core.trackers import DialogueStateTracker

    processor = agent.processor
    events = list(tracker.events)
    partial = DialogueStateTracker.from_events(tracker.sender_id, events[:1], agent.domain.slots,
                                               sender_source=tracker.sender_source)
    failure = None
    for event in events[1:]:
        if isinstance(event, action_executed):
            store, _, _ = await collect_action(processor, partial, event, False)
            if failure is None and store.check_prediction_target_mismatch():
                failure = (f"expected action {store.action_targets[0]}, "
                           f"predicted {store.action_predictions[0]}")
            continue
        if (failure is None and isinstance(event, user_uttered) and event.text
                and not event.text.startswith("/")):
            prediction = await _parse(agent, event.text)
            expected = (event.intent or {}).get("name")
            if expected and prediction.intent != expected:
                failure = (f"message {event.text!r}: expected intent {expected}, predicted "
                           f"{prediction.intent} ({prediction.confidence:.2f})")
        partial.update(event)
    return failure


def stories_by_name(evaluation: dict) -> dict[str, dict]:
    return {f"{s['file']}::{s['name']}": s for s in evaluation.get("stories", {}).get("results", [])}


def messages_by_text(evaluation: dict) -> dict[str, dict]:
    return {m["text"]: m for m in evaluation.get("messages", [])}


def headline(evaluation: dict) -> dict[str, float]:
    """The figures shown side by side in lists and comparisons."""
    stories = evaluation.get("stories", {})
    return {
        "intent_accuracy": evaluation["intent"]["accuracy"],
        "intent_macro_f1": evaluation["intent"]["macro_f1"],
        "entity_f1": evaluation["entity"]["f1"],
        "entity_macro_f1": evaluation["entity"]["macro_f1"],
        "law_parse_rate": evaluation["law"]["rate"],
        "fallback_rate": evaluation["fallback_rate"],
        "stories_passed": stories.get("passed", 0),
        "stories_failed": stories.get("failed", 0),
        "latency_p50_ms": evaluation["latency_ms"]["p50"],
        "latency_p95_ms": evaluation["latency_ms"]["p95"],
        "size_mb": evaluation["model"]["size_bytes"] / 1e6,
        "load_seconds": evaluation["model"]["load_seconds"],
    }
