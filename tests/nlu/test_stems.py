"""StemFeaturizer: crude Indonesian stems as an extra bag of words."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from antrean.assistant.nlu.slang import SlangNormalizer
from antrean.assistant.nlu.stems import StemFeaturizer, stem


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("batalkan", "batal"),
        ("dibatalkan", "batal"),
        ("membatalkan", "batal"),
        ("pembatalan", "batal"),
        ("batalin", "batal"),
        ("antreannya", "antre"),
        ("pendaftaran", "daftar"),
        ("berapakah", "rapa"),  # crude: ber- is taken for a prefix; harmless, applied everywhere alike
        ("paspor", "paspor"),
        ("kak", "kak"),  # too short to touch
        ("e-ktp", "e-ktp"),  # not purely letters
    ],
)
def test_affixes_are_stripped_but_never_below_four_letters(word, expected):
    assert stem(word) == expected


def featurized(featurizer, tokenizer, text: str) -> Message:
    message = Message(data={TEXT: text})
    tokenizer.process([message])
    featurizer.process([message])
    return message


@pytest.fixture
def featurizer(create_component, tokenizer):
    stems = create_component(StemFeaturizer)
    training_data = TrainingData(
        [
            Message(data={TEXT: "mau batalkan antrean", INTENT: "cancel_booking"}),
            Message(data={TEXT: "daftar antrean 2 orang", INTENT: "register"}),
        ]
    )
    tokenizer.process_training_data(training_data)
    stems.train(training_data)
    return stems


def vocabulary_columns(featurizer, message: Message) -> dict[str, float]:
    (sentence,) = [f for f in message.features if f.type == FEATURE_TYPE_SENTENCE]
    names = {column: stem_ for stem_, column in featurizer._vocabulary.items()}
    row = sentence.features.tocsr()
    return {names[c]: v for c, v in zip(row.indices, row.data, strict=True)}


def test_inflected_forms_share_one_feature_and_unknown_stems_are_ignored(featurizer, tokenizer):
    message = featurized(featurizer, tokenizer, "tolong dibatalkan antreannya, pembatalan segera")

    assert vocabulary_columns(featurizer, message) == {"batal": 2.0, "antre": 1.0}


def test_sequence_features_have_one_row_per_token(featurizer, tokenizer):
    message = featurized(featurizer, tokenizer, "batalin antrean 5")

    (sequence,) = [f for f in message.features if f.type == FEATURE_TYPE_SEQUENCE]
    assert sequence.features.shape == (3, len(featurizer._vocabulary))
    assert vocabulary_columns(featurizer, message) == {"batal": 1.0, "antre": 1.0, "__NUMBER__": 1.0}


def test_stems_are_taken_from_the_slang_normalised_tokens(featurizer, tokenizer, create_component):
    message = Message(data={TEXT: "btl antriannya"})
    tokenizer.process([message])
    create_component(SlangNormalizer).process([message])

    featurizer.process([message])

    # btl -> batal, antriannya -> antreannya (slang), then both stem like the training words.
    assert vocabulary_columns(featurizer, message) == {"batal": 1.0, "antre": 1.0}


def test_the_vocabulary_survives_persistence(featurizer, tokenizer):
    loaded = StemFeaturizer.load(
        StemFeaturizer.get_default_config(), featurizer._model_storage, featurizer._resource, _Context("stems")
    )

    message = featurized(loaded, tokenizer, "pembatalan antrean")

    assert vocabulary_columns(loaded, message) == {"batal": 1.0, "antre": 1.0}


class _Context:
    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
