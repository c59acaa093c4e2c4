""""Latih model baru" on the console's Model page: export the NLU inbox, then train, evaluate and
keep a model through the registry (antrean.model_registry.training), in a background thread.

One at a time across console processes: a console holds `<models dir>/.console-training.lock`
(an exclusive `flock`, released by the kernel if the process dies) from the export to the end, and
the registry's own training lock also keeps out a `python -m antrean model train` started
meanwhile. What a page shows is read from files, never from the memory of the process that
started it, so a reload, or another console process, sees the same state:
`<models dir>/.console-training.json` (who, since when, which step, the outcome) and the
registry's training log (its tail).

When the console stops (SIGTERM, SIGINT: Sanic's `before_server_stop`), `stop` ends a training it
runs — the export, or the registry's child process — and the run ends as failed with that reason,
rather than the child training on, orphaned, outside every lock."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from antrean.console.audit import AuditLog
from antrean.model_registry import (
    InvalidTrainingData,
    ModelRegistry,
    TrainingFailed,
    TrainingRunning,
    TrainingStopped,
    training_status,
)
from antrean.model_registry.inputs import TrainingInputs
from antrean.model_registry.training import LOG_NAME

logger = logging.getLogger(__name__)

LOCK_NAME = ".console-training.lock"
RUN_NAME = ".console-training.json"
LOG_TAIL_LINES = 30
STOP_WAIT_SECONDS = 30  # the child's SIGTERM grace (training.STOP_GRACE_SECONDS) and the run file's writing
STOPPED_MESSAGE = ("Pelatihan dihentikan karena konsol dimatikan (SIGTERM/SIGINT) di tengah pelatihan; "
                   "tidak ada model baru yang disimpan. Silakan mulai lagi.")

# The steps a page shows, in order; the registry's job prints a line when it reaches one of them.
STEPS = (
    ("export", "Ekspor contoh dari inbox NLU"),
    ("validate", "Validasi data latih (rasa data validate)"),
    ("train", "Pelatihan model"),
    ("evaluate", "Evaluasi dengan set uji dan tes percakapan"),
    ("register", "Menyimpan model"),
)
_LOG_MARKERS = (  # (a line of antrean/model_registry/job.py or its beginning, the step it starts)
    ("validating the training data ", "validate"),
    ("training", "train"),
    ("evaluating on the test set ", "evaluate"),
    ("done", "register"),
)


class TrainingRefused(Exception):
    """Another training runs; the message is for the page (Indonesian)."""


@dataclass(frozen=True)
class TrainingView:
    state: str  # idle | running | succeeded | failed
    by: str | None = None
    since: str | None = None
    finished: str | None = None
    step: str | None = None
    message: str | None = None
    model_id: str | None = None
    log_tail: str = ""
    elsewhere: bool = False  # a training started outside the console (`python -m antrean model train`)

    @property
    def step_number(self) -> int:
        names = [name for name, _ in STEPS]
        return names.index(self.step) + 1 if self.step in names else 0


class ConsoleTraining:
    def __init__(self, registry: ModelRegistry, engine, clock, inputs: TrainingInputs | None = None):
        self.registry = registry
        self.engine = engine
        self.clock = clock
        self.inputs = inputs or TrainingInputs()
        self.thread: threading.Thread | None = None
        self.cancel = threading.Event()

    @property
    def folder(self) -> Path:
        return self.registry.models_dir

    # --- starting ------------------------------------------------------------------------------

    def start(self, by: str) -> None:
        """Starts export + training in a thread; TrainingRefused if a training already runs here,
        in another console process or from the command line."""
        self.folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            run = self._read_run()
            raise TrainingRefused(f"Pelatihan lain sedang berjalan (dimulai {run.get('since', '?')} oleh "
                                  f"{run.get('by', '?')}). Tunggu sampai selesai.") from None
        cli = training_status(self.folder)
        if cli.running:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)
            raise TrainingRefused(f"Pelatihan dari baris perintah sedang berjalan (dimulai "
                                  f"{cli.since:%Y-%m-%d %H:%M} UTC oleh {cli.by}). Tunggu sampai selesai.")
        self._write_run({"state": "running", "by": by, "since": self._now(), "step": "export", "pid": os.getpid(),
                         "log_after": time.time()})
        self.cancel = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(by, descriptor), name="console-training", daemon=True)
        self.thread.start()

    def _run(self, by: str, descriptor: int) -> None:
        run = self._read_run()
        try:
            exported = self._export(by)
            run.update(step="validate", log_after=time.time(), exported=exported)
            self._write_run(run)
            record = self.registry.train(by=by, inputs=self.inputs, cancel=self.cancel)
            run.update(state="succeeded", model_id=record.id,
                       message=f"Model {record.id} selesai dilatih dan dievaluasi dalam "
                               f"{record.training_seconds or 0:.0f} detik. Belum aktif: bandingkan, lalu aktifkan.")
        except TrainingStopped as error:
            logger.warning("console training stopped with the console: %s", error)
            run.update(state="failed", message=STOPPED_MESSAGE, stopped=str(error))
        except TrainingRunning as error:
            run.update(state="failed", message=f"Pelatihan lain sedang berjalan: {error}")
        except InvalidTrainingData as error:
            run.update(state="failed", message=f"Data latih tidak valid, model tidak dilatih. {error}")
        except TrainingFailed as error:
            run.update(state="failed", message=f"Pelatihan gagal. {error}")
        except Exception as error:  # the page must say it ended, whatever happened
            logger.exception("console training failed")
            run.update(state="failed", message=f"Pelatihan berhenti karena kesalahan tak terduga: {error!r}")
        finally:
            run.update(finished=self._now(), pid=None)
            self._write_run(run)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)

    def stop(self, *_listener_args) -> bool:
        """Ends this console's running training, if any (a `before_server_stop` listener, hence the
        arguments it ignores); True when there was one. Returns once the run file says it failed."""
        thread = self.thread
        if thread is None or not thread.is_alive():
            return False
        self.cancel.set()
        thread.join(timeout=STOP_WAIT_SECONDS)
        if thread.is_alive():  # still exporting, or the child outlived its SIGKILL: say so anyway
            run = self._read_run()
            if run.get("state") == "running":
                run.update(state="failed", message=STOPPED_MESSAGE, finished=self._now(), pid=None)
                self._write_run(run)
        return True

    def _export(self, by: str) -> dict:
        from antrean.training.export import export

        nlu = self.inputs.data / "nlu"
        result = export(self.engine, nlu / "reviewed.yml", data_dir=nlu,
                        test_path=self.registry.test_set_dir / "reviewed.yml")
        # Audited like `nlu export` on the command line: who wrote training data out of the database.
        AuditLog(self.engine, self.clock).record(by[:40], "nlu.exported", target=str(result.path)[-100:],
                                                 examples=result.examples, intents=result.intents,
                                                 skipped=result.skipped, test_examples=result.test_examples)
        return {"examples": result.examples, "intents": result.intents, "test_examples": result.test_examples}

    # --- what a page shows ---------------------------------------------------------------------

    def view(self) -> TrainingView:
        run = self._read_run()
        log = self.folder / LOG_NAME
        if run.get("state") == "running":
            pid = run.get("pid")
            if pid and not _alive(int(pid)):
                return TrainingView("failed", run.get("by"), run.get("since"), None, run.get("step"),
                                    "Pelatihan berhenti tanpa hasil: proses konsol yang menjalankannya sudah "
                                    "berhenti. Silakan mulai lagi.", None, self._tail(log, run))
            step = run.get("step")
            tail = self._tail(log, run)
            if step != "export" and tail:
                step = _step_in(log) or step
            return TrainingView("running", run.get("by"), run.get("since"), None, step, None, None, tail)
        cli = training_status(self.folder)
        if cli.running:
            return TrainingView("running", cli.by, f"{cli.since:%Y-%m-%d %H:%M:%S}" if cli.since else None,
                                step=_step_in(log), log_tail=_tail_of(log), elsewhere=True)
        if run.get("state") in ("succeeded", "failed"):
            return TrainingView(run["state"], run.get("by"), run.get("since"), run.get("finished"), run.get("step"),
                                run.get("message"), run.get("model_id"),
                                self._tail(log, run) if run["state"] == "failed" else "")
        return TrainingView("idle")

    def _tail(self, log: Path, run: dict) -> str:
        # Until the registry starts this run's log, the file is the previous training's. Real time,
        # not the console's clock (tests freeze that one): the file's time is the system's.
        try:
            if log.stat().st_mtime < float(run.get("log_after") or 0):
                return ""
        except OSError:
            return ""
        return _tail_of(log)

    def _now(self) -> str:
        return self.clock().isoformat(timespec="seconds")

    def _read_run(self) -> dict:
        try:
            return json.loads((self.folder / RUN_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _write_run(self, run: dict) -> None:
        # Atomically: another console process may read it at any moment.
        path = self.folder / RUN_NAME
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(run, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, path)


def _tail_of(log: Path, lines: int = LOG_TAIL_LINES, max_bytes: int = 64_000) -> str:
    try:
        with open(log, "rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - max_bytes))
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _step_in(log: Path) -> str | None:
    """The step the registry's job reached, from its log's last few megabytes (the markers are
    far apart when Rasa warns a lot)."""
    step = None
    for line in _tail_of(log, lines=1_000_000, max_bytes=4_000_000).splitlines():
        for marker, name in _LOG_MARKERS:
            if line == marker or (marker.endswith(" ") and line.startswith(marker)):
                step = name
    return step


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
