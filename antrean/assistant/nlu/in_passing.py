"""Details an applicant gives in passing, so that a later question is not asked again.

"paspor saya hilang, mau daftar antrian buat ganti" is said as a registration, but it already
settles the question of which application: a lost or damaged passport is replaced in person (BAP
interview, police report), not through the WhatsApp queue, and the applicant should hear that at
once instead of being asked "baru atau perpanjang?". Likewise "mau daftar, paspor saya sudah
habis" settles that it is a renewal, whatever the classifier made of the rest.

`read_in_passing` (pure, no Rasa) finds:

- a replacement case: a lost, stolen or damaged passport, or one whose data must change — only
  when the loss word is about the passport ("KTP saya hilang, mau daftar paspor" is not one) and not
  negated ("paspor saya tidak hilang");
- the kind of application, from phrases that leave no doubt ("paspor baru", "belum pernah punya
  paspor", "perpanjang", "paspor sudah habis"), not from a lone "baru" ("saya baru pindah").

`InPassingReader` runs after the intent classifiers and the LAW reader: a replacement case turns a
registration-like intent into `replace_passport` (answered by the replacement rules at once, in or
out of the form), and a kind of application becomes an `application_type` entity when the
entity extractor found none, which the slot mapping then fills like any other. Office and day
stated in passing are entities the extractor already learns (data/nlu/registration.yml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_TYPE,
    INTENT,
    INTENT_NAME_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from antrean.assistant.nlu.component import rule_entity, set_rule_intent, with_defaults

APPLICATION_TYPE = "application_type"

_PASSPORT = r"(?:e[\s\-]?)?(?:pasp[oa]r|pass?port|psprt|pspr|pasp)\w*"
_OTHER_DOCUMENT = r"(?:e[\s\-]?)?ktp|kk|kartu\s+keluarga|akta|akte|ijazah|buku\s+nikah|sim|stnk|dompet|hp|handphone"
_LOSS = (
    r"hilang|ilang|hlg|kehilangan|hilangkan|dicuri|kecurian|dicopet|kecopetan|dirampok|"
    r"rusak|rsk|robek|sobek|basah|kena\s+air|kebanjiran|terbakar|kebakar|hancur|lecek|luntur|"
    r"ganti\s+(?:nama|data)|ubah\s+(?:nama|data)|perubahan\s+(?:nama|data)"
)
_NEGATION = re.compile(r"(?:tidak|tdk|gak|nggak|ngga|ga|enggak|bukan|belum|blm)\s+(?:\w+\s+)?$", re.IGNORECASE)
_LOSS_WORD = re.compile(rf"(?<![^\W\d_])(?:{_LOSS})(?![^\W\d_])", re.IGNORECASE)
_DOCUMENT = re.compile(rf"(?<![^\W\d_])(?:(?P<passport>{_PASSPORT})|(?P<other>{_OTHER_DOCUMENT}))(?![^\W\d_])",
                       re.IGNORECASE)
# How far (in characters) a loss word may sit from the document it is about: "paspor saya yang
# lama hilang", "hilang paspornya".
_REACH = 40

_NEW = re.compile(
    rf"(?<![^\W\d_])(?:{_PASSPORT}\s+baru|baru\s+pertama(?:\s+kali)?|pertama\s+kali|"
    rf"belum\s+(?:pernah\s+)?(?:punya|ada|bikin|buat|membuat)\s+{_PASSPORT}|"
    rf"(?:bikin|buat|membuat|bkin)\s+{_PASSPORT}(?!\s+(?:lagi|ulang|kembali))|paspor\s+pertama)(?![^\W\d_])",
    re.IGNORECASE,
)
_RENEWAL = re.compile(
    rf"(?<![^\W\d_])(?:(?:mem)?perpanjang(?:an|kan)?|perpanjng|perpnjang|"
    rf"{_PASSPORT}(?:\s+(?:saya|sy|aku|lama|nya))?(?:\s+(?:sudah|udah|sdh|dah|mau|akan|hampir))?\s+"
    rf"(?:habis|abis|expired?|kadaluarsa|kedaluwarsa|kadaluwarsa|mati))(?![^\W\d_])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Mention:
    what: str  # "replacement", or an application type: "new" / "renewal"
    start: int
    end: int


@dataclass(frozen=True)
class InPassing:
    replacement: Mention | None = None
    application_type: Mention | None = None


def read_in_passing(text: str) -> InPassing:
    replacement = _replacement(text)
    return InPassing(replacement, None if replacement else _application_type(text))


def _replacement(text: str) -> Mention | None:
    documents = list(_DOCUMENT.finditer(text))
    for loss in _LOSS_WORD.finditer(text):
        if _NEGATION.search(text[:loss.start()]):
            continue
        nearest = min(documents, default=None, key=lambda d: _distance(d, loss))
        if nearest is not None and nearest.group("passport") and _distance(nearest, loss) <= _REACH:
            return Mention("replacement", min(nearest.start(), loss.start()), max(nearest.end(), loss.end()))
    return None


def _distance(document: re.Match, loss: re.Match) -> int:
    # Before the loss word ("paspor saya hilang") reads more naturally than after ("hilang
    # paspornya"); a document after it counts a little farther.
    if document.end() <= loss.start():
        return loss.start() - document.end()
    return document.start() - loss.end() + 5 if document.start() >= loss.end() else 0


def _application_type(text: str) -> Mention | None:
    new, renewal = _NEW.search(text), _RENEWAL.search(text)
    if bool(new) == bool(renewal):
        return None  # neither, or both ("baru atau perpanjang?"): the question stays
    found = new or renewal
    return Mention("new" if new else "renewal", found.start(), found.end())


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=False,
)
class InPassingReader(GraphComponent, IntentClassifier, EntityExtractorMixin):
    """Place it after the LAW reader and before FallbackClassifier."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "replacement_intent": "replace_passport",
            # Intents a replacement case overrides: saying one wants to register (or giving
            # details, or asking what to bring) about a lost passport is the replacement question.
            "replaces": ["register", "inform", "priority_service", "ask_requirements", "greet", "out_of_scope"],
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self._replacement_intent = config["replacement_intent"]
        self._replaces = set(config["replaces"])

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> InPassingReader:
        return cls(with_defaults(cls, config))

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if not text or text.startswith("/"):
                continue  # a button's payload says exactly what it means
            found = read_in_passing(text)
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if found.replacement and intent in self._replaces:
                # Like the LAW reader: a deterministic reading is the only candidate, so the
                # fallback's ambiguity check cannot undo it.
                set_rule_intent(message, self._replacement_intent)
            elif found.application_type and not any(
                    e.get(ENTITY_ATTRIBUTE_TYPE) == APPLICATION_TYPE for e in message.get(ENTITIES, [])):
                mention = found.application_type
                entity = rule_entity(self.name, APPLICATION_TYPE, mention.start, mention.end, mention.what)
                message.set(ENTITIES, [*message.get(ENTITIES, []), entity], add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data  # nothing to learn; the annotations stay as written
