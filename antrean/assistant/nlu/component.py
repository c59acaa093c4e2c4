"""What Antrean's NLU components share, so that each module holds only what it does.

Rasa 3 builds a component with `create` (untrained, or one that learns nothing) or `load` (trained),
passing the node's config. Ours all fill in their defaults the same way (`with_defaults`), the
two featurizers whose whole training is one word table — the stems' vocabulary, the message shape's
document frequencies — keep it the same way in Rasa's model storage (`TrainedTableFeaturizer`), and
the two readers that decide by rule (the LAW format, details said in passing) set an intent and add
entities the same way (`set_rule_intent`, `rule_entity`)."""

from __future__ import annotations

import abc
import json
from typing import Any, ClassVar

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import ENTITY_ATTRIBUTE_CONFIDENCE_TYPE
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import (
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


def with_defaults(component: type[GraphComponent], config: dict[str, Any]) -> dict[str, Any]:
    """The component's default config overridden by what config.yml gives."""
    return {**component.get_default_config(), **config}


def set_rule_intent(message: Message, name: str) -> None:
    """Like Rasa's "/intent" payload handler: a reading by rule has confidence 1 and is the only
    candidate, so FallbackClassifier's ambiguity check cannot undo it."""
    intent = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: 1.0}
    message.set(INTENT, intent, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [dict(intent)], add_to_output=True)


def rule_entity(extractor: str, entity: str, start: int, end: int, value: Any) -> dict[str, Any]:
    """An entity found by rule, shaped as Rasa's extractors give theirs (confidence 1)."""
    return {ENTITY_ATTRIBUTE_TYPE: entity, ENTITY_ATTRIBUTE_START: start, ENTITY_ATTRIBUTE_END: end,
            ENTITY_ATTRIBUTE_VALUE: value, ENTITY_ATTRIBUTE_CONFIDENCE_TYPE: 1.0, EXTRACTOR: extractor}


def read_table(model_storage: ModelStorage, resource: Resource, filename: str) -> dict:
    """The table saved at training, or {} when the component was never trained (a pipeline
    trained without examples): no word is known, which every reader of these tables handles."""
    try:
        with model_storage.read_from(resource) as directory:
            return json.loads((directory / filename).read_text(encoding="utf-8"))
    except ValueError:  # Rasa's way of saying the resource does not exist
        return {}


def write_table(model_storage: ModelStorage, resource: Resource, filename: str, table: dict) -> None:
    with model_storage.write_to(resource) as directory:
        (directory / filename).write_text(json.dumps(table, ensure_ascii=False, sort_keys=True), encoding="utf-8")


class TrainedTableFeaturizer(Featurizer, GraphComponent):
    """A featurizer placed after the tokenizer whose training is one JSON table, `TABLE_FILE` in
    its resource. A subclass lists Rasa's SparseFeaturizer or DenseFeaturizer after this class, says
    how the table is counted from the training data (`count_table`) and adds the features
    (`process`); reading the table back (`load`) and its absence (never trained: {}) are here."""

    TABLE_FILE: ClassVar[str]

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        pass  # nothing to check beyond Rasa's featurizer settings

    def __init__(self, config: dict[str, Any], name: str, model_storage: ModelStorage, resource: Resource,
                 table: dict | None = None) -> None:
        super().__init__(name, config)
        self._model_storage = model_storage
        self._resource = resource
        self._table: dict = dict(table or {})

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> TrainedTableFeaturizer:
        return cls(with_defaults(cls, config), execution_context.node_name, model_storage, resource)

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> TrainedTableFeaturizer:
        table = read_table(model_storage, resource, cls.TABLE_FILE)
        return cls(with_defaults(cls, config), execution_context.node_name, model_storage, resource, table)

    def train(self, training_data: TrainingData) -> Resource:
        self._table = self.count_table(training_data)
        write_table(self._model_storage, self._resource, self.TABLE_FILE, self._table)
        return self._resource

    @abc.abstractmethod
    def count_table(self, training_data: TrainingData) -> dict:
        """The table learnt from the training examples (their tokens are set)."""
