"""`python -m antrean nlu export`: the accepted examples of the NLU inbox as data/nlu/reviewed.yml,
in Rasa 3.x training-data format, with personal data replaced by placeholders (antrean.protection.scrubbing).

The file is derived whole from the database each time (the database is the record; the file is
derived), examples already in the other data files are left out, so `rasa data validate` sees no
duplicate, and only intents and entities of domain.yml are written. A file is written only when its
text changes: `make train` retrains when a training file's time stamp moves, so an export that
found nothing new must leave the files alone.

With `test_path` (the CLI's default: tests/nlu_test_set/reviewed.yml) a fixed share of the examples
is held out for the test set instead: those whose normalised text, as accepted, hashes to 0 modulo
5 (antrean.model_registry.testset.held_out_for_testing). An example that is already a test example
is never written to the training data."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from antrean.model_registry.testset import held_out_for_testing
from antrean.protection.scrubbing import Placeholders, Span, scrub
from antrean.training.data import NLU_DIR, REVIEWED_FILE, Domain, load_domain, normalise, training_examples
from antrean.training.nlu_inbox import accepted_examples

HEADER = """\
# Examples confirmed by reviewers in the staff console's NLU inbox, written by
# `python -m antrean nlu export` — do not edit by hand (the next export overwrites it).
# NIKs, phone numbers, addresses and names are placeholders, not the applicants' data.
version: "3.1"
"""
TEST_HEADER = """\
# The NLU inbox's examples held out for testing (antrean/model_registry/testset.py: the SHA-256 of
# the normalised text is 0 modulo 5), written by `python -m antrean nlu export` — do not edit by
# hand. No model is trained on them. NIKs, phone numbers, addresses and names are placeholders.
version: "3.1"
"""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    examples: int
    intents: int
    skipped: int  # accepted, but already in the other training files or repeated after scrubbing
    test_examples: int = 0  # held out for the test set (written to test_path)
    test_path: Path | None = None
    changed: bool = True  # False: the files already said exactly this and were not touched


def annotate(text: str, spans: list[Span]) -> str:
    """Rasa's inline markup: [value](entity). Brackets typed by the applicant become parentheses
    so that they cannot be read as markup; runs of spaces become one."""
    def plain(part: str) -> str:
        return part.replace("[", "(").replace("]", ")")

    pieces, position = [], 0
    for span in sorted(spans, key=lambda s: s.start):
        pieces += [plain(text[position:span.start]), f"[{plain(text[span.start:span.end]).strip()}]({span.entity})"]
        position = span.end
    pieces.append(plain(text[position:]))
    return " ".join("".join(pieces).split())


def render(examples: list[tuple[str, str]], header: str = HEADER) -> str:
    """YAML text for (intent, annotated example) pairs, intents in order of first appearance."""
    by_intent: dict[str, list[str]] = {}
    for intent, example in examples:
        by_intent.setdefault(intent, []).append(example)
    if not by_intent:
        return header + "\nnlu: []\n"
    lines = [header, "nlu:"]
    for intent, items in by_intent.items():
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {item}" for item in items]
    return "\n".join(lines) + "\n"


def build(engine: Engine, domain: Domain, known: set[str],
          hold_out=None) -> tuple[list[tuple[str, str]], int, list[tuple[str, str]]]:
    """(training examples, skipped, held-out test examples); `hold_out(text)` decides on the text as
    accepted (None: nothing is held out)."""
    placeholders = Placeholders()
    seen: set[str] = set(known)
    examples, skipped, held_out = [], 0, []
    for accepted in accepted_examples(engine):
        if accepted["intent"] not in domain.intents:
            skipped += 1
            continue
        spans = [Span(int(e["start"]), int(e["end"]), str(e["entity"])) for e in accepted["entities"]
                 if e.get("entity") in domain.entities]
        text = " ".join(accepted["text"].split("\n"))  # one example per line
        clean, moved = scrub(text, spans, placeholders)
        key = normalise(clean)
        if not key or key in seen:
            skipped += 1
            continue
        seen.add(key)
        target = held_out if hold_out is not None and hold_out(accepted["text"]) else examples
        target.append((accepted["intent"], annotate(clean, moved)))
    return examples, skipped, held_out


def export(engine: Engine, path: Path = REVIEWED_FILE, domain: Domain | None = None,
           data_dir: Path = NLU_DIR, test_path: Path | None = None) -> ExportResult:
    """Writes `path`; examples already in `data_dir`'s files (other than `path` itself) are left out.
    With `test_path`, the held-out share goes there, and the examples of the test set's other files
    (`test_path`'s folder: the hand-written test set) are left out of both."""
    path = Path(path)
    domain = domain or load_domain()
    others = set(training_examples(data_dir))
    replaced = Path(data_dir) / path.name
    if path.exists() and replaced.resolve() == path.resolve():
        others -= training_examples_of(path)  # the file being replaced does not count as known
    if test_path is not None:
        test_path = Path(test_path)
        tests = set(training_examples(test_path.parent)) if test_path.parent.is_dir() else set()
        if test_path.exists():
            tests -= training_examples_of(test_path)
        others |= tests
    examples, skipped, held_out = build(engine, domain, others, held_out_for_testing if test_path else None)
    changed = _write_if_changed(path, render(examples))
    if test_path is not None:
        changed = _write_if_changed(test_path, render(held_out, TEST_HEADER)) or changed
    return ExportResult(path, len(examples), len({intent for intent, _ in examples}), skipped, len(held_out),
                        test_path, changed)


def training_examples_of(path: Path) -> set[str]:
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name
        copy.write_bytes(path.read_bytes())
        return set(training_examples(Path(folder)))


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    _write_atomically(path, text)
    return True


def _write_atomically(path: Path, text: str) -> None:
    # A crash half-way must not leave Rasa a broken training file.
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".reviewed-", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)
