"""Training a new model: one at a time, in a child process, validated first, evaluated after.

`train()` takes the training lock (`<models dir>/.training.lock`, an exclusive `flock`: the
kernel releases it when the holder dies, so a crashed training never blocks the next one; the file
holds who started it and when, for the "already running" message), copies data/, config.yml and
domain.yml to a snapshot, and runs `python -m antrean.model_registry.job` on it at a lower CPU
priority (running Rasa servers keep answering), with its output in `<models dir>/.training.log`
(whose tail a page can show). The job runs Rasa's data validation (errors stop it; warnings are
kept in the manifest), `rasa train`, and the evaluation; the model is then registered.

`training_status()` tells whether a training runs, since when, by whom, and where its log is.

A training ends with its starter: `cancel` (an Event; the console sets it when it stops) ends the
child (SIGTERM, then SIGKILL) and raises TrainingStopped; an exception in the waiting thread
(Ctrl-C on `model train`) ends it too; and the job asks the kernel for SIGTERM when the thread
that started it dies (PR_SET_PDEATHSIG), so even a starter killed outright leaves no training
running without the lock that keeps a second one out."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from antrean.model_registry.evaluation import default_story_files
from antrean.model_registry.inputs import TrainingInputs
from antrean.model_registry.registry import ModelRecord, ModelRegistry, ModelRegistryError
from antrean.runtime.db import REPO_ROOT

LOCK_NAME = ".training.lock"
LOG_NAME = ".training.log"
EXIT_INVALID_DATA = 3
STOP_GRACE_SECONDS = 10  # SIGTERM, then SIGKILL: TensorFlow may not notice a signal mid-step


class TrainingRunning(ModelRegistryError):
    pass


class InvalidTrainingData(ModelRegistryError):
    pass


class TrainingFailed(ModelRegistryError):
    pass


class TrainingStopped(TrainingFailed):
    """Its starter ended it (`cancel` was set); no model was kept."""


@dataclass(frozen=True)
class TrainingStatus:
    running: bool
    since: datetime | None
    by: str | None
    pid: int | None
    log: Path


@contextlib.contextmanager
def training_lock(models_dir: Path, by: str, clock=lambda: datetime.now(timezone.utc)) -> Iterator[None]:
    models_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(models_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(descriptor)
            raise TrainingRunning(f"training already running since {holder.get('since', 'an unknown time')} "
                                  f"(by {holder.get('by', '?')}, process {holder.get('pid', '?')}); "
                                  f"its log: {models_dir / LOG_NAME}") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps({"since": clock().isoformat(timespec="seconds"), "by": by,
                                          "pid": os.getpid()}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _holder(descriptor: int) -> dict:
    try:
        return json.loads(os.pread(descriptor, 4096, 0) or b"{}")
    except ValueError:
        return {}


def training_status(models_dir: Path) -> TrainingStatus:
    """Read from the lock file without touching the lock (a probe must never make a real training
    fail with "already running"): its holder empties it when done, and a holder that died leaves a
    process id that no longer runs."""
    path = Path(models_dir) / LOCK_NAME
    log = Path(models_dir) / LOG_NAME
    try:
        holder = json.loads(path.read_bytes() or b"{}")
    except (OSError, ValueError):
        holder = {}
    pid = holder.get("pid")
    if not pid or not _alive(int(pid)):
        return TrainingStatus(False, None, None, None, log)
    since = holder.get("since")
    return TrainingStatus(True, datetime.fromisoformat(since) if since else None, holder.get("by"), int(pid), log)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def train(registry: ModelRegistry, by: str, inputs: TrainingInputs | None = None, *,
          evaluate: bool = True, log: Path | None = None, cancel: threading.Event | None = None) -> ModelRecord:
    """Trains, evaluates and registers a model from `inputs` (default: the repository's data/,
    config.yml, domain.yml). Raises TrainingRunning, InvalidTrainingData, TrainingFailed, or
    TrainingStopped when `cancel` is set before it ends."""
    inputs = inputs or TrainingInputs()
    models_dir = registry.models_dir
    log = log or models_dir / LOG_NAME
    with training_lock(models_dir, by, registry.clock), \
            tempfile.TemporaryDirectory(dir=models_dir, prefix=".training-") as work:
        work = Path(work)
        snapshot = inputs.snapshot(work / "inputs")
        description = snapshot.describe()
        spec = {
            "data": str(snapshot.data), "config": str(snapshot.config), "domain": str(snapshot.domain),
            "out": str(work / "out"), "result": str(work / "result.json"), "evaluate": evaluate,
            "test_set": str(registry.test_set_dir),
            "stories": [str(p) for p in (registry.story_files if registry.story_files is not None
                                         else default_story_files())],
            "parent": os.getpid(),
        }
        (work / "spec.json").write_text(json.dumps(spec))
        started = time.monotonic()
        with open(log, "w", encoding="utf-8") as output:
            output.write(f"training started {registry.clock().isoformat(timespec='seconds')} by {by}\n")
            output.flush()
            if cancel is not None and cancel.is_set():
                raise TrainingStopped("training stopped before it began")
            # Its own session: Ctrl-C in the starter's terminal reaches the starter only, which
            # then ends the child itself (below) and says why, instead of a bare "exit code -2".
            process = subprocess.Popen(
                [sys.executable, "-m", "antrean.model_registry.job", str(work / "spec.json")],
                cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false"},
                start_new_session=True)
            try:
                while True:
                    try:
                        process.wait(timeout=0.5)
                        break
                    except subprocess.TimeoutExpired:
                        if cancel is not None and cancel.is_set():
                            code = _end(process)
                            output.write(f"training stopped by its starter (exit code {code})\n")
                            raise TrainingStopped(f"training stopped after {time.monotonic() - started:.0f} s "
                                                  f"(process {process.pid} ended, exit code {code})") from None
            finally:
                if process.poll() is None:  # whatever interrupted the wait: no training left behind
                    _end(process)
        result = json.loads((work / "result.json").read_text()) if (work / "result.json").exists() else {}
        if process.returncode == EXIT_INVALID_DATA:
            raise InvalidTrainingData("the training data is invalid:\n"
                                      + "\n".join(result.get("errors") or [_tail(log)]))
        if process.returncode != 0 or "model" not in result:
            raise TrainingFailed(f"training failed (exit code {process.returncode}); the end of {log}:\n"
                                 + _tail(log))
        return registry.register(Path(result["model"]), by=by, inputs=description, move=True,
                                 training_seconds=round(result.get("training_seconds") or
                                                        time.monotonic() - started, 1),
                                 evaluation=result.get("evaluation"),
                                 notes={"validation_warnings": result.get("warnings") or []})


def _end(process: subprocess.Popen) -> int:
    process.terminate()
    try:
        return process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
