"""`make evaluate`: Rasa's NLU cross-validation, repeated over seeded fold splits.

`rasa test nlu --cross-validation` shuffles its folds with an unseeded StratifiedKFold, so every
run draws another split and the figures move by about ±0.005 — as much as a real change to the
data. This runs Rasa's own `rasa.nlu.test.cross_validate` (same training, same evaluation, same
report files) once per seed with that shuffle seeded, and prints per-seed and mean figures, so
that two commits can be compared on the same splits and a committed figure can be reproduced.

Rasa's usual report files (intent_report.json, intent_errors.json, KeptCRFEntityExtractor_*.json and
the plots) are written for the first seed only; `seeds.md` beside them holds the table of all seeds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def seeded_folds(seed: int) -> Iterator[None]:
    """Make Rasa's `generate_folds` draw the split of `seed`.

    `generate_folds` imports `StratifiedKFold` from sklearn each time it runs and calls it with
    `shuffle=True` and no `random_state`; handing it a class with the seed filled in is the
    smallest change that keeps Rasa's own fold code (and whatever it does with the folds) in use.
    """
    import sklearn.model_selection

    original = sklearn.model_selection.StratifiedKFold
    sklearn.model_selection.StratifiedKFold = functools.partial(original, random_state=seed)
    try:
        yield
    finally:
        sklearn.model_selection.StratifiedKFold = original


def load(config_path: Path, data_path: Path, domain_path: Path):
    """The configuration and NLU data exactly as `rasa test nlu --cross-validation` loads them."""
    from rasa.shared.importers.importer import TrainingDataImporter

    config = TrainingDataImporter.load_from_dict(config_path=str(config_path)).get_config()
    data = TrainingDataImporter.load_from_dict(training_data_paths=[str(data_path)],
                                               domain_path=str(domain_path)).get_nlu_data()
    return config, data


def f1(report: dict, label: str) -> float:
    return report.get(label, {}).get("f1-score", float("nan"))


def run(seed: int, folds: int, config: dict, data, output: Path | None) -> dict:
    from rasa.nlu.test import cross_validate, drop_intents_below_freq

    from antrean.assistant.startup import install_speedups

    install_speedups()  # the graph runner as in the Rasa server (same results, less time)
    data = drop_intents_below_freq(data, cutoff=folds)  # as perform_nlu_cross_validation does
    started = time.monotonic()
    with seeded_folds(seed):
        intents, entities, _ = asyncio.run(cross_validate(
            data, folds, config, str(output) if output else None, errors=True,
            disable_plotting=output is None, report_as_dict=True))
    intent_report = intents.evaluation["report"]
    entity_report = entities.evaluation.get("KeptCRFEntityExtractor", {}).get("report", {})
    return {
        "seed": seed,
        "seconds": time.monotonic() - started,
        "intent_macro": f1(intent_report, "macro avg"),
        "intent_accuracy": intent_report.get("accuracy", float("nan")),
        "entity_micro": f1(entity_report, "micro avg"),
        "entity_macro": f1(entity_report, "macro avg"),
        "intents": {k: f1(intent_report, k) for k, v in intent_report.items()
                    if isinstance(v, dict) and not k.endswith(" avg")},
        "entities": {k: f1(entity_report, k) for k, v in entity_report.items()
                     if isinstance(v, dict) and not k.endswith(" avg")},
    }


def summary(results: list[dict], examples: int, folds: int) -> str:
    """A markdown table: one row per seed, the mean, then per-label F1 (mean over the seeds)."""
    def mean(key: str) -> float:
        return statistics.mean(r[key] for r in results)

    lines = [f"{folds}-fold cross-validation, {examples} intent examples, seeds "
             f"{', '.join(str(r['seed']) for r in results)}", "",
             "| seed | intent macro-F1 | intent accuracy | entity F1 micro | entity F1 macro |",
             "|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['seed']} | {r['intent_macro']:.3f} | {r['intent_accuracy']:.3f} | "
                     f"{r['entity_micro']:.3f} | {r['entity_macro']:.3f} |")
    lines.append(f"| mean | {mean('intent_macro'):.3f} | {mean('intent_accuracy'):.3f} | "
                 f"{mean('entity_micro'):.3f} | {mean('entity_macro'):.3f} |")
    for kind, name in (("intents", "intent"), ("entities", "entity")):
        labels = sorted(results[0][kind], key=lambda k: statistics.mean(r[kind].get(k, 0) for r in results))
        lines += ["", f"| {name} | mean F1 | min–max |", "|---|---|---|"]
        for label in labels:
            values = [r[kind].get(label, float("nan")) for r in results]
            lines.append(f"| {label} | {statistics.mean(values):.3f} | {min(values):.3f}–{max(values):.3f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml")
    parser.add_argument("--nlu", type=Path, default=ROOT / "data")
    parser.add_argument("--domain", type=Path, default=ROOT / "domain.yml")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "nlu-cv",
                        help="Rasa's report files (first seed) and seeds.md; '-' writes nothing")
    args = parser.parse_args()

    # Rasa logs every fold's training at INFO, and its structlog events (one per evaluated entity)
    # print at DEBUG unless configured as the CLI does; the figures are printed below instead.
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    for name in ("rasa", "absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.WARNING)

    write = str(args.out) != "-"
    config, data = load(args.config, args.nlu, args.domain)
    results = []
    for i, seed in enumerate(args.seeds):
        result = run(seed, args.folds, config, data, args.out if write and i == 0 else None)
        results.append(result)
        print(f"seed {seed}: intent macro-F1 {result['intent_macro']:.3f}, entity F1 micro "
              f"{result['entity_micro']:.3f} / macro {result['entity_macro']:.3f} "
              f"({result['seconds']:.0f} s)", flush=True)
    table = summary(results, len(data.intent_examples), args.folds)
    print(table)
    if write:
        (args.out / "seeds.md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
