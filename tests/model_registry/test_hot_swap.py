"""The maintainers' loop end to end, on a running stack with two Rasa workers that pull the live
model from `python -m antrean model serve` (issue 11, §5 and §7):

1. an applicant writes in Javanese; the live (base) model misunderstands it;
2. a reviewer finds it in the NLU inbox and corrects it; the export puts it in the training data;
3. a candidate is trained from it; the comparison lists the corrected message as fixed (both
   models' predictions) and breaks nothing, and the gate lets it through;
   a deliberately worse candidate (no cancel_booking examples) is refused, with the reasons;
4. the candidate is promoted while messages stream in over WhatsApp (receiver → inbox → worker →
   Graph API stand-in) and REST: each is answered exactly once, both workers take the new model
   without a restart, and then answer the Javanese message right (only the candidate knows it);
5. a rollback, under the same stream, brings the base model back on both workers.

The models are small (15 examples per intent, tests/model_registry/conftest.py), trained once."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from antrean.assistant.rest_channel import MODEL_HEADER, WORKER_HEADER, client_headers
from antrean.booking.offices import load_offices
from antrean.model_registry import ModelRecord, ModelRegistry, PromotionRefused
from antrean.model_registry.testset import held_out_for_testing
from antrean.review.sync import sync
from antrean.runtime.db import make_engine, upgrade_database
from antrean.runtime.serve import Stack
from antrean.training.data import load_domain
from antrean.training.export import export
from antrean.training.nlu_inbox import accept, known_examples, pending
from tests.model_registry.conftest import INBOX_EXAMPLES, REMOVED_INTENT, copy_of, reduced_inputs
from tests.whatsapp import meta
from tests.whatsapp.server import free_port
from tests.whatsapp.standin import GraphStandIn

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Javanese for "how much does making a passport cost now": words no model here was trained on.
NEW_PHRASE = "piro regane gawe paspor saiki"
KNOWN_PHRASE = "berapa biaya bikin paspor"  # ask_fee for every model here
FEE_ANSWER = "Biaya paspor"  # the start of antrean.booking.replies.fees_text
PULL_SECONDS = 2
CONVERGE_SECONDS = 300  # pull interval + loading a model beside the running one, on 2 busy cores


@dataclass
class Running:
    stack: Stack
    graph: GraphStandIn
    registry: ModelRegistry
    base: ModelRecord
    folder: Path
    database: str


@pytest.fixture(scope="module")
def running(tmp_path_factory, trained):
    folder = tmp_path_factory.mktemp("hot-swap")
    database = f"sqlite:///{folder / 'antrean.sqlite3'}"
    upgrade_database(database)
    registry = ModelRegistry(make_engine(database), folder / "models")
    base = copy_of(registry, trained.base)
    registry.promote(base.id, by="test:admin")
    graph = GraphStandIn().start()
    stack = Stack(
        rasa_port=free_port(), actions_port=free_port(), receiver_port=free_port(), model_server_port=free_port(),
        model_pull_seconds=PULL_SECONDS, rasa_workers=2, run_dir=folder,
        conversations_url=f"sqlite:///{folder / 'conversations.sqlite3'}",
        environment={"ANTREAN_DATABASE_URL": database, "ANTREAN_MODELS_DIR": str(folder / "models"),
                     "ANTREAN_CLOCK": "2026-12-01T08:00:00+07:00", "ANTREAN_MEDIA_DIR": str(folder / "media"),
                     "ANTREAN_SECRET_KEY": "hot-swap-secret-key-for-booking-codes-0123456789",
                     "ANTREAN_WA_VERIFY_TOKEN": meta.VERIFY_TOKEN, "ANTREAN_WA_APP_SECRET": meta.APP_SECRET,
                     "ANTREAN_WA_ACCESS_TOKEN": graph.token, "ANTREAN_WA_GRAPH_URL": graph.url,
                     "ANTREAN_WA_GRAPH_VERSION": graph.version},
    )
    stack.start()
    try:
        stack.wait_until_ready(timeout=600)
        yield Running(stack, graph, registry, base, folder, database)
    finally:
        stack.stop()
        graph.stop()
        registry.engine.dispose()


def say(stack: Stack, sender: str, text: str) -> tuple[str, httpx.Response]:
    reply = httpx.post(f"{stack.rasa_url}/webhooks/antrean/webhook", timeout=120,
                       json={"sender": sender, "message": text, "metadata": {"office_id": "batam"}},
                       headers=client_headers({**os.environ, **stack.environment}))
    reply.raise_for_status()
    return "\n".join(m.get("text", "") for m in reply.json()), reply


def send_whatsapp(stack: Stack, sender: str, text: str) -> None:
    body = meta.encode(meta.notification(meta.messages_value(meta.text(sender, text))))
    reply = httpx.post(stack.whatsapp_webhook_url, content=body, headers=meta.signed_headers(body), timeout=30)
    assert reply.status_code == 200


def whatsapp_text(message: dict) -> str:
    if message["type"] == "text":
        return message["text"]["body"]
    return message.get("interactive", {}).get("body", {}).get("text", "")


def whatsapp_answers(graph: GraphStandIn, sender: str, at_least: int = 1, timeout: float = 240) -> list[str]:
    """The messages sent to `sender`, once at least `at_least` arrived and a few seconds passed
    without another (a second answer to the same message would come within them)."""
    deadline = time.monotonic() + timeout
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(graph.sent_to(sender))
        if now != seen:
            seen, quiet_since = now, time.monotonic()
        elif now >= at_least and time.monotonic() - quiet_since > 3:
            return [whatsapp_text(m) for m in graph.sent_to(sender)]
        time.sleep(0.3)
    raise AssertionError(f"{sender}: {seen} answers within {timeout:.0f} s, expected at least {at_least}")


def workers_models(stack: Stack, rounds: int = 20) -> dict[str, str]:
    """Which model each worker runs, as its answers say (X-Antrean-Model: the ETag it pulled). The
    probes go eight at a time: one after another, an idle machine's kernel can hand every new
    connection to the same worker."""
    seen = {}

    def probe(_) -> httpx.Response:
        return httpx.get(f"{stack.rasa_url}/webhooks/antrean/", timeout=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(rounds):
            for reply in pool.map(probe, range(8)):
                seen[reply.headers[WORKER_HEADER]] = reply.headers.get(MODEL_HEADER, "")
            if len(seen) >= stack.rasa_workers:
                break
    return seen


def wait_until_every_worker_runs(stack: Stack, sha256: str, timeout: float = CONVERGE_SECONDS) -> float:
    started = time.monotonic()
    while True:
        seen = workers_models(stack)
        if len(seen) == stack.rasa_workers and set(seen.values()) == {sha256}:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"workers still run {seen}, not {sha256[:12]}"
        time.sleep(0.5)


@dataclass
class Stream:
    """REST and WhatsApp messages from fresh senders, one after another, until stopped."""

    stack: Stack
    tag: str
    rest: list[tuple[str, str, str, float]] = field(default_factory=list)  # sender, answer, model, seconds
    whatsapp: list[str] = field(default_factory=list)  # senders
    errors: list[BaseException] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def _rest(self) -> None:
        for n in range(10_000):
            if self.stop.is_set():
                return
            sender = f"swap-{self.tag}-{n}"
            try:
                started = time.monotonic()
                answer, reply = say(self.stack, sender, KNOWN_PHRASE)
                self.rest.append((sender, answer, reply.headers.get(MODEL_HEADER, ""), time.monotonic() - started))
            except BaseException as error:  # reported by the test, not lost in the thread
                self.errors.append(error)
                return
            time.sleep(0.2)

    def _whatsapp(self) -> None:
        for n in range(10_000):
            if self.stop.is_set():
                return
            sender = f"62812{self.tag}{n:05d}"
            try:
                send_whatsapp(self.stack, sender, KNOWN_PHRASE)
                self.whatsapp.append(sender)
            except BaseException as error:  # reported by the test, not lost in the thread
                self.errors.append(error)
                return
            time.sleep(0.4)

    def __enter__(self) -> Stream:
        self.threads = [threading.Thread(target=self._rest), threading.Thread(target=self._whatsapp)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=180)


@dataclass(frozen=True)
class Baseline:
    """What a fresh sender gets for KNOWN_PHRASE when no model changes."""

    rest: str
    whatsapp: list[str]


def assert_every_message_answered_once(running: Running, stream: Stream, models: set[str],
                                       baseline: Baseline) -> None:
    assert not stream.errors, stream.errors
    assert stream.rest and stream.whatsapp
    for sender, answer, _model, _seconds in stream.rest:
        assert answer == baseline.rest, sender
    # Answers from both models while the swap ran: the stream really spanned it.
    assert {model for *_, model, _ in stream.rest} == models
    for sender in stream.whatsapp:
        # Nothing lost, nothing twice: exactly the answers a sender gets on a quiet day.
        assert whatsapp_answers(running.graph, sender, len(baseline.whatsapp)) == baseline.whatsapp, sender


def swap_under_stream(running: Running, change, old: ModelRecord, new: ModelRecord, tag: str,
                      baseline: Baseline) -> Stream:
    with Stream(running.stack, tag) as stream:
        time.sleep(3)  # some answers from the old model first
        change()
        seconds = wait_until_every_worker_runs(running.stack, new.sha256)
        time.sleep(3)  # and some from the new one
    print(f"{tag}: every worker on {new.id} {seconds:.1f} s after the change; slowest REST answer during it "
          f"{max(s for *_, s in stream.rest):.2f} s over {len(stream.rest)} REST and {len(stream.whatsapp)} "
          "WhatsApp messages")
    assert_every_message_answered_once(running, stream, {old.sha256, new.sha256}, baseline)
    return stream


def test_a_reviewed_correction_goes_live_on_every_worker_without_a_restart(running, trained):
    stack, registry, base = running.stack, running.registry, running.base
    # A worker may still be on the file it started with until its first pull: wait for the base model.
    wait_until_every_worker_runs(stack, base.sha256)
    assert not held_out_for_testing(NEW_PHRASE)  # the export puts it in the training data

    baseline_rest, _ = say(stack, "6281200007005", KNOWN_PHRASE)
    send_whatsapp(stack, "6281200007006", KNOWN_PHRASE)
    baseline = Baseline(baseline_rest, whatsapp_answers(running.graph, "6281200007006"))
    assert FEE_ANSWER in baseline.rest and any(FEE_ANSWER in a for a in baseline.whatsapp)

    # 1. The live model misunderstands the Javanese question (REST and WhatsApp alike).
    before, _ = say(stack, "6281200007001", NEW_PHRASE)
    assert FEE_ANSWER not in before
    send_whatsapp(stack, "6281200007002", NEW_PHRASE)
    assert not any(FEE_ANSWER in a for a in whatsapp_answers(running.graph, "6281200007002"))

    # 2. The reviewer corrects it in the NLU inbox; the export writes it into the training data.
    engine = registry.engine
    tracker = make_engine(stack.conversations_url)
    now = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
    sync(engine, tracker, load_offices(), now, settle_seconds=0)
    tracker.dispose()
    domain = load_domain()
    [item] = [i for i in pending(engine, domain, known_examples()) if i.text == NEW_PHRASE][:1]
    assert item.intent != "ask_fee"
    accept(engine, domain, item.message_id, "ask_fee", [], "test:reviewer", now)
    inputs = reduced_inputs(running.folder / "candidate")
    nlu = inputs.data / "nlu"
    (nlu / "reviewed_earlier.yml").write_text(INBOX_EXAMPLES, encoding="utf-8")  # what the base model had
    exported = export(engine, nlu / "reviewed.yml", domain, nlu, test_path=running.folder / "held-out" / "r.yml")
    assert exported.examples == 1 and NEW_PHRASE in (nlu / "reviewed.yml").read_text(encoding="utf-8")

    # 3. A candidate from it; nothing broken, the gate lets it through. The worse one is refused.
    candidate = registry.train(by="test:reviewer", inputs=inputs)
    comparison = registry.compare(base.id, candidate.id)
    assert not comparison.broken and not [s for s in comparison.stories if s["a"] and not s["b"]]
    # The corrected message is not test data (the export put it in the training data), so the
    # comparison lists it among the reviewed corrections: fixed, with both models' predictions —
    # the base model's being what it answered the applicant with, as the inbox recorded it.
    assert comparison.corrections_basis == "new"
    [corrected] = comparison.corrections  # the earlier inbox examples were the base model's too
    assert (corrected["text"], corrected["intent"], corrected["status"]) == (NEW_PHRASE, "ask_fee", "fixed")
    assert corrected["a"] == item.intent and corrected["b"] == "ask_fee"
    assert 0 < corrected["a_confidence"] <= 1 and 0 < corrected["b_confidence"] <= 1
    report = comparison.write(running.folder / "results").read_text(encoding="utf-8")
    assert (f"| fixed | {NEW_PHRASE} | ask_fee | {item.intent} ({corrected['a_confidence']:.2f}) | "
            f"ask_fee ({corrected['b_confidence']:.2f}) |") in report
    assert registry.gate(candidate.id).passed
    worse = copy_of(registry, trained.worse)
    with pytest.raises(PromotionRefused) as refused:
        registry.promote(worse.id, by="test:maintainer")
    reasons = refused.value.verdict.reasons
    assert REMOVED_INTENT in {r.facts.get("intent") for r in reasons if r.code == "intent_f1"}
    assert all(r.text for r in reasons) and REMOVED_INTENT in str(refused.value)
    assert registry.live_model().id == base.id

    # 4. Promoted while messages stream in; every worker takes it; the correction is answered right.
    workers = set(workers_models(stack))  # a worker's token changes when the server restarts
    swap_under_stream(running, lambda: registry.promote(candidate.id, by="test:maintainer"), base, candidate, "61",
                      baseline)
    assert set(workers_models(stack)) == workers and all(p.poll() is None for p in stack.processes)
    answered_by = set()
    for n in range(40):
        answer, reply = say(stack, f"62812000071{n:02d}", NEW_PHRASE)
        assert FEE_ANSWER in answer and reply.headers[MODEL_HEADER] == candidate.sha256
        answered_by.add(reply.headers[WORKER_HEADER])
        if n >= 3 and answered_by == workers:
            break
    assert answered_by == workers  # both workers know it
    send_whatsapp(stack, "6281200007003", NEW_PHRASE)
    assert any(FEE_ANSWER in a for a in whatsapp_answers(running.graph, "6281200007003"))

    # 5. Rollback: the same guarantees, and the base model's answer again.
    swap_under_stream(running, lambda: registry.rollback(by="test:maintainer"), candidate, base, "62", baseline)
    assert set(workers_models(stack)) == workers
    after, reply = say(stack, "6281200007004", NEW_PHRASE)
    assert FEE_ANSWER not in after and reply.headers[MODEL_HEADER] == base.sha256
