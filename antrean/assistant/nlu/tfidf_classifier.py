"""Intent classification: logistic regression over sublinear TF-IDF of the featurizers' output.

Rasa's own LogisticRegressionClassifier feeds raw counts to the regression. With raw counts a
long message weighs more than a short one and a character n-gram that occurs in half of all
messages ("an", "a ") counts as much as a rare, telling one; that hurts most on this data, where
a third of the messages are one to three words. This classifier re-weights each featurizer's
sentence features the way text classification usually does:

- every *sparse* block (one per featurizer: word counts, character n-grams, regex and lookup
  matches) becomes sublinear TF-IDF (1 + log tf, times the smoothed idf learnt on the training
  data) and is L2-normalised on its own, so each featurizer contributes a vector of length 1
  whatever the message length;
- *dense* blocks (the message-shape features) are used as they are;
- a multinomial logistic regression with class-balanced weights and weaker regularisation (C=30,
  TF-IDF rows being much smaller than counts) is trained on the result.

Measured with 3-fold cross-validation on this data (same featurizers): intent macro-F1 about
+0.02 over raw counts with Rasa's C=1, more than word bigrams, other character ranges or a
linear SVM gave. Prediction is one sparse dot product, so parsing stays as fast as before.
The model is persisted as plain arrays (numpy .npz + JSON), not as a pickle.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers import LABEL_RANKING_LENGTH
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.nlu.constants import (
    FEATURE_TYPE_SENTENCE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.linear_model import LogisticRegression

from antrean.assistant.nlu.component import with_defaults

logger = logging.getLogger(__name__)

_ARRAYS_FILE = "model.npz"
_SPEC_FILE = "model.json"


@dataclass(frozen=True)
class Block:
    """The sentence features one featurizer adds to the text, identified by its origin."""

    origin: str
    sparse: bool
    width: int


def sentence_blocks(message: Message) -> dict[tuple[str, bool], tuple[np.ndarray, np.ndarray, int]]:
    """The sentence features of the message text, by (origin, is sparse).

    Each block is (column indices, values, width) of its single row, zeros left out.
    """
    blocks: dict[tuple[str, bool], tuple[np.ndarray, np.ndarray, int]] = {}
    for features in message.features:
        if features.attribute != TEXT or features.type != FEATURE_TYPE_SENTENCE:
            continue
        if features.is_sparse():
            row = features.features.tocoo()
            columns, values = row.col.astype(np.int64), row.data.astype(np.float64)
        else:
            dense = np.asarray(features.features, dtype=np.float64).ravel()
            columns = np.flatnonzero(dense)
            values = dense[columns]
        keep = values != 0
        width = features.features.shape[-1]
        blocks[(str(features.origin), features.is_sparse())] = (columns[keep], values[keep], width)
    return blocks


def tfidf_row(columns: np.ndarray, counts: np.ndarray, idf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row of sublinear TF-IDF, L2-normalised: (1 + ln tf) * idf / norm.

    A column may occur twice in a sentence feature (COO); such duplicates are summed first.
    """
    if columns.size == 0:
        return columns, counts
    columns, inverse = np.unique(columns, return_inverse=True)
    counts = np.bincount(inverse, weights=counts)
    # Counts and regex matches are >= 1; a word seen five times is not five times as telling.
    values = (1.0 + np.log(np.maximum(counts, 1.0))) * idf[columns]
    norm = np.sqrt(np.dot(values, values))
    return columns, values / norm if norm > 0 else values


