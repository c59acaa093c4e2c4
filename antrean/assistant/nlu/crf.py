"""Rasa's CRF entity extractor, keeping what it trained.

Rasa 3.6's CRFEntityExtractor stores only its training set in the model (crf_dataset.json) and
trains the CRFs again every time the model is loaded: with this assistant's data, ~8 s of CPU
on an idle core (38 s on a busy one) in every Rasa worker that starts, in every worker that takes
a promoted model, in every evaluation. This subclass also stores the trained taggers and loads
them, so a load is a file read. A model trained before it (no taggers file) is loaded the old way.

The taggers are pickled (sklearn-crfsuite pickles the crfsuite model file's bytes), as Rasa's own
scikit-learn components are: a model archive is trusted code-adjacent data, never user input."""

from __future__ import annotations

import pickle
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.crf_entity_extractor import CRFEntityExtractor, CRFToken
from rasa.shared.utils.io import read_json_file

TAGGERS_FILE = "crf_taggers.pkl"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class KeptCRFEntityExtractor(CRFEntityExtractor):
    def persist(self, dataset: list[list[CRFToken]]) -> None:
        super().persist(dataset)
        with self._model_storage.write_to(self._resource) as model_dir:
            (model_dir / TAGGERS_FILE).write_bytes(pickle.dumps(self.entity_taggers))

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> CRFEntityExtractor:
        try:
            with model_storage.read_from(resource) as model_dir:
                taggers = model_dir / TAGGERS_FILE
                if not taggers.exists():
                    return super().load(config, model_storage, resource, execution_context, **kwargs)
                extractor = cls(config, model_storage, resource, pickle.loads(taggers.read_bytes()))
                extractor.crf_order = read_json_file(model_dir / "crf_order.json")
                return extractor
        except ValueError:  # no resource: nothing was trained (no entity examples), as Rasa does
            return super().load(config, model_storage, resource, execution_context, **kwargs)
