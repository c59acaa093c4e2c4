"""TfidfIntentClassifier: sublinear TF-IDF per featurizer, then a logistic regression."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression

from antrean.assistant.nlu.message_shape import MessageShapeFeaturizer
from antrean.assistant.nlu.tfidf_classifier import TfidfIntentClassifier, smoothed_idf, tfidf_row

EXAMPLES = {
    "register": ["mau daftar antrean paspor", "daftar paspor baru", "saya mau daftar antrian", "ambil nomor antrean",
                 "mau booking antrean paspor", "daftar antrean dong"],
    "ask_fee": ["biaya paspor berapa", "berapa harga paspor", "bayar berapa kak", "tarif paspor elektronik",
                "biayanya berapa ya", "harga e-paspor berapa"],
    "greet": ["halo min", "selamat pagi", "hai kak", "assalamualaikum", "pagi min", "halo selamat siang"],
}


def message(text: str, intent: str | None = None) -> Message:
    data = {TEXT: text}
    if intent:
        data[INTENT] = intent
    return Message(data=data)


@pytest.fixture
def pipeline(create_component, tokenizer):
    """Tokenizer, word counts and shape features as in config.yml, trained on EXAMPLES."""
    words = create_component(CountVectorsFeaturizer)
    shape = create_component(MessageShapeFeaturizer)
    training_data = TrainingData([message(t, intent) for intent, texts in EXAMPLES.items() for t in texts])
    tokenizer.process_training_data(training_data)
    for featurizer in (words, shape):
        featurizer.train(training_data)
        featurizer.process_training_data(training_data)

    def featurize(*texts: str) -> list[Message]:
        messages = [message(t) for t in texts]
        tokenizer.process(messages)
        words.process(messages)
        shape.process(messages)
        return messages

    return training_data, featurize


def test_the_tfidf_rows_are_scikit_learns_sublinear_tfidf():
    counts = sp.csr_matrix(np.array([[3, 0, 1, 0], [0, 2, 1, 0], [1, 1, 0, 5], [0, 0, 2, 0]], dtype=float))
    reference = TfidfTransformer(sublinear_tf=True).fit(counts)

    idf = smoothed_idf(np.diff(counts.tocsc().indptr).astype(float), counts.shape[0])
    assert np.allclose(idf, reference.idf_)
    expected = reference.transform(counts).toarray()
    for i in range(counts.shape[0]):
        row = counts.getrow(i)
        columns, values = tfidf_row(row.indices, row.data, idf)
        dense = np.zeros(counts.shape[1])
        dense[columns] = values
        assert np.allclose(dense, expected[i])


def test_a_repeated_column_is_counted_once_with_its_summed_count():
    idf = np.ones(3)

    columns, values = tfidf_row(np.array([2, 0, 2]), np.array([1.0, 1.0, 1.0]), idf)

    assert columns.tolist() == [0, 2]
    assert values[1] > values[0]  # tf 2 against tf 1
    assert np.isclose(np.linalg.norm(values), 1.0)


def test_it_learns_the_intents_and_ranks_every_candidate(pipeline, create_component):
    training_data, featurize = pipeline
    classifier = create_component(TfidfIntentClassifier)
    classifier.train(training_data)

    parsed = classifier.process(featurize("saya mau daftar paspor", "berapa biayanya min", "halo kak"))

    assert [m.get(INTENT)["name"] for m in parsed] == ["register", "ask_fee", "greet"]
    for m in parsed:
        ranking = m.get(INTENT_RANKING_KEY)
        confidences = [r["confidence"] for r in ranking]
        assert {r["name"] for r in ranking} == set(EXAMPLES)
        assert confidences == sorted(confidences, reverse=True)
        assert np.isclose(sum(confidences), 1.0)
        assert ranking[0] == m.get(INTENT)
        assert ranking[0]["confidence"] > 0.5


def test_the_ranking_can_be_shortened(pipeline, create_component):
    training_data, featurize = pipeline
    classifier = create_component(TfidfIntentClassifier, ranking_length=2)
    classifier.train(training_data)

    (parsed,) = classifier.process(featurize("daftar antrean"))

    assert len(parsed.get(INTENT_RANKING_KEY)) == 2


def test_its_probabilities_are_the_logistic_regression_on_the_tfidf_matrix(pipeline, create_component):
    training_data, featurize = pipeline
    classifier = create_component(TfidfIntentClassifier, C=5.0)
    classifier.train(training_data)
    examples = training_data.intent_examples
    reference = LogisticRegression(C=5.0, class_weight="balanced", max_iter=2000, random_state=42).fit(
        classifier._matrix(examples), [e.get(INTENT) for e in examples]
    )
    messages = featurize("mau daftar", "harga paspor", "selamat malam", "kata yang tidak dikenal")

    ours = classifier.predict_proba(messages)

    assert classifier.classes == list(reference.classes_)
    assert np.allclose(ours, reference.predict_proba(classifier._matrix(messages)), atol=1e-6)


def test_a_loaded_model_predicts_exactly_like_the_trained_one(pipeline, create_component, tmp_path):
    training_data, featurize = pipeline
    classifier = create_component(TfidfIntentClassifier)
    classifier.train(training_data)
    messages = featurize("mau daftar antrean", "biaya berapa", "hai")

    loaded = TfidfIntentClassifier.load(
        {**TfidfIntentClassifier.get_default_config()}, classifier._model_storage, classifier._resource, None
    )

    assert loaded.classes == classifier.classes
    assert np.array_equal(loaded.predict_proba(messages), classifier.predict_proba(messages))


def test_a_message_without_some_features_is_still_classified(pipeline, create_component):
    training_data, _ = pipeline
    classifier = create_component(TfidfIntentClassifier)
    classifier.train(training_data)
    bare = message("daftar paspor")  # no featurizer has run: every block is missing

    (parsed,) = classifier.process([bare])

    assert parsed.get(INTENT)["name"] in EXAMPLES
    assert np.isclose(sum(r["confidence"] for r in parsed.get(INTENT_RANKING_KEY)), 1.0)


def test_an_untrained_classifier_leaves_messages_alone(create_component):
    classifier = create_component(TfidfIntentClassifier)
    untouched = message("halo")

    classifier.process([untouched])

    assert untouched.get(INTENT) is None
