"""MessageShapeFeaturizer: unseen-word share (leave-one-out in training), capitals, length, '?'."""

from __future__ import annotations

import numpy as np
import pytest
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from antrean.assistant.nlu.message_shape import FEATURE_NAMES, MessageShapeFeaturizer
from antrean.assistant.nlu.slang import SlangNormalizer


def shape_of(message: Message) -> dict[str, float]:
    (features,) = [f for f in message.features if f.type == FEATURE_TYPE_SENTENCE]
    return dict(zip(FEATURE_NAMES, features.features.ravel().tolist(), strict=True))


@pytest.fixture
def trained(create_component, tokenizer):
    featurizer = create_component(MessageShapeFeaturizer)
    training_data = TrainingData(
        [
            Message(data={TEXT: "mau daftar paspor", INTENT: "register"}),
            Message(data={TEXT: "daftar paspor baru", INTENT: "register"}),
            Message(data={TEXT: "halo admin", INTENT: "greet"}),
        ]
    )
    tokenizer.process_training_data(training_data)
    featurizer.train(training_data)
    return featurizer, training_data


def tokenised(tokenizer, text: str) -> Message:
    message = Message(data={TEXT: text})
    tokenizer.process([message])
    return message


def test_a_bare_unknown_name_is_all_unseen_and_all_capitals(trained, tokenizer):
    featurizer, _ = trained
    message = tokenised(tokenizer, "Gede Arya Wiguna")

    featurizer.process([message])

    assert shape_of(message) == pytest.approx({"unseen": 1.0, "title": 1.0, "length": 0.3, "question": 0.0})


def test_known_words_question_mark_and_length_cap(trained, tokenizer):
    featurizer, _ = trained
    message = tokenised(tokenizer, "mau daftar paspor baru atau perpanjang dulu ya min kalau bisa hari ini?")

    featurizer.process([message])

    shape = shape_of(message)
    assert shape["unseen"] == pytest.approx(9 / 13)  # mau, daftar, paspor, baru are known
    assert shape["title"] == 0.0
    assert shape["length"] == 1.0  # 13 words, capped at 10
    assert shape["question"] == 1.0


def test_in_training_each_example_is_measured_against_the_others(trained):
    featurizer, training_data = trained

    featurizer.process_training_data(training_data)

    unseen = [shape_of(m)["unseen"] for m in training_data.training_examples]
    # "mau" occurs only in the first example, "baru" only in the second; "halo admin" is alone.
    assert unseen == pytest.approx([1 / 3, 1 / 3, 1.0])


def test_only_a_sentence_feature_is_added(trained, tokenizer):
    featurizer, _ = trained
    message = tokenised(tokenizer, "halo")

    featurizer.process([message])

    assert [f.type for f in message.features] == [FEATURE_TYPE_SENTENCE]
    assert not [f for f in message.features if f.type == FEATURE_TYPE_SEQUENCE]


def test_slang_counts_as_the_standard_word_but_capitals_come_from_the_text(trained, tokenizer, create_component):
    featurizer, _ = trained
    message = tokenised(tokenizer, "sy mo DAFTAR pspor")
    create_component(SlangNormalizer).process([message])

    featurizer.process([message])

    shape = shape_of(message)
    assert shape["unseen"] == pytest.approx(1 / 4)  # saya is unseen; mau, daftar, paspor are known
    assert shape["title"] == pytest.approx(1 / 4)


def test_the_frequencies_survive_persistence(trained, tokenizer):
    featurizer, _ = trained
    loaded = MessageShapeFeaturizer.load(
        MessageShapeFeaturizer.get_default_config(), featurizer._model_storage, featurizer._resource,
        _Context("shape"),
    )
    first, second = tokenised(tokenizer, "daftar paspor sekarang"), tokenised(tokenizer, "daftar paspor sekarang")

    featurizer.process([first])
    loaded.process([second])

    assert np.array_equal(first.features[0].features, second.features[0].features)
    assert shape_of(second)["unseen"] == pytest.approx(1 / 3)


class _Context:
    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
