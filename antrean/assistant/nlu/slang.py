"""Slang normalisation for Indonesian WhatsApp messages.

Applicants write "sy mo daftar pspor gmn?" as often as "saya mau daftar paspor bagaimana?".
Mapping the chat forms onto one standard word lets the featurizers and DIET see a much
smaller vocabulary, so a few hundred training examples cover far more real messages.

The normaliser rewrites the *tokens* (their text and lemma), not the message text. It sits
right after the tokenizer, so every token keeps its character offsets into the original
message. That choice is deliberate:
- entity offsets from DIET and the LAW component point into the text the user actually sent,
  which is also the text Rasa stores in the tracker (`UserUttered.text`);
- training annotations need no offset shifting, and `rasa test nlu` (which aligns gold
  entities with the predicted tokens) stays correct;
- entity *values* are sliced from the original text, so names and addresses such as
  "Blok G" or "Gg. Yg Ketiga" are never corrupted by a rewrite.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

DEFAULT_LEXICON_PATH = Path(__file__).with_name("slang_id.tsv")

# A one-letter slang word ("g" = tidak, "y" = ya) is also a house block or unit letter in
# addresses ("Blok G No. 3"), so it is only rewritten when it cannot be one of those.
_ADDRESS_WORDS = frozenset(
    {"blok", "blk", "no", "nomor", "nmr", "gg", "gang", "rt", "rw", "kav", "kavling", "lt",
     "lantai", "tower", "unit", "tipe", "type", "ruko", "komp", "kompleks", "jl", "jln", "jalan"}
)
_HEADER = ("slang", "standard")


def load_lexicon(path: Path = DEFAULT_LEXICON_PATH) -> dict[str, str]:
    """Reads a two-column TSV lexicon (slang, standard) into a lowercase dict."""
    lexicon: dict[str, str] = {}
    for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != 2 or not columns[0].strip() or not columns[1].strip():
            raise ValueError(f"{path}:{line_number}: expected 'slang<TAB>standard', got {line!r}")
        slang, standard = columns[0].strip().lower(), columns[1].strip()
        if (slang, standard) == _HEADER:
            continue
        if " " in slang:
            # Tokens never contain spaces, so a multi-word key could never match.
            raise ValueError(f"{path}:{line_number}: slang key {slang!r} must be one word")
        lexicon[slang] = standard
    return lexicon


def normalise_word(word: str, previous: str | None, lexicon: Mapping[str, str]) -> str | None:
    """Returns the standard form of one chat word, or None when it stays as written.

    `previous` is the word before it (None at the start), used to protect address letters.
    """
    standard = lexicon.get(word.lower())
    if standard is None or standard == word:
        return None
    if len(word) == 1:
        # "G" / "Y" in capitals are almost always a block or unit letter, not slang.
        if not word.islower():
            return None
        if previous is not None and (
            previous.lower() in _ADDRESS_WORDS or any(ch.isdigit() for ch in previous)
        ):
            return None
    return _match_case(word, standard)


def _match_case(original: str, standard: str) -> str:
    # The lexical-syntactic featurizer looks at casing (upper/title/lower), so keep it.
    if len(original) > 1 and original.isupper():
        return standard.upper()
    if original[:1].isupper():
        return standard[:1].upper() + standard[1:]
    return standard


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class SlangNormalizer(GraphComponent):
    """Replaces Indonesian chat slang in the message tokens with standard words.

    Place it directly after the tokenizer. Config: `lexicon_path` (default: the bundled
    `slang_id.tsv`).
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"lexicon_path": None}

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        # Rasa caches the output of this node by its config; the lexicon lives outside the
        # config, so hash it in or an edited lexicon would silently reuse stale features.
        return hashlib.sha256(_lexicon_path(config).read_bytes()).hexdigest()

    def __init__(self, config: dict[str, Any], lexicon: Mapping[str, str]) -> None:
        self._config = config
        self._lexicon = lexicon

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SlangNormalizer:
        return cls(config, load_lexicon(_lexicon_path(config)))

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._normalise_message(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        # Training examples get exactly the same treatment as live messages; offsets are not
        # touched, so the entity annotations stay aligned with the tokens.
        for example in training_data.training_examples:
            self._normalise_message(example)
        return training_data

    def _normalise_message(self, message: Message) -> None:
        tokens: list[Token] | None = message.get(TOKENS_NAMES[TEXT])
        if not tokens:
            return
        normalised: list[Token] = []
        previous: str | None = None
        for token in tokens:
            standard = normalise_word(token.text, previous, self._lexicon)
            previous = token.text
            if standard is None:
                # Reset the lemma too: Rasa's token_pattern splitting copies the lemma of the
                # unsplit token ("Budi#17-08-1990") onto every piece.
                normalised.append(Token(token.text, token.start, token.end, dict(token.data), token.text))
            else:
                normalised.append(Token(standard, token.start, token.end, dict(token.data), standard))
        message.set(TOKENS_NAMES[TEXT], normalised)


def _lexicon_path(config: Mapping[str, Any]) -> Path:
    configured = config.get("lexicon_path")
    return Path(configured) if configured else DEFAULT_LEXICON_PATH
