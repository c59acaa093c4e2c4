"""The training job, run by antrean.model_registry.training.train in a child process:
`python -m antrean.model_registry.job SPEC.json`.

Validates the snapshot of the training inputs (exit 3 and the errors on invalid data), trains with
Rasa, evaluates the new model, and writes the result file named in the spec. Its output is the
training log. Runs at a lower CPU priority so that running Rasa servers keep answering."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from antrean.model_registry.training import EXIT_INVALID_DATA


def die_with_parent(parent: int | None) -> None:
    """SIGTERM when the thread that started this job dies (Linux), even by SIGKILL: a training left
    running by a dead console would hold no lock and keep two cores busy for nothing."""
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request was made
        sys.exit(1)


def main(spec_path: str) -> int:
    from antrean.runtime.serve import quiet_foreign_warnings

    spec = json.loads(Path(spec_path).read_text())
    die_with_parent(spec.get("parent"))

    # Before Rasa is imported: the log is read by people (and its tail shown on a page), and the
    # dependencies' deprecation notices and TensorFlow's start-up lines are not about this training.
    quiet_foreign_warnings()
    # Rasa's progress bars follow LOG_LEVEL (its log lines are configured below): a log of bars
    # redrawn hundreds of times has no readable tail.
    os.environ["LOG_LEVEL"] = "WARNING"
    os.nice(10)
    result_path = Path(spec["result"])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # one structlog line per parsed message otherwise
    for name in ("absl", "tensorflow", "matplotlib", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import warnings

    from rasa.utils.common import EXPECTED_WARNINGS

    for category, pattern in EXPECTED_WARNINGS:  # what Rasa's own commands hide too
        warnings.filterwarnings("ignore", message=f".*{pattern}", category=category)

    from antrean.model_registry.validation import validate

    print("validating the training data (rasa data validate)", flush=True)
    checked = validate(Path(spec["data"]), Path(spec["config"]), Path(spec["domain"]))
    for warning in checked.warnings:
        print(f"warning: {warning}", flush=True)
    if not checked.valid:
        result_path.write_text(json.dumps({"errors": checked.errors, "warnings": checked.warnings}))
        print("invalid training data:\n" + "\n".join(checked.errors), flush=True)
        return EXIT_INVALID_DATA

    from rasa.model_training import train
    from rasa.shared.exceptions import RasaException

    print("training", flush=True)
    started = time.monotonic()
    try:
        trained = train(spec["domain"], spec["config"], [spec["data"]], output=spec["out"],
                        fixed_model_name="model", force_training=True)
    except RasaException as error:
        # Some data errors only show while training (rules that contradict each other).
        result_path.write_text(json.dumps({"errors": [str(error).strip()], "warnings": checked.warnings}))
        print(f"invalid training data: {error}", flush=True)
        return EXIT_INVALID_DATA
    seconds = time.monotonic() - started
    if trained.code != 0 or not trained.model:
        print(f"rasa train failed (code {trained.code})", flush=True)
        return 1
    print(f"trained in {seconds:.1f} s: {trained.model}", flush=True)
    result = {"model": trained.model, "training_seconds": seconds, "warnings": checked.warnings}
    if spec.get("evaluate", True):
        from antrean.model_registry.evaluation import evaluate_model
        from antrean.model_registry.testset import load_test_set

        print("evaluating on the test set and the conversation tests", flush=True)
        result["evaluation"] = evaluate_model(Path(trained.model), load_test_set(Path(spec["test_set"])),
                                              [Path(p) for p in spec["stories"]])
    result_path.write_text(json.dumps(result))
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
