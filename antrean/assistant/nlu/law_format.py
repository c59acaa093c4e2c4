"""The Rasa side of the LAW `#` registration format: `LawFormatClassifier` overrides intent and
entities for messages the pure reader (antrean/identity/law_format.py) recognises."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from antrean.assistant.nlu.component import rule_entity, set_rule_intent, with_defaults
from antrean.identity.law_format import LAW_ENTITY_TYPES, LawEntity, is_cancel_command, parse_law_message


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=False,
)
class LawFormatClassifier(GraphComponent, IntentClassifier, EntityExtractorMixin):
    """Sets intent and entities for LAW `#`-format messages; leaves other messages alone.

    Place it after DIET (and EntitySynonymMapper) and before FallbackClassifier, so that a
    recognised registration is never turned into a fallback.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"register_intent": "register", "cancel_intent": "cancel_booking"}

    def __init__(self, config: dict[str, Any]) -> None:
        self._register_intent = config["register_intent"]
        self._cancel_intent = config["cancel_intent"]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LawFormatClassifier:
        return cls(with_defaults(cls, config))

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if "#" not in text:
                continue
            if is_cancel_command(text):
                set_rule_intent(message, self._cancel_intent)
            elif (fields := parse_law_message(text)) is not None:
                set_rule_intent(message, self._register_intent)
                self._replace_entities(message, fields)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        # Nothing to learn or to add: the annotations in the training data already say what
        # this component would say, and DIET should still learn from them as written.
        return training_data

    def _replace_entities(self, message: Message, fields: tuple[LawEntity, ...]) -> None:
        # DIET's guesses for the same fields (or anything inside them, such as an office name
        # within the address) are dropped; unrelated ones (e.g. an office elsewhere) are kept.
        def overlaps(entity: dict[str, Any]) -> bool:
            return any(
                entity[ENTITY_ATTRIBUTE_START] < f.end and f.start < entity[ENTITY_ATTRIBUTE_END]
                for f in fields
            )

        kept = [
            e
            for e in message.get(ENTITIES, [])
            if e.get(ENTITY_ATTRIBUTE_TYPE) not in LAW_ENTITY_TYPES and not overlaps(e)
        ]
        ours = [rule_entity(self.name, f.entity, f.start, f.end, f.value) for f in fields]
        message.set(ENTITIES, kept + ours, add_to_output=True)
