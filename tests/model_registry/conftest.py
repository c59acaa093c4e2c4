"""Real models for the registry's tests, trained once per test session on a reduced copy of the
training data (the first examples of each intent), through the registry itself: a base model and a
deliberately worse candidate without any cancel_booking example. Every other test registers copies
of these files, with their real evaluations, in a registry of its own."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from antrean.model_registry import ModelRecord, ModelRegistry
from antrean.model_registry.inputs import TrainingInputs
from antrean.runtime.clock import system_clock
from antrean.runtime.db import REPO_ROOT, make_engine, upgrade_database

EXAMPLES_PER_INTENT = 15
REMOVED_INTENT = "cancel_booking"
INBOX_EXAMPLES = """\
version: "3.1"
nlu:
- intent: ask_hours
  examples: |
    - kanim buka jam brp ya min hari ini
- intent: ask_fee
  examples: |
    - bayar paspornya brp kak skrg
"""


def reduced_inputs(folder: Path, per_intent: int = EXAMPLES_PER_INTENT, drop: tuple[str, ...] = ()) -> TrainingInputs:
    """data/ with at most `per_intent` examples in each intent block and the intents in `drop`
    removed; regexes, lookups, synonyms, rules and stories as they are; plus two examples as if
    exported from the NLU inbox (data/nlu/reviewed.yml)."""
    shutil.copytree(REPO_ROOT / "data", folder / "data")
    for path in (folder / "data" / "nlu").glob("*.yml"):
        kept, block, dropped, count = [], None, False, 0
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("- "):
                block = line.split(":", 1)[0][2:]
                dropped = block == "intent" and line.split(":", 1)[1].strip() in drop
                count = 0
            if dropped:
                continue
            if block == "intent" and line.startswith("    - "):
                count += 1
                if count > per_intent:
                    continue
            kept.append(line)
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    (folder / "data" / "nlu" / "reviewed.yml").write_text(INBOX_EXAMPLES, encoding="utf-8")
    shutil.copy(REPO_ROOT / "config.yml", folder / "config.yml")
    shutil.copy(REPO_ROOT / "domain.yml", folder / "domain.yml")
    return TrainingInputs(folder / "data", folder / "config.yml", folder / "domain.yml")


def sqlite_registry(folder: Path, clock=system_clock, **options) -> ModelRegistry:
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'antrean.sqlite3'}"
    upgrade_database(url)
    return ModelRegistry(make_engine(url), folder / "models", clock, **options)


@dataclass(frozen=True)
class TrainedModels:
    registry: ModelRegistry
    base: ModelRecord
    worse: ModelRecord


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> TrainedModels:
    root = tmp_path_factory.mktemp("trained")
    registry = sqlite_registry(root / "registry")
    base = registry.train(by="test:base", inputs=reduced_inputs(root / "base"))
    worse = registry.train(by="test:worse", inputs=reduced_inputs(root / "worse", drop=(REMOVED_INTENT,)))
    yield TrainedModels(registry, base, worse)
    registry.engine.dispose()


@pytest.fixture
def registry(sqlite_url, tmp_path):
    registry = ModelRegistry(make_engine(sqlite_url), tmp_path / "models")
    yield registry
    registry.engine.dispose()


def copy_of(registry: ModelRegistry, record: ModelRecord, by: str = "test") -> ModelRecord:
    """A trained model kept again in another registry, with its real evaluation."""
    return registry.register(record.path, by=by, inputs=record.manifest["inputs"], evaluation=record.evaluation,
                             training_seconds=record.training_seconds)
