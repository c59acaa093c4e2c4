"""The maintainers' loop: every trained model kept as a record, evaluated on a test set no model
is trained on, compared with the live one, and made live only through a gate.

Use (pure Python + SQLAlchemy; Rasa is imported only inside training and evaluation)::

    from antrean.model_registry import open_registry

    registry = open_registry()              # settings: database, ANTREAN_MODELS_DIR, ANTREAN_GATE_*
    live = registry.live_model()            # ModelRecord | None: .id, .path, .sha256 (e.g. an ETag)
    record = registry.train(by="budi")      # validate, train (child process, one at a time), evaluate, keep
    record = registry.evaluate(record.id)   # again, e.g. after the test set grew
    verdict = registry.gate(record.id)      # against the live model: .passed, .reasons (code, text, facts)
    registry.compare(live.id, record.id).write()   # results/models/<A>-vs-<B>.md + confusion PNG
    registry.promote(record.id, by="budi")  # PromotionRefused(verdict) unless it passes...
    registry.promote(record.id, by="admin", override_reason="…")  # ...or an admin overrides (audited)
    registry.rollback(by="admin")           # the model live before the current one
    registry.prune(keep=5, by="admin")      # files of older models; live and rollback target stay
    training_status(registry.models_dir)    # running? since, by, pid, log (its tail for a page)

Modules:
- `schema.py`: tables `model_records` and `model_promotions` (migration 0010);
- `registry.py`: `ModelRegistry` (records, files, live model, promotions, rollback, pruning) and
  the errors (`ModelRegistryError` and its kinds: `UnknownModel`, `ModelFileProblem`,
  `PromotionRefused`, `NothingToRollBack`, `ConcurrentChange`);
- `training.py`: `train` (the lock, the child process `job.py`, `TrainingRunning`,
  `InvalidTrainingData`, `TrainingFailed`, `TrainingStopped`) and `training_status`;
- `inputs.py`: what a model is trained from (fingerprint, examples per intent, hashes, git, Rasa);
- `validation.py`: Rasa's data validation, and the warning rule `make validate` shares;
- `testset.py`: the test set (tests/nlu_test_set/) and the rule that holds reviewed examples out;
- `evaluation.py`: the figures (`evaluate_model` with Rasa; the metrics are pure functions);
- `compare.py`: two evaluations side by side, Markdown and picture;
- `gate.py`: the verdict and its settings (`ANTREAN_GATE_*`);
- `commands.py`: `python -m antrean model …`.

`evaluate`, and `gate`/`compare`/`promote` when a stored evaluation predates the current test set,
load the model with Rasa in the calling process (10–60 s on 2 busy cores) and run their own event
loop: call them from a worker thread or a child process (e.g. `python -m antrean model …`), never
on a server's event loop. `train` always works in a child process and blocks until it is done.

Promotion, override, rollback and pruning are written to the console's audit log
(`model.promoted`, `model.promotion_overridden`, `model.rolled_back`, `model.pruned`). Who may
override is the caller's decision (the console: admins; the CLI: whoever runs it, recorded)."""

from __future__ import annotations

from collections.abc import Mapping

from antrean.model_registry.gate import GateSettings, Verdict
from antrean.model_registry.registry import (
    ConcurrentChange,
    ModelFileProblem,
    ModelRecord,
    ModelRegistry,
    ModelRegistryError,
    NothingToRollBack,
    PromotionRefused,
    UnknownModel,
)
from antrean.model_registry.training import (
    InvalidTrainingData,
    TrainingFailed,
    TrainingRunning,
    TrainingStatus,
    TrainingStopped,
    training_status,
)
from antrean.runtime.settings import Settings, resolve

__all__ = [
    "ConcurrentChange", "GateSettings", "InvalidTrainingData", "ModelFileProblem", "ModelRecord", "ModelRegistry",
    "ModelRegistryError", "NothingToRollBack", "PromotionRefused", "TrainingFailed", "TrainingRunning",
    "TrainingStatus", "TrainingStopped", "UnknownModel", "Verdict", "open_registry", "training_status",
]


def open_registry(settings: Settings | Mapping[str, str] | None = None, engine=None) -> ModelRegistry:
    """The registry of this installation (its tables are in the booking database). Pass `engine` to
    share one the caller already has."""
    from antrean.runtime.clock import clock_from_env
    from antrean.runtime.db import make_engine

    settings = resolve(settings)
    return ModelRegistry(engine or make_engine(settings.database_url), settings.models.models_dir,
                         clock_from_env(settings), gate_settings=GateSettings.from_settings(settings.models))
