"""KeptCRFEntityExtractor: the CRFs trained once are the ones loaded (Rasa's extractor trains
them again at every load), and they find the same entities."""

from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.nlu.extractors.crf_entity_extractor import CRFEntityExtractor
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from antrean.assistant.nlu.crf import TAGGERS_FILE, KeptCRFEntityExtractor

NAMES = ["Budi Santoso", "Siti Aminah", "Rina Wati", "Joko Susilo", "Putri Ayu", "Andi Wijaya", "Sri Rahayu",
         "Hendra Gunawan", "Maya Sari", "Rudi Hartono"]
DATES = ["17-08-1990", "02-01-1985", "05-05-1995", "11-11-2001", "23-04-1978"]
TRAINING = ([(f"nama saya {name}", [("person_name", name)]) for name in NAMES]
            + [(f"lahir {date}", [("birth_date", date)]) for date in DATES]
            + [(f"{name} lahir {date}", [("person_name", name), ("birth_date", date)])
               for name, date in zip(NAMES, DATES * 2, strict=True)]
            + [("mau daftar antrean", []), ("halo kak", [])])
UNSEEN = ["nama saya Dewi Lestari", "lahir 09-09-1999", "Agus Salim lahir 01-02-1980", "halo kak"]


def message(text: str, entities=()) -> Message:
    spans = [{"entity": kind, "value": value, "start": text.index(value), "end": text.index(value) + len(value)}
             for kind, value in entities]
    return Message(data={TEXT: text, INTENT: "register", ENTITIES: spans})


def found(extractor, pipeline, texts: list[str]) -> list[list[tuple]]:
    messages = [Message(data={TEXT: text}) for text in texts]
    for component in pipeline:
        component.process(messages)
    extractor.process(messages)
    return [[(e["entity"], e["value"], e["start"], e["end"]) for e in m.get(ENTITIES, [])] for m in messages]


@pytest.fixture
def pipeline(create_component, tokenizer):
    """What comes before the extractor in config.yml, in short: tokens, and features (Rasa's CRF
    trains only on messages that have some)."""
    return [tokenizer, create_component(CountVectorsFeaturizer)]


@pytest.fixture
def trained(create_component, pipeline):
    extractor = create_component(KeptCRFEntityExtractor)
    data = TrainingData([message(text, entities) for text, entities in TRAINING])
    tokenizer, featurizer = pipeline
    tokenizer.process_training_data(data)
    featurizer.train(data)
    featurizer.process_training_data(data)
    extractor.train(data)
    return extractor


def load(cls, extractor):
    return cls.load(extractor.component_config, extractor._model_storage, extractor._resource,
                    ExecutionContext(GraphSchema({}), "test"))


def test_loading_reads_the_trained_crfs_instead_of_training_again(trained, pipeline, monkeypatch):
    expected = found(trained, pipeline, UNSEEN)
    assert ("person_name", "Dewi Lestari", 10, 22) in expected[0]  # the CRF learnt something real

    def no_training(*_args, **_kwargs):
        raise AssertionError("the CRF was trained again on load")

    monkeypatch.setattr(CRFEntityExtractor, "train_model", no_training)
    loaded = load(KeptCRFEntityExtractor, trained)
    assert found(loaded, pipeline, UNSEEN) == expected
    assert loaded.crf_order == trained.crf_order


def test_it_finds_what_rasas_extractor_finds_after_its_retraining(trained, pipeline):
    # Rasa's own load trains the CRFs again from the stored dataset: same data, same entities.
    assert found(load(CRFEntityExtractor, trained), pipeline, UNSEEN) == found(trained, pipeline, UNSEEN)


def test_a_model_trained_before_it_is_loaded_the_old_way(trained, pipeline):
    with trained._model_storage.write_to(trained._resource) as folder:
        (folder / TAGGERS_FILE).unlink()
    assert found(load(KeptCRFEntityExtractor, trained), pipeline, UNSEEN) == found(trained, pipeline, UNSEEN)

