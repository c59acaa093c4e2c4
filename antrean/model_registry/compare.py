"""Two models' evaluations side by side: `model compare A B` and `results/models/<A>-vs-<B>.md`.

A is the reference (usually the live model), B the candidate; every change is B − A. The report
holds every figure with its change, the per-intent table sorted by change (worst first), the test
messages whose predicted intent changed (fixed, broken, or another wrong answer; both predictions
with their confidences), the messages whose entities changed, the conversation tests whose outcome
changed, and the difference of the two confusion matrices as a picture (`<A>-vs-<B>-confusion.png`).

It also shows the **reviewed corrections**: the NLU inbox examples (data/nlu/reviewed.yml, which
`nlu export` writes) that B was trained on and A was not, i.e. those in B's manifest
(`inputs.inbox_examples`) whose text and intent are not among A's — the messages a reviewer
corrected since A was trained. They are not test data (B has seen them; the test set's figures stay
the fair measure), but they answer the maintainer's first question: did the new model learn what
the reviewers corrected, and did the old one get it wrong? Both models parse them at comparison
time (the predictions are then kept with each model's evaluation), and each is grouped: fixed (A
wrong, B right), still wrong, broken (A right, B wrong) or right in both; right means the intent
and every entity (type and exact span) as the reviewer accepted them. Only the new ones rather than
all of B's inbox examples: the older corrections were in A's training data too, so they say
nothing about the change and would bury the new ones. A model registered before manifests listed
their inbox examples has none listed: as A, all of B's are shown (`corrections_basis` "all"); as
B, none ("unknown"). An example A had only in another training file counts as new (it then shows
as right in both)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from antrean.model_registry.evaluation import headline, messages_by_text, stories_by_name
from antrean.runtime.db import REPO_ROOT
from antrean.training.data import normalise

RESULTS_DIR = REPO_ROOT / "results" / "models"

FIGURES = (  # key, label, format, higher is better
    ("intent_accuracy", "intent accuracy", "{:.3f}", True),
    ("intent_macro_f1", "intent macro-F1", "{:.3f}", True),
    ("entity_f1", "entity F1 (micro)", "{:.3f}", True),
    ("entity_macro_f1", "entity F1 (macro)", "{:.3f}", True),
    ("law_parse_rate", "LAW # parse rate", "{:.1%}", True),
    ("fallback_rate", "fallback rate", "{:.1%}", False),
    ("stories_passed", "conversation tests passed", "{:.0f}", True),
    ("stories_failed", "conversation tests failed", "{:.0f}", False),
    ("latency_p50_ms", "parse latency p50 (ms)", "{:.1f}", False),
    ("latency_p95_ms", "parse latency p95 (ms)", "{:.1f}", False),
    ("size_mb", "model size (MB)", "{:.2f}", False),
    ("load_seconds", "load time (s)", "{:.1f}", False),
)


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    figures: list[dict]  # name, label, a, b, change
    intents: list[dict]  # intent, a/b precision, recall, f1, change (of F1), sorted by change
    entity_types: list[dict]
    messages: list[dict]  # text, intent, status (fixed|broken|changed), a/b prediction and confidence
    entities: list[dict]  # text, gold, a, b, status (fixed|broken|changed)
    stories: list[dict]  # story, file, a, b (passed?), failure (of the failing side)
    confusion: dict  # labels, a, b, difference (B − A)
    same_test_set: bool
    # text, intent, entities, status (fixed|still_wrong|broken|right), a/b prediction, confidence, entities
    corrections: list[dict] = field(default_factory=list)
    corrections_basis: str = "new"  # new | all (A lists no inbox examples) | unknown (B lists none)

    def corrections_with(self, status: str) -> list[dict]:
        return [c for c in self.corrections if c["status"] == status]

    @property
    def fixed(self) -> list[dict]:
        return [m for m in self.messages if m["status"] == "fixed"]

    @property
    def broken(self) -> list[dict]:
        return [m for m in self.messages if m["status"] == "broken"]

    def to_dict(self) -> dict:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}

    def markdown(self, image: str | None = None) -> str:
        lines = [f"# Model {self.b} compared with {self.a}", ""]
        if not self.same_test_set:
            lines += ["**Warning:** the two models were evaluated on different test sets; evaluate both again "
                      "(`python -m antrean model evaluate ID`) for a fair comparison. Only messages in both "
                      "are compared below.", ""]
        lines += [f"| figure | {self.a} | {self.b} | change |", "|---|---|---|---|"]
        for row in self.figures:
            fmt = row["format"]
            change = ("+" if row["change"] > 0 else "") + fmt.format(row["change"]) if row["change"] else "="
            lines.append(f"| {row['label']} | {fmt.format(row['a'])} | {fmt.format(row['b'])} | {change} |")
        lines += ["", "## Intents (F1, sorted by change)", "",
                  "| intent | F1 A | F1 B | change | precision A → B | recall A → B |", "|---|---|---|---|---|---|"]
        for row in self.intents:
            lines.append(f"| {row['intent']} | {row['a_f1']:.3f} | {row['b_f1']:.3f} | {row['change']:+.3f} | "
                         f"{row['a_precision']:.2f} → {row['b_precision']:.2f} | "
                         f"{row['a_recall']:.2f} → {row['b_recall']:.2f} |")
        lines += ["", "## Entities per type (exact spans)", "",
                  "| type | F1 A | F1 B | change |", "|---|---|---|---|"]
        for row in self.entity_types:
            lines.append(f"| {row['entity']} | {row['a_f1']:.3f} | {row['b_f1']:.3f} | {row['change']:+.3f} |")
        lines += ["", f"## Messages whose intent changed: {len(self.fixed)} fixed, {len(self.broken)} broken, "
                  f"{len(self.messages) - len(self.fixed) - len(self.broken)} otherwise wrong", ""]
        if self.messages:
            lines += ["| | message | expected | A (confidence) | B (confidence) |", "|---|---|---|---|---|"]
            for m in self.messages:
                lines.append(f"| {m['status']} | {_cell(m['text'])} | {m['intent']} | "
                             f"{m['a']} ({m['a_confidence']:.2f}) | {m['b']} ({m['b_confidence']:.2f}) |")
        lines += self._corrections_markdown()
        lines += ["", f"## Messages whose entities changed: {len(self.entities)}", ""]
        if self.entities:
            lines += ["| | message | expected | A | B |", "|---|---|---|---|---|"]
            for m in self.entities:
                lines.append(f"| {m['status']} | {_cell(m['text'])} | {_spans(m['text'], m['gold'])} | "
                             f"{_spans(m['text'], m['a'])} | {_spans(m['text'], m['b'])} |")
        lines += ["", f"## Conversation tests whose outcome changed: {len(self.stories)}", ""]
        if self.stories:
            lines += ["| story | A | B | failure |", "|---|---|---|---|"]
            for s in self.stories:
                lines.append(f"| {_cell(s['story'])} ({s['file']}) | {'passed' if s['a'] else 'failed'} | "
                             f"{'passed' if s['b'] else 'failed'} | {_cell(s['failure'] or '')} |")
        if image:
            lines += ["", "## Confusion matrix: B − A", "",
                      "Rows: expected intent; columns: predicted; each number is B's count minus A's. Blue is "
                      "better (more right on the diagonal, fewer confusions off it), red is worse.", "",
                      f"![confusion matrix difference]({image})"]
        return "\n".join(lines) + "\n"

    def _corrections_markdown(self) -> list[str]:
        counts = ", ".join(f"{len(self.corrections_with(status))} {label}" for status, label in CORRECTION_LABELS)
        lines = ["", f"## Reviewed corrections: {counts}", ""]
        if self.corrections_basis == "unknown":
            return [*lines, f"{self.b}'s manifest does not list its NLU inbox examples (registered before it "
                    "did): none to compare."]
        lines.append(f"NLU inbox examples {self.b} was trained on and {self.a} was not"
                     if self.corrections_basis == "new" else
                     f"Every NLU inbox example {self.b} was trained on ({self.a}'s manifest does not list its own)")
        lines[-1] += (" — corrections by reviewers, not test data: the test set above is the fair measure. Right "
                      "means the intent and every entity as accepted.")
        if self.corrections:
            lines += ["", "| | message | expected | A (confidence) | B (confidence) |", "|---|---|---|---|---|"]
            for c in self.corrections:
                label = dict(CORRECTION_LABELS)[c["status"]]
                lines.append(f"| {label} | {_cell(c['text'])} | {c['intent']}{_entities(c, 'entities')} | "
                             f"{c['a']} ({c['a_confidence']:.2f}){_entities(c, 'a_entities')} | "
                             f"{c['b']} ({c['b_confidence']:.2f}){_entities(c, 'b_entities')} |")
        return lines

    def write(self, folder: Path | None = None) -> Path:
        """`<A>-vs-<B>.md` and its picture in `folder` (default results/models/); returns the
        Markdown file's path."""
        folder = Path(folder) if folder else RESULTS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{self.a}-vs-{self.b}"
        image = folder / f"{stem}-confusion.png"
        draw_confusion_difference(self.confusion, image, f"{self.b} − {self.a}")
        report = folder / f"{stem}.md"
        report.write_text(self.markdown(image.name), encoding="utf-8")
        return report


