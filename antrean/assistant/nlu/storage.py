"""A word table (JSON) kept in Rasa's model storage by the featurizers in this package."""

from __future__ import annotations

import json

from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage


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
