"""What a model is trained from, described for its manifest: the training data's fingerprint and
examples per intent (how many from the NLU inbox), the config and domain hashes, the custom NLU
code's hash, the git revision and the Rasa version."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path

import yaml

from antrean.runtime.db import REPO_ROOT
from antrean.training.data import normalise

DATA_DIR = REPO_ROOT / "data"
CONFIG_FILE = REPO_ROOT / "config.yml"
DOMAIN_FILE = REPO_ROOT / "domain.yml"
NLU_CODE_DIR = REPO_ROOT / "antrean" / "assistant" / "nlu"
INBOX_FILE_NAME = "reviewed.yml"  # what `nlu export` writes under data/nlu/


@dataclass(frozen=True)
class TrainingInputs:
    """The three things `rasa train` reads; a training run copies them first (see `snapshot`), so
    that the manifest describes exactly what was trained even if someone edits data meanwhile."""

    data: Path = DATA_DIR
    config: Path = CONFIG_FILE
    domain: Path = DOMAIN_FILE

    def snapshot(self, folder: Path) -> TrainingInputs:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.data, folder / "data")
        shutil.copy2(self.config, folder / "config.yml")
        shutil.copy2(self.domain, folder / "domain.yml")
        return TrainingInputs(folder / "data", folder / "config.yml", folder / "domain.yml")

    def describe(self) -> dict:
        examples = intent_examples(self.data)
        per_intent = Counter(intent for intent, _, _ in examples)
        from_inbox = Counter(intent for intent, _, path in examples if path.name == INBOX_FILE_NAME)
        return {
            "data_fingerprint": data_fingerprint(self.data),
            "examples": len(examples),
            "examples_per_intent": {intent: {"total": per_intent[intent], "from_inbox": from_inbox[intent]}
                                    for intent in sorted(per_intent)},
            "examples_from_inbox": sum(from_inbox.values()),
            # The reviewed corrections themselves (few, and already scrubbed of personal data by the
            # export): a comparison evaluates both models on those the candidate has and the
            # reference had not (antrean.model_registry.compare.new_inbox_examples).
            "inbox_examples": [{"text": text, "intent": intent, "entities": [list(e) for e in entities]}
                               for intent, example, path in examples if path.name == INBOX_FILE_NAME
                               for text, entities in [plain_example(example)]],
            "config_sha256": file_sha256(self.config),
            "domain_sha256": file_sha256(self.domain),
            "nlu_code_sha256": tree_sha256(NLU_CODE_DIR, ("*.py", "*.tsv")),
            "git_revision": git_revision(),
            "rasa_version": package_metadata.version("rasa"),
        }


def data_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in Path(data_dir).rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml"))


def data_fingerprint(data_dir: Path) -> str:
    """SHA-256 over every training file's path (relative) and bytes."""
    digest = hashlib.sha256()
    for path in data_files(data_dir):
        digest.update(path.relative_to(data_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def intent_examples(data_dir: Path) -> list[tuple[str, str, Path]]:
    """(intent, example text, file) of every NLU example under `data_dir`, as Rasa would train."""
    found = []
    for path in data_files(data_dir):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(document, dict):
            continue
        for item in document.get("nlu") or []:
            if not isinstance(item, dict) or "intent" not in item:
                continue  # regexes, synonyms and lookup tables are not examples
            for line in str(item.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    found.append((str(item["intent"]), line[2:], path))
    return found


# [value](entity), [value](entity:synonym) and [value]{"entity": …} — Rasa's inline markup.
_MARKUP = re.compile(r"\[([^\]]+?)\](?:\(([^)]*)\)|(\{[^}]*\}))")


def plain_example(example: str) -> tuple[str, list[tuple[str, int, int]]]:
    """An example's text as Rasa trains on it (markup removed) and its entities as (type, start,
    end) in that text."""
    text, entities, position = "", [], 0
    for match in _MARKUP.finditer(example):
        text += example[position:match.start()]
        value, short, long = match.groups()
        if short is not None:
            entity = short.split(":", 1)[0].strip()
        else:
            try:
                entity = str(json.loads(long).get("entity", ""))
            except (ValueError, AttributeError):
                entity = ""
        if entity:
            entities.append((entity, len(text), len(text) + len(value)))
        text += value
        position = match.end()
    return text + example[position:], entities


def training_texts(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """Normalised example text → intent, over every file Rasa trains on (subfolders included)."""
    return {normalise(text): intent for intent, text, _ in intent_examples(data_dir)}


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_sha256(folder: Path, patterns: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for pattern in patterns for p in Path(folder).glob(pattern)):
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def git_revision(root: Path = REPO_ROOT) -> str | None:
    """HEAD's commit, with `+dirty` when the working tree differs from it; None outside git."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if status else "")