CORRECTION_LABELS = (("fixed", "fixed"), ("still_wrong", "still wrong"), ("broken", "broken"),
                     ("right", "right in both"))


def _entities(correction: dict, key: str) -> str:
    """Entities shown only where there is something to see (expected ones, or a wrong guess)."""
    spans = correction[key]
    if not spans and not correction["entities"]:
        return ""
    return "; " + _cell(_spans(correction["text"], spans))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _spans(text: str, spans: list) -> str:
    return ", ".join(f"{entity}: {text[start:end]!r}" for entity, start, end in spans) or "—"


def compare(a_id: str, a: dict, b_id: str, b: dict, corrections: list[dict] | None = None,
            corrections_basis: str = "new") -> Comparison:
    """Pure: two stored evaluations (antrean.model_registry.evaluation) → the comparison; the
    reviewed corrections come from `reviewed_corrections`."""
    a_figures, b_figures = headline(a), headline(b)
    figures = [{"name": key, "label": label, "format": fmt, "a": a_figures[key], "b": b_figures[key],
                "change": b_figures[key] - a_figures[key], "higher_is_better": better}
               for key, label, fmt, better in FIGURES]
    return Comparison(
        a=a_id, b=b_id, figures=figures,
        intents=_per_label(a["intent"]["per_intent"], b["intent"]["per_intent"], "intent"),
        entity_types=_per_label(a["entity"]["per_type"], b["entity"]["per_type"], "entity"),
        messages=_changed_intents(a, b), entities=_changed_entities(a, b), stories=_changed_stories(a, b),
        confusion=_confusion_difference(a["intent"]["confusion"], b["intent"]["confusion"]),
        same_test_set=a["test_set"]["fingerprint"] == b["test_set"]["fingerprint"],
        corrections=list(corrections or []), corrections_basis=corrections_basis,
    )


