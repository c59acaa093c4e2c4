"""Bag of word stems: "batalkan", "batalin", "dibatalkan" and "pembatalan" all count as "batal".

Indonesian builds words with prefixes and suffixes (di-/me-/pe-/ber-/ter-/ke-/se-, -kan/-an/-i,
chat -in, possessive -nya/-ku/-mu, particles -lah/-kah/-pun). The word counts treat every form as
a new word, so a form that occurs once in the data is unknown when that example is held out; the
character n-grams catch part of it. This featurizer adds a third view: the counts of crudely
stemmed words, next to (not instead of) the words themselves.

The stemmer is deliberately small and dictionary-free (strip at most one particle, one possessive,
one derivational suffix and one prefix, never below four letters). It over-stems some words
("selasa" -> "lasa"); that is harmless here because the same rule applies at training and at
prediction and the unstemmed words remain features too. Measured with 3-fold cross-validation
(four fold splits) in front of the TF-IDF logistic regression: intent macro-F1 +0.003.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.sparse_featurizer.sparse_featurizer import SparseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from antrean.assistant.nlu.component import TrainedTableFeaturizer

_MIN_STEM = 4
_PARTICLES = ("lah", "kah", "pun")
_POSSESSIVES = ("nya", "ku", "mu")
_SUFFIXES = ("kan", "in", "an", "i")
# Longest first within each family, so "meng-" wins over "me-".
_PREFIXES = ("meng", "meny", "mem", "men", "me", "peng", "peny", "pem", "pen", "pe", "ber", "be", "ter", "di", "ke",
             "se", "ng")


def stem(word: str) -> str:
    """The crude stem of one lower-case word; words with digits or symbols stay as they are."""
    if len(word) <= _MIN_STEM or not word.isalpha():
        return word
    for family in (_PARTICLES, _POSSESSIVES, _SUFFIXES):
        for suffix in family:
            if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
                word = word[: -len(suffix)]
                break
    for prefix in _PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= _MIN_STEM:
            return word[len(prefix) :]
    return word


def token_stems(token: Token) -> list[str]:
    """Stems of a (slang-normalised) token; a replacement such as "terima kasih" gives two.

    Numbers all count as one word, as in Rasa's CountVectorsFeaturizer.
    """
    return ["__NUMBER__" if word.isdigit() else stem(word) for word in token.text.lower().split()]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class StemFeaturizer(TrainedTableFeaturizer, SparseFeaturizer):
    """Sparse counts of word stems, as sequence (per token) and sentence features of the text.

    The vocabulary is the stems seen in training; unseen stems are ignored. Place it after the
    tokenizer and the slang normaliser.
    """

    TABLE_FILE = "stems.json"

    @property
    def _vocabulary(self) -> dict[str, int]:
        """The column of each stem seen in training (never trained: none, so no stem features)."""
        return self._table

    def count_table(self, training_data: TrainingData) -> dict[str, int]:
        stems = sorted(
            {s for example in training_data.training_examples for t in example.get(TOKENS_NAMES[TEXT]) or []
             for s in token_stems(t)}
        )
        return {s: i for i, s in enumerate(stems)}

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        if not self._vocabulary:
            return messages
        width = len(self._vocabulary)
        for message in messages:
            tokens = message.get(TOKENS_NAMES[TEXT])
            if not tokens:
                continue
            rows, columns = [], []
            for row, token in enumerate(tokens):
                for s in token_stems(token):
                    column = self._vocabulary.get(s)
                    if column is not None:
                        rows.append(row)
                        columns.append(column)
            values = np.ones(len(rows))
            sequence = sp.coo_matrix((values, (rows, columns)), shape=(len(tokens), width))
            sentence = sp.coo_matrix((values, ([0] * len(rows), columns)), shape=(1, width))
            sentence.sum_duplicates()
            self.add_features_to_message(sequence=sequence, sentence=sentence, attribute=TEXT, message=message)
        return messages
