"""`make bench-retrain`: from "train" to "live on every worker", on a running stack under load.

A stack like `make run`'s (two Rasa workers pulling the live model from `python -m antrean model
serve`, actions in process) runs the project's trained model as the live one, in a registry of its
own under a temporary folder; REST questions keep arriving from a few applicants at once. Timed,
one after another, what a maintainer's "Latih model baru" + "Jadikan live" does:

1. export: the NLU inbox's reviewed examples into a copy of data/ (`antrean.training.export`);
2. training: validate, train (the registry's child process);
3. evaluation of the candidate on the test set and the conversation tests;
4. comparison with the live model (Markdown + confusion picture);
5. promotion (the gate) and the swap: until every worker answers with the new model.

Measured all along: the PSS of each Rasa worker (sampled every 0.5 s; the highest is reported, and
the highest during the swap) and every reply's latency (the slowest during the swap: from the
promotion until every worker runs the new model)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

from antrean.assistant.rest_channel import MODEL_HEADER, WORKER_HEADER, client_headers
from antrean.model_registry import ModelRegistry
from antrean.model_registry.evaluation import quiet_rasa_logs
from antrean.model_registry.inputs import TrainingInputs
from antrean.runtime.db import REPO_ROOT, make_engine, upgrade_database
from antrean.runtime.serve import DEFAULT_MODEL, Stack
from antrean.training.data import load_domain
from antrean.training.export import export
from benchmarks.assistant import free_port
from benchmarks.processes import memory_mb, process_tree

QUESTIONS = ["berapa biaya bikin paspor", "jam buka kantor imigrasi batam", "syarat paspor baru apa aja",
             "halo min", "alamat kantornya dimana"]


class Load:
    """`senders` applicants asking questions one after another, each reply timed."""

    def __init__(self, stack: Stack, senders: int):
        self.stack, self.senders = stack, senders
        self.replies: list[tuple[float, float, str]] = []  # started (monotonic), seconds, model
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._ask, args=(n,), daemon=True) for n in range(senders)]

    def _ask(self, n: int) -> None:
        headers = client_headers({**os.environ, **self.stack.environment})
        with httpx.Client(timeout=120) as client:
            for turn in range(1_000_000):
                if self.stop.is_set():
                    return
                body = {"sender": f"bench-retrain-{n}-{turn // 5}", "message": QUESTIONS[turn % len(QUESTIONS)],
                        "metadata": {"office_id": "batam"}}
                started = time.monotonic()
                try:
                    reply = client.post(f"{self.stack.rasa_url}/webhooks/antrean/webhook", json=body, headers=headers)
                    reply.raise_for_status()
                    self.replies.append((started, time.monotonic() - started, reply.headers.get(MODEL_HEADER, "")))
                except httpx.HTTPError as error:
                    self.failures.append(f"{type(error).__name__}: {error}")
                time.sleep(0.5)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)


class Memory:
    """PSS of each Rasa worker process (the leaves of the Rasa server's process tree), every 0.5 s."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.samples: list[tuple[float, int, float]] = []  # time, pid, PSS MB
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.stop.wait(0.5):
            tree = process_tree(self.stack.rasa.pid)
            workers = [pid for pid in tree if pid != self.stack.rasa.pid] or tree
            for pid in workers:
                with contextlib.suppress(OSError):  # a worker that just exited
                    self.samples.append((time.monotonic(), pid, memory_mb(pid)[1]))

    def highest(self, since: float = 0, until: float = float("inf")) -> float:
        return max((pss for at, _pid, pss in self.samples if since <= at <= until), default=0.0)

    def __enter__(self) -> Memory:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def workers_models(stack: Stack, probes: int = 12) -> dict[str, str]:
    seen = {}
    for _ in range(probes):
        reply = httpx.get(f"{stack.rasa_url}/webhooks/antrean/", timeout=30)
        seen[reply.headers[WORKER_HEADER]] = reply.headers.get(MODEL_HEADER, "")
    return seen


def git_revision() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the live model to start from")
    parser.add_argument("--rasa-workers", type=int, default=2)
    parser.add_argument("--pull-seconds", type=int, default=10, help="wait_time_between_pulls (make run: 10)")
    parser.add_argument("--senders", type=int, default=4, help="applicants asking questions during the run")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "bench-retrain.json")
    args = parser.parse_args()
    if not args.model.exists():
        sys.exit(f"no trained model at {args.model}: run `make train`")

    quiet_rasa_logs()  # the set-up's evaluation loads Rasa here: the figures, not a line per message
    folder = Path(tempfile.mkdtemp(prefix="bench-retrain-"))
    database = f"sqlite:///{folder / 'antrean.sqlite3'}"
    upgrade_database(database)
    registry = ModelRegistry(make_engine(database), folder / "models")
    print("setting up: the live model, evaluated (not timed) …", flush=True)
    live, _ = registry.register_file(args.model, by="bench:setup")
    registry.promote(live.id, by="bench:setup")
    stack = Stack(rasa_port=free_port(), actions_port=free_port(), model_server_port=free_port(),
                  model_pull_seconds=args.pull_seconds, rasa_workers=args.rasa_workers, run_dir=folder,
                  conversations_url=f"sqlite:///{folder / 'conversations.sqlite3'}",
                  environment={"ANTREAN_DATABASE_URL": database, "ANTREAN_MODELS_DIR": str(folder / "models"),
                               "ANTREAN_MEDIA_DIR": str(folder / "media")})
    stack.start()
    stages: dict[str, float] = {}
    try:
        stack.wait_until_ready()
        with Memory(stack) as memory, Load(stack, args.senders) as load:
            time.sleep(10)  # the workers under load before anything changes
            started = mark = time.monotonic()

            def stage(name: str) -> None:
                nonlocal mark
                now = time.monotonic()
                stages[name] = now - mark
                mark = now
                print(f"  {name}: {stages[name]:.1f} s", flush=True)

            shutil.copytree(REPO_ROOT / "data", folder / "data")
            nlu = folder / "data" / "nlu"
            exported = export(registry.engine, nlu / "reviewed.yml", load_domain(), nlu,
                              test_path=folder / "held-out" / "reviewed.yml")
            stage(f"export ({exported.examples} reviewed examples)")
            inputs = TrainingInputs(folder / "data", REPO_ROOT / "config.yml", REPO_ROOT / "domain.yml")
            candidate = registry.train(by="bench:retrain", inputs=inputs)
            training = candidate.training_seconds or 0.0
            stages["training"] = training
            stages["evaluation"] = time.monotonic() - mark - training
            mark = time.monotonic()
            print(f"  training: {training:.1f} s\n  evaluation: {stages['evaluation']:.1f} s", flush=True)
            registry.compare(live.id, candidate.id).write(folder / "comparison")
            stage("comparison")
            verdict = registry.gate(candidate.id)
            registry.promote(candidate.id, by="bench:retrain",
                             override_reason=None if verdict.passed else "bench-retrain: timing, not quality")
            swap_started = time.monotonic()
            while True:
                seen = workers_models(stack)
                if len(seen) == stack.rasa_workers and set(seen.values()) == {candidate.sha256}:
                    break
                time.sleep(0.2)
            stage("promotion and swap (until every worker runs it)")
            swap_ended = time.monotonic()
            total = swap_ended - started
            time.sleep(5)
        during = [seconds for at, seconds, _ in load.replies if swap_started <= at <= swap_ended]
        everything = [seconds for _, seconds, _ in load.replies]
        result = {
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
            "load_average_at_end": os.getloadavg(), "commit": git_revision(),
            "stages_seconds": {k: round(v, 1) for k, v in stages.items()}, "total_seconds": round(total, 1),
            "gate_passed": verdict.passed, "rasa_workers": stack.rasa_workers, "pull_seconds": args.pull_seconds,
            "worker_pss_mb_max": round(memory.highest(), 0),
            "worker_pss_mb_max_during_swap": round(memory.highest(swap_started, swap_ended + 5), 0),
            "replies": len(everything), "failed_replies": len(load.failures),
            "reply_p50_s": round(statistics.median(everything), 3) if everything else None,
            "slowest_reply_s": round(max(everything), 3) if everything else None,
            "replies_during_swap": len(during),
            "slowest_reply_during_swap_s": round(max(during), 3) if during else None,
        }
    finally:
        stack.stop()
        registry.engine.dispose()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    aims = [("train → live on every worker ≤ 180 s", total <= 180),
            ("no Rasa worker above 1.5 GB PSS", result["worker_pss_mb_max"] <= 1536),
            ("no reply slower than 2 s during the swap", (result["slowest_reply_during_swap_s"] or 0) <= 2),
            ("no failed reply", not load.failures)]
    for aim, met in aims:
        print(f"{'met' if met else 'NOT MET'}: {aim}")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