def new_inbox_examples(a_inputs: dict, b_inputs: dict) -> tuple[list[dict], str]:
    """(the inbox examples of B's manifest that A's does not have, the basis: see the module)."""
    b_examples = b_inputs.get("inbox_examples")
    if b_examples is None:
        return [], "unknown"
    a_examples = a_inputs.get("inbox_examples")
    # Text and intent: an example a reviewer moved to another intent is a new correction.
    seen = ({(normalise(e["text"]), e["intent"]) for e in a_examples} if a_examples is not None else set())
    new = []
    for example in b_examples:
        key = (normalise(example["text"]), example["intent"])
        if key not in seen:
            seen.add(key)
            new.append(example)
    return new, "new" if a_examples is not None else "all"


def reviewed_corrections(examples: Sequence[dict], a: Sequence[dict], b: Sequence[dict]) -> list[dict]:
    """Pure: the examples with A's and B's parse of each ({intent, confidence, entities}), grouped."""
    order = {"broken": 0, "still_wrong": 1, "fixed": 2, "right": 3}
    rows = []
    for example, old, new in zip(examples, a, b, strict=True):
        gold = sorted(list(e) for e in example["entities"])
        was_right, is_right = (parse["intent"] == example["intent"]
                               and sorted(list(e) for e in parse["entities"]) == gold for parse in (old, new))
        status = ("right" if was_right and is_right else "fixed" if is_right else "broken" if was_right
                  else "still_wrong")
        rows.append({"text": example["text"], "intent": example["intent"], "entities": gold, "status": status,
                     "a": old["intent"], "a_confidence": old["confidence"],
                     "a_entities": sorted(list(e) for e in old["entities"]),
                     "b": new["intent"], "b_confidence": new["confidence"],
                     "b_entities": sorted(list(e) for e in new["entities"])})
    return sorted(rows, key=lambda row: (order[row["status"]], row["intent"], row["text"]))


