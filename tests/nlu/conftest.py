"""Builders shared by the NLU component tests: real Rasa objects, no training."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer


@pytest.fixture
def create_component(tmp_path):
    """Creates a GraphComponent the way the Rasa graph does (`create` with merged config)."""
    # The storage directory must exist for trainable components to persist into it.
    (tmp_path / "model").mkdir()
    storage = LocalModelStorage(tmp_path / "model")
    context = ExecutionContext(GraphSchema({}), "test")

    def create(component_class, **config: Any):
        merged = {**component_class.get_default_config(), **config}
        return component_class.create(merged, storage, Resource(component_class.__name__), context)

    return create


@pytest.fixture
def tokenizer() -> WhitespaceTokenizer:
    # Same settings as config.yml: '#' separates tokens as well as whitespace.
    config = {**WhitespaceTokenizer.get_default_config(), "token_pattern": "[^#]+"}
    return WhitespaceTokenizer(config)