def smoothed_idf(document_frequency: np.ndarray, documents: int) -> np.ndarray:
    """scikit-learn's smooth idf: ln((1 + n) / (1 + df)) + 1."""
    return np.log((1.0 + documents) / (1.0 + document_frequency)) + 1.0


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfIntentClassifier(GraphComponent, IntentClassifier):
    """Logistic regression over per-featurizer sublinear TF-IDF (see the module docstring).

    Config: `C` (inverse regularisation, default 30), `max_iter`, `tol`, `random_state`,
    `ranking_length` (intents in the ranking, default 10, 0 = all).
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"C": 30.0, "max_iter": 2000, "tol": 1e-4, "random_state": 42, "ranking_length": LABEL_RANKING_LENGTH}

    @classmethod
    def required_components(cls) -> list[type]:
        return [Featurizer]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        blocks: list[Block] | None = None,
        idfs: dict[str, np.ndarray] | None = None,
        classes: list[str] | None = None,
        coefficients: np.ndarray | None = None,
        intercepts: np.ndarray | None = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._blocks = blocks or []
        self._idfs = idfs or {}
        self._classes = classes or []
        # Stored transposed (features x intents) so that a sparse row times it is one product.
        self._weights = coefficients.T.copy() if coefficients is not None else None
        self._intercepts = intercepts

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TfidfIntentClassifier:
        return cls(with_defaults(cls, config), model_storage, resource)

    # --- features

    def _row(self, message: Message) -> tuple[np.ndarray, np.ndarray]:
        """The message as (columns, values) in the block layout learnt at training.

        Training and prediction both go through here, so they cannot disagree; a block the
        message lacks (or of another width than at training) contributes nothing.
        """
        blocks = sentence_blocks(message)
        all_columns, all_values = [], []
        offset = 0
        for block in self._blocks:
            found = blocks.get((block.origin, block.sparse))
            if found is not None and found[2] == block.width:
                columns, values, _ = found
                if block.sparse:
                    columns, values = tfidf_row(columns, values, self._idfs[block.origin])
                all_columns.append(columns + offset)
                all_values.append(values)
            offset += block.width
        if not all_columns:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(all_columns), np.concatenate(all_values)

    @property
    def _width(self) -> int:
        return sum(block.width for block in self._blocks)

    def _matrix(self, messages: list[Message]) -> sp.csr_matrix:
        rows = [self._row(m) for m in messages]
        indptr = np.cumsum([0] + [len(columns) for columns, _ in rows])
        columns = np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, dtype=np.int64)
        values = np.concatenate([v for _, v in rows]) if rows else np.zeros(0)
        return sp.csr_matrix((values, columns, indptr), shape=(len(messages), self._width))

    # --- training

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        labels = [e.get(INTENT) for e in examples]
        if len(set(labels)) < 2:
            logger.debug("TfidfIntentClassifier: fewer than two intents in the data, nothing to train.")
            return self._resource

        widths: dict[tuple[str, bool], int] = {}
        for example in examples:
            for key, (_, _, width) in sentence_blocks(example).items():
                widths.setdefault(key, width)
        # Sparse blocks first, then dense, each by origin: a fixed, reproducible column order.
        self._blocks = [Block(origin, sparse, widths[(origin, sparse)]) for origin, sparse in sorted(
            widths, key=lambda key: (not key[1], key[0]))]
        self._idfs = {}
        for block in self._blocks:
            if block.sparse:
                document_frequency = np.zeros(block.width)
                for example in examples:
                    found = sentence_blocks(example).get((block.origin, True))
                    if found is not None and found[2] == block.width:
                        document_frequency[np.unique(found[0])] += 1
                self._idfs[block.origin] = smoothed_idf(document_frequency, len(examples))

        model = LogisticRegression(
            C=self._config["C"],
            class_weight="balanced",
            max_iter=self._config["max_iter"],
            tol=self._config["tol"],
            random_state=self._config["random_state"],
            solver="lbfgs",
            multi_class="multinomial",
        )
        model.fit(self._matrix(examples), labels)
        self._classes = [str(c) for c in model.classes_]
        self._weights = model.coef_.T.copy()
        self._intercepts = model.intercept_.copy()
        self._persist()
        return self._resource

    def _persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(
                directory / _ARRAYS_FILE,
                coefficients=self._weights.T,
                intercepts=self._intercepts,
                **{f"idf_{i}": self._idfs[b.origin] for i, b in enumerate(self._blocks) if b.sparse},
            )
            spec = {"classes": self._classes, "blocks": [[b.origin, b.sparse, b.width] for b in self._blocks]}
            (directory / _SPEC_FILE).write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TfidfIntentClassifier:
        config = with_defaults(cls, config)
        try:
            with model_storage.read_from(resource) as directory:
                spec = json.loads((directory / _SPEC_FILE).read_text(encoding="utf-8"))
                with np.load(directory / _ARRAYS_FILE, allow_pickle=False) as arrays:
                    blocks = [Block(origin, bool(sparse), int(width)) for origin, sparse, width in spec["blocks"]]
                    idfs = {b.origin: arrays[f"idf_{i}"] for i, b in enumerate(blocks) if b.sparse}
                    return cls(
                        config, model_storage, resource, blocks, idfs, spec["classes"],
                        arrays["coefficients"], arrays["intercepts"],
                    )
        except ValueError:
            logger.debug("TfidfIntentClassifier: no trained model in the storage; it will predict nothing.")
            return cls(config, model_storage, resource)

    # --- prediction

    def predict_proba(self, messages: list[Message]) -> np.ndarray:
        """Intent probabilities, one row per message, columns in the order of `classes`."""
        logits = np.tile(self._intercepts, (len(messages), 1))
        for i, message in enumerate(messages):
            # A handful of non-zero features per message: index the weights directly instead
            # of building a sparse matrix (that costs milliseconds per parse in scipy overhead).
            columns, values = self._row(message)
            logits[i] += values @ self._weights[columns]
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    @property
    def classes(self) -> list[str]:
        return list(self._classes)

    def process(self, messages: list[Message]) -> list[Message]:
        if self._weights is None or not messages:
            return messages
        for message, row in zip(messages, self.predict_proba(messages), strict=True):
            ranking = [
                {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: float(p)}
                for name, p in zip(self._classes, row, strict=True)
            ]
            ranking.sort(key=lambda entry: -entry[PREDICTED_CONFIDENCE_KEY])
            message.set(INTENT, ranking[0], add_to_output=True)
            if self._config["ranking_length"] > 0:
                ranking = ranking[: self._config["ranking_length"]]
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