def _per_label(a: dict, b: dict, key: str) -> list[dict]:
    empty = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    rows = []
    for label in sorted(set(a) | set(b)):
        old, new = a.get(label, empty), b.get(label, empty)
        rows.append({key: label, "a_f1": old["f1"], "b_f1": new["f1"], "change": new["f1"] - old["f1"],
                     "a_precision": old["precision"], "b_precision": new["precision"],
                     "a_recall": old["recall"], "b_recall": new["recall"]})
    return sorted(rows, key=lambda row: (row["change"], row[key]))


CHANGE_ORDER = {"broken": 0, "fixed": 1, "changed": 2}  # what a reviewer of a comparison reads first


def _change(was_right: bool, is_right: bool) -> str:
    """A test message whose prediction changed between the two models."""
    return "fixed" if is_right and not was_right else "broken" if was_right and not is_right else "changed"


def _changed_intents(a: dict, b: dict) -> list[dict]:
    before, after = messages_by_text(a), messages_by_text(b)
    rows = []
    for text, new in after.items():
        old = before.get(text)
        if old is None or old["predicted"] == new["predicted"]:
            continue
        status = _change(old["predicted"] == old["intent"], new["predicted"] == new["intent"])
        rows.append({"text": text, "intent": new["intent"], "status": status, "a": old["predicted"],
                     "a_confidence": old["confidence"], "b": new["predicted"], "b_confidence": new["confidence"]})
    return sorted(rows, key=lambda row: (CHANGE_ORDER[row["status"]], row["intent"], row["text"]))


def _changed_entities(a: dict, b: dict) -> list[dict]:
    before, after = messages_by_text(a), messages_by_text(b)
    rows = []
    for text, new in after.items():
        old = before.get(text)
        if old is None or old["predicted_entities"] == new["predicted_entities"]:
            continue
        status = _change(old["predicted_entities"] == old["entities"], new["predicted_entities"] == new["entities"])
        rows.append({"text": text, "status": status, "gold": new["entities"], "a": old["predicted_entities"],
                     "b": new["predicted_entities"]})
    return sorted(rows, key=lambda row: (CHANGE_ORDER[row["status"]], row["text"]))


def _changed_stories(a: dict, b: dict) -> list[dict]:
    before, after = stories_by_name(a), stories_by_name(b)
    rows = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is None or new is None or old["passed"] == new["passed"]:
            continue
        rows.append({"story": new["name"], "file": new["file"], "a": old["passed"], "b": new["passed"],
                     "failure": new["failure"] or old["failure"]})
    return rows


def _confusion_difference(a: dict, b: dict) -> dict:
    labels = sorted(set(a["labels"]) | set(b["labels"]))

    def full(matrix: dict) -> list[list[int]]:
        index = {label: i for i, label in enumerate(matrix["labels"])}
        return [[matrix["matrix"][index[g]][index[p]] if g in index and p in index else 0 for p in labels]
                for g in labels]

    old, new = full(a), full(b)
    return {"labels": labels, "a": old, "b": new,
            "difference": [[n - o for o, n in zip(row_a, row_b, strict=True)] for row_a, row_b in zip(old, new,
                                                                                                   strict=True)]}


def draw_confusion_difference(confusion: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    labels, difference = confusion["labels"], confusion["difference"]
    size = max(6.0, 0.42 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    limit = max(1, max((abs(v) for row in difference for v in row), default=1))
    # Coloured by what the change means: more messages on the diagonal is better (blue), more off
    # it is worse (red); the numbers are the plain differences.
    better = [[v if r == c else -v for c, v in enumerate(row)] for r, row in enumerate(difference)]
    axes.imshow(better, cmap="RdBu", vmin=-limit, vmax=limit)
    axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_xlabel("predicted intent")
    axes.set_ylabel("expected intent")
    axes.set_title(f"Confusion matrix difference {title}", fontsize=10)
    for row, values in enumerate(difference):
        for column, value in enumerate(values):
            if value:
                strong = abs(value) > limit / 2  # dark cell: white figures stay readable
                axes.text(column, row, f"{value:+d}", ha="center", va="center", fontsize=8,
                          color="white" if strong else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
