"""What the assistant already knows: intent and entity names of domain.yml, and the example texts
of data/nlu/*.yml, compared after normalisation (case, punctuation, spacing, entity markup)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from antrean.runtime.db import REPO_ROOT

DOMAIN_FILE = REPO_ROOT / "domain.yml"
NLU_DIR = REPO_ROOT / "data" / "nlu"
REVIEWED_FILE = NLU_DIR / "reviewed.yml"

# [text](entity), [text](entity:value), [text]{"entity": …}: keep the text only.
_ANNOTATION = re.compile(r"\[([^\]]+?)\](?:\([^)]*\)|\{[^}]*\})")
_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalise(text: str) -> str:
    """The comparison form of an example: no markup, lower case, letters and digits separated by
    single spaces ("Halo, min!!" and "halo min" are the same example)."""
    text = unicodedata.normalize("NFKC", _ANNOTATION.sub(r"\1", text)).casefold()
    return " ".join(_NOT_WORD.sub(" ", text).split())


def fingerprint(text: str) -> str:
    """A stable key for a normalised text; what the database keeps for discarded messages, whose
    text (possibly personal data) is not kept."""
    return hashlib.sha256(normalise(text).encode()).hexdigest()


@dataclass(frozen=True)
class Domain:
    intents: tuple[str, ...]
    entities: tuple[str, ...]


def _names(items) -> tuple[str, ...]:
    names = []
    for item in items or []:
        names.append(next(iter(item)) if isinstance(item, dict) else str(item))
    return tuple(names)


@lru_cache(maxsize=4)
def load_domain(path: Path = DOMAIN_FILE) -> Domain:
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return Domain(_names(document.get("intents")), _names(document.get("entities")))


def training_examples(directory: Path = NLU_DIR) -> dict[str, str]:
    """Normalised example text → intent, over every data/nlu file (reviewed.yml included, so an
    exported example leaves the inbox for good)."""
    known: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in document.get("nlu") or []:
            if not isinstance(item, dict) or "intent" not in item:
                continue  # regexes, synonyms and lookup tables are not examples
            for line in str(item.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    known.setdefault(normalise(line[2:]), str(item["intent"]))
    return known
