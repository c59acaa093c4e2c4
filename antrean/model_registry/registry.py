"""The registry: trained models as records (file + manifest + evaluation) and which one is live.

Files: `<models dir>/<id>.tar.gz` and `<id>.json` (the manifest with its evaluation), id =
`<UTC time>-<first 8 hex of the training-data fingerprint>`. Rows: `model_records` and
`model_promotions` (antrean/model_registry/schema.py). The live model is the top of the stack
that the promotion history builds: a promotion pushes its model, a rollback pops the top, so
rolling back twice goes back two promotions, not back and forth."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from antrean.booking.store import from_db_time, to_db_time
from antrean.console.audit import AuditLog
from antrean.model_registry.evaluation import EVALUATION_VERSION, default_story_files, evaluate_model, parse_messages
from antrean.model_registry.gate import GateSettings, Verdict, gate
from antrean.model_registry.inputs import TrainingInputs
from antrean.model_registry.schema import model_promotions, model_records
from antrean.model_registry.testset import TEST_SET_DIR, load_test_set, test_set_fingerprint
from antrean.runtime.clock import Clock, system_clock

logger = logging.getLogger(__name__)

# What the registry writes to the console's audit log (antrean/console/views/audit.py labels them).
AUDIT_ACTIONS = ("model.promoted", "model.promotion_overridden", "model.rolled_back", "model.pruned")


class ModelRegistryError(Exception):
    """An expected failure; the message is for the maintainer (CLI, console)."""


class UnknownModel(ModelRegistryError):
    pass


class ModelFileProblem(ModelRegistryError):
    """The model's file is missing, pruned, or not what was registered (sha256, unreadable tar)."""


class PromotionRefused(ModelRegistryError):
    def __init__(self, verdict: Verdict):
        super().__init__(verdict.summary() + "\n(an admin may override: promote ID --override \"reason\")")
        self.verdict = verdict


class NothingToRollBack(ModelRegistryError):
    pass


class ConcurrentChange(ModelRegistryError):
    pass


@dataclass(frozen=True)
class ModelRecord:
    id: str
    path: Path
    sha256: str
    size_bytes: int
    created_at: datetime
    trained_by: str
    training_seconds: float | None
    data_fingerprint: str
    rasa_version: str
    git_revision: str | None
    manifest: dict
    evaluation: dict | None
    evaluated_at: datetime | None
    pruned_at: datetime | None

    @property
    def present(self) -> bool:
        return self.pruned_at is None and self.path.exists()

    def to_dict(self) -> dict:
        return {**self.manifest, "id": self.id, "path": str(self.path), "sha256": self.sha256,
                "size_bytes": self.size_bytes, "created_at": self.created_at.isoformat(),
                "evaluation": self.evaluation,
                "evaluated_at": self.evaluated_at.isoformat() if self.evaluated_at else None,
                "pruned_at": self.pruned_at.isoformat() if self.pruned_at else None}


@dataclass(frozen=True)
class Promotion:
    seq: int
    at: datetime
    actor: str
    action: str  # promote | override | rollback
    from_model: str | None
    to_model: str
    override_reason: str | None
    figures: dict


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelRegistry:
    def __init__(self, engine: Engine, models_dir: Path, clock: Clock = system_clock, *,
                 test_set_dir: Path = TEST_SET_DIR, story_files: list[Path] | None = None,
                 gate_settings: GateSettings | None = None,
                 evaluator: Callable[[Path, list, list[Path]], dict] = evaluate_model,
                 parser: Callable[[Path, list[str]], list] = parse_messages):
        self.engine = engine
        self.models_dir = Path(models_dir)
        self.clock = clock
        self.test_set_dir = Path(test_set_dir)
        self.story_files = story_files
        self.gate_settings = gate_settings or GateSettings()
        self.evaluator = evaluator
        self.parser = parser
        self.audit = AuditLog(engine, clock)

    # --- records -----------------------------------------------------------------------------

    def all(self, include_pruned: bool = False) -> list[ModelRecord]:
        query = select(model_records).order_by(model_records.c.created_at.desc(), model_records.c.id.desc())
        if not include_pruned:
            query = query.where(model_records.c.pruned_at.is_(None))
        with self.engine.connect() as connection:
            return [self._record(row) for row in connection.execute(query)]

    def get(self, model_id: str) -> ModelRecord:
        with self.engine.connect() as connection:
            row = connection.execute(select(model_records).where(model_records.c.id == model_id)).first()
        if row is None:
            raise UnknownModel(f"no model {model_id!r} (see `python -m antrean model list`)")
        return self._record(row)

    def find_by_sha256(self, sha256: str) -> ModelRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(model_records).where(model_records.c.sha256 == sha256,
                                                                 model_records.c.pruned_at.is_(None))).first()
        return self._record(row) if row is not None else None

    def verify(self, model_id: str) -> ModelRecord:
        """The record, once its file is checked: present, same sha256 as registered, a readable tar."""
        record = self.get(model_id)
        if record.pruned_at is not None:
            raise ModelFileProblem(f"model {model_id} was pruned on {record.pruned_at:%Y-%m-%d %H:%M} UTC; "
                                   "its file is gone")
        if not record.path.exists():
            raise ModelFileProblem(f"model {model_id}: file {record.path} is missing")
        actual = file_sha256(record.path)
        if actual != record.sha256:
            raise ModelFileProblem(f"model {model_id}: file {record.path} is corrupt (sha256 {actual[:12]}…, "
                                   f"registered {record.sha256[:12]}…)")
        try:
            with tarfile.open(record.path, "r:gz") as archive:
                for _ in archive:
                    pass
        except (tarfile.TarError, OSError, EOFError) as error:
            raise ModelFileProblem(f"model {model_id}: file {record.path} is not a readable model archive "
                                   f"({error})") from None
        return record

    def register(self, source: Path, *, by: str, inputs: dict, training_seconds: float | None = None,
                 evaluation: dict | None = None, notes: dict | None = None, move: bool = False) -> ModelRecord:
        """Keeps `source` as a new model: copied (or moved) to <id>.tar.gz with <id>.json beside it,
        then its row. The files are in place before the row exists and removed if the row cannot be
        written, so a record never points to nothing."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        now = self.clock()
        model_id = self._new_id(now, inputs["data_fingerprint"])
        path = self.models_dir / f"{model_id}.tar.gz"
        temporary = self.models_dir / f".{model_id}.tmp"
        if move:
            os.replace(source, temporary)
        else:
            shutil.copyfile(source, temporary)
        sha256, size = file_sha256(temporary), temporary.stat().st_size
        os.replace(temporary, path)
        manifest = {"id": model_id, "file": path.name, "sha256": sha256, "size_bytes": size,
                    "created_at": now.isoformat(timespec="seconds"), "trained_by": by[:40],
                    "training_seconds": training_seconds, "inputs": inputs, **(notes or {})}
        try:
            with self.engine.begin() as connection:
                connection.execute(model_records.insert().values(
                    id=model_id, file_name=path.name, sha256=sha256, size_bytes=size, created_at=to_db_time(now),
                    trained_by=by[:40], training_seconds=training_seconds,
                    data_fingerprint=inputs["data_fingerprint"], rasa_version=inputs["rasa_version"],
                    git_revision=(inputs.get("git_revision") or None), manifest=json.dumps(manifest),
                ))
        except Exception:
            path.unlink(missing_ok=True)
            raise
        record = self.get(model_id)
        if evaluation is not None:
            record = self._store_evaluation(record, evaluation)
        else:
            self._write_manifest(record)
        return record

    def register_file(self, source: Path, *, by: str, inputs: TrainingInputs | None = None,
                      evaluate: bool = True) -> tuple[ModelRecord, bool]:
        """A model trained outside the registry (`make train`'s models/antrean.tar.gz): kept once
        (the same file again returns the existing record and False), described with the current
        training inputs, evaluated."""
        source = Path(source)
        if not source.exists():
            raise ModelFileProblem(f"{source} does not exist")
        existing = self.find_by_sha256(file_sha256(source))
        if existing is not None:
            return existing, False
        record = self.register(source, by=by, inputs=(inputs or TrainingInputs()).describe())
        if evaluate:
            record = self.evaluate(record.id)
        return record, True

    # --- evaluation ----------------------------------------------------------------------------

    def test_set(self) -> list:
        return load_test_set(self.test_set_dir)

    def evaluate(self, model_id: str) -> ModelRecord:
        record = self.verify(model_id)
        stories = self.story_files if self.story_files is not None else default_story_files()
        evaluation = self.evaluator(record.path, self.test_set(), stories)
        return self._store_evaluation(record, evaluation)

    def is_current(self, evaluation: dict | None, fingerprint: str | None = None) -> bool:
        if not evaluation or evaluation.get("version") != EVALUATION_VERSION:
            return False
        fingerprint = fingerprint or test_set_fingerprint(self.test_set())
        return evaluation["test_set"]["fingerprint"] == fingerprint

    def current(self, model_id: str) -> ModelRecord:
        """The record with an evaluation on today's test set (evaluated again if it is stale)."""
        record = self.get(model_id)
        return record if self.is_current(record.evaluation) else self.evaluate(model_id)

    def _store_evaluation(self, record: ModelRecord, evaluation: dict) -> ModelRecord:
        with self.engine.begin() as connection:
            connection.execute(model_records.update().where(model_records.c.id == record.id).values(
                evaluation=json.dumps(evaluation), evaluated_at=to_db_time(self.clock())))
        record = self.get(record.id)
        self._write_manifest(record)
        return record

    def _write_manifest(self, record: ModelRecord) -> None:
        # Written beside the model (temporary file, then rename): a folder of models explains itself.
        target = record.path.with_name(f"{record.id}.json")
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{record.id}.", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump({**record.manifest, "evaluation": record.evaluation}, file, ensure_ascii=False, indent=1)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)

    # --- live model, promotions, rollback ------------------------------------------------------

    def history(self) -> list[Promotion]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(model_promotions).order_by(model_promotions.c.seq)).all()
        return [Promotion(row.seq, from_db_time(row.at), row.actor, row.action, row.from_model, row.to_model,
                          row.override_reason, json.loads(row.figures) if row.figures else {}) for row in rows]

    @staticmethod
    def _stack(history: list[Promotion]) -> list[str]:
        stack: list[str] = []
        for promotion in history:
            if promotion.action == "rollback":
                stack.pop()
            else:
                stack.append(promotion.to_model)
        return stack

    def live_model(self) -> ModelRecord | None:
        """The model every server should run (its `path`, `id` and `sha256`), or None before the
        first promotion."""
        stack = self._stack(self.history())
        return self.get(stack[-1]) if stack else None

    def rollback_target(self) -> str | None:
        stack = self._stack(self.history())
        return stack[-2] if len(stack) > 1 else None

    def gate(self, candidate_id: str, live_id: str | None = None) -> Verdict:
        """The gate's verdict for making `candidate_id` live instead of `live_id` (default: the live
        model); both evaluations are brought up to date with the current test set first."""
        if live_id is None:
            live = self.live_model()
            live_id = live.id if live else None
        candidate = self.current(candidate_id)
        live_record = self.current(live_id) if live_id else None
        return gate(candidate.id, candidate.evaluation, live_id, live_record.evaluation if live_record else None,
                    self.gate_settings)

    def promote(self, model_id: str, by: str, override_reason: str | None = None) -> Promotion:
        """Makes `model_id` live if the gate lets it through, or with a written override reason
        (callers check that `by` may override: admins only). Audited either way."""
        self.verify(model_id)
        history = self.history()
        stack = self._stack(history)
        live_id = stack[-1] if stack else None
        if live_id == model_id:
            raise ModelRegistryError(f"model {model_id} is already live")
        verdict = self.gate(model_id, live_id)
        override_reason = (override_reason or "").strip() or None
        if not verdict.passed and override_reason is None:
            raise PromotionRefused(verdict)
        action = "promote" if verdict.passed else "override"
        promotion = self._append(history, by, action, live_id, model_id, override_reason, verdict.to_dict())
        self.audit.record(by[:40], "model.promoted" if verdict.passed else "model.promotion_overridden",
                          target=model_id, from_model=live_id, to_model=model_id, reason=override_reason,
                          refused_for=[r.text for r in verdict.reasons], figures=verdict.candidate_figures,
                          live_figures=verdict.live_figures)
        return promotion

    def rollback(self, by: str) -> Promotion:
        """Back to the model that was live before the current one (no gate: it was live already)."""
        history = self.history()
        stack = self._stack(history)
        if len(stack) < 2:
            raise NothingToRollBack("nothing to roll back to: no model was live before the current one"
                                    if stack else "nothing to roll back: no model is live")
        current, target = stack[-1], stack[-2]
        self.verify(target)
        figures = {"from_figures": self._headline(current), "to_figures": self._headline(target)}
        promotion = self._append(history, by, "rollback", current, target, None, figures)
        self.audit.record(by[:40], "model.rolled_back", target=target, from_model=current, to_model=target,
                          **figures)
        return promotion

    def _headline(self, model_id: str) -> dict | None:
        from antrean.model_registry.evaluation import headline

        evaluation = self.get(model_id).evaluation
        return headline(evaluation) if evaluation else None

    def _append(self, history: list[Promotion], by: str, action: str, from_model: str | None, to_model: str,
                reason: str | None, figures: dict) -> Promotion:
        seq = (history[-1].seq if history else 0) + 1
        now = self.clock()
        try:
            with self.engine.begin() as connection:
                # The unique seq is the referee: a change made since `history` was read took it.
                latest = connection.execute(select(func.max(model_promotions.c.seq))).scalar() or 0
                if latest != seq - 1:
                    raise ConcurrentChange("the live model changed meanwhile (another promotion or rollback); "
                                           "look at `model list` and try again")
                connection.execute(model_promotions.insert().values(
                    seq=seq, at=to_db_time(now), actor=by[:40], action=action, from_model=from_model,
                    to_model=to_model, override_reason=reason, figures=json.dumps(figures, default=str)))
        except IntegrityError:
            raise ConcurrentChange("the live model changed meanwhile (another promotion or rollback); "
                                   "look at `model list` and try again") from None
        return Promotion(seq, now, by[:40], action, from_model, to_model, reason, figures)

    def compare(self, a_id: str, b_id: str):
        """Comparison of B against A (both evaluated on the current test set first); `.write()`
        puts it in results/models/."""
        from antrean.model_registry.compare import compare, new_inbox_examples, reviewed_corrections

        a, b = self.current(a_id), self.current(b_id)
        examples, basis = new_inbox_examples(a.manifest.get("inputs", {}), b.manifest.get("inputs", {}))
        corrections = []
        if examples:
            texts = [e["text"] for e in examples]
            corrections = reviewed_corrections(examples, self.parses(a, texts), self.parses(b, texts))
        return compare(a.id, a.evaluation, b.id, b.evaluation, corrections, basis)

    def parses(self, record: ModelRecord, texts: list[str]) -> list[dict]:
        """The model's parse of each text ({intent, confidence, entities}), for messages outside the
        test set (a comparison's reviewed corrections). Kept with the evaluation, so comparing again
        (the console page, the CLI after it) loads no model; a new evaluation starts afresh."""
        evaluation = self.get(record.id).evaluation or {}
        kept = evaluation.get("parses", {})
        missing = [text for text in dict.fromkeys(texts) if text not in kept]
        if missing:
            predictions = self.parser(self.verify(record.id).path, missing)
            kept = {**kept, **{text: {"intent": p.intent, "confidence": p.confidence,
                                      "entities": [list(e) for e in p.entities]}
                               for text, p in zip(missing, predictions, strict=True)}}
            latest = self.get(record.id).evaluation or {}
            # Kept only with the evaluation they were made beside (one made meanwhile starts afresh),
            # and not through _store_evaluation: the figures were not measured again (evaluated_at).
            if evaluation and latest.get("evaluated_at") == evaluation.get("evaluated_at"):
                with self.engine.begin() as connection:
                    connection.execute(model_records.update().where(model_records.c.id == record.id).values(
                        evaluation=json.dumps({**latest, "parses": {**latest.get("parses", {}), **kept}})))
                self._write_manifest(self.get(record.id))
        return [kept[text] for text in texts]

    def train(self, by: str, inputs: TrainingInputs | None = None, **options) -> ModelRecord:
        """See antrean.model_registry.training.train."""
        from antrean.model_registry.training import train

        return train(self, by, inputs, **options)

    # --- pruning -------------------------------------------------------------------------------

    def prune(self, keep: int, by: str) -> list[str]:
        """Deletes the files of all but the `keep` newest models; the live model and the one a
        rollback would return to are always kept. Rows stay (the history names them)."""
        if keep < 0:
            raise ModelRegistryError("--keep must be 0 or more")
        stack = self._stack(self.history())
        protected = set(stack[-2:])
        present = self.all()
        kept = {r.id for r in present[:keep]} | protected
        pruned = []
        for record in present:
            if record.id in kept:
                continue
            with self.engine.begin() as connection:
                connection.execute(model_records.update().where(model_records.c.id == record.id)
                                   .values(pruned_at=to_db_time(self.clock())))
            record.path.unlink(missing_ok=True)
            record.path.with_name(f"{record.id}.json").unlink(missing_ok=True)
            pruned.append(record.id)
        if pruned:
            self.audit.record(by[:40], "model.pruned", target=f"{len(pruned)} models", models=pruned, keep=keep)
        return pruned

    # --- helpers -------------------------------------------------------------------------------

    def _new_id(self, now: datetime, data_fingerprint: str) -> str:
        base = f"{to_db_time(now):%Y%m%dT%H%M%SZ}-{data_fingerprint[:8]}"
        with self.engine.connect() as connection:
            taken = set(connection.execute(select(model_records.c.id).where(model_records.c.id.like(f"{base}%")))
                        .scalars())
        candidate, n = base, 1
        while candidate in taken or (self.models_dir / f"{candidate}.tar.gz").exists():
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _record(self, row) -> ModelRecord:
        return ModelRecord(
            id=row.id, path=self.models_dir / row.file_name, sha256=row.sha256, size_bytes=row.size_bytes,
            created_at=from_db_time(row.created_at), trained_by=row.trained_by,
            training_seconds=row.training_seconds, data_fingerprint=row.data_fingerprint,
            rasa_version=row.rasa_version, git_revision=row.git_revision, manifest=json.loads(row.manifest),
            evaluation=json.loads(row.evaluation) if row.evaluation else None,
            evaluated_at=from_db_time(row.evaluated_at), pruned_at=from_db_time(row.pruned_at))
