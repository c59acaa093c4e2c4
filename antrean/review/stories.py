"""A reviewed conversation as a Rasa test story (YAML) for the test suite, personal data replaced
by fixed placeholders: the story tests the dialogue, not anyone's identity.

Written under tests/reviewed_stories/, one file per conversation. That folder is ignored by git: a
story enters the repository only after a maintainer has read it and added it on purpose
(`git add -f`, see the README). `make test-stories` passes only tests/test_stories.yml and `rasa
data validate` reads data/, so an exported story never breaks them; `make test-reviewed-stories`
runs them. Erasing an applicant removes the stories of their conversations (antrean.protection.erasure)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml

from antrean.protection.masking import KnownValues, personal_spans
from antrean.review.derive import PERSONAL_SLOTS, SESSION_METADATA_SLOT, SESSION_START_ACTION, utc
from antrean.review.tracker import TrackerEvent
from antrean.review.transcript import known_values
from antrean.runtime.db import REPO_ROOT

DEFAULT_STORIES_DIR = REPO_ROOT / "tests" / "reviewed_stories"

PLACEHOLDERS = {
    "person_name": "Budi Contoh",
    "birth_date": "1990-08-17",
    "address": "Jl. Contoh No. 1, Batam",
    "nik": "2171035708900001",
    "id_photo": "photo:00000000000000000000000000000000",
    "guardian_photo": "photo:11111111111111111111111111111111",
}
# What replaces each kind of personal data found inside a message (antrean.protection.masking):
# values of the same shape, so that the story's message still reads as the applicant's did.
TEXT_PLACEHOLDERS = {
    "name": PLACEHOLDERS["person_name"],
    "birth_date": "17-08-1990",
    "address": PLACEHOLDERS["address"],
    "nik": PLACEHOLDERS["nik"],
    "phone": "081200000000",
}
SKIPPED_ACTIONS = frozenset({"action_listen", SESSION_START_ACTION})
# The session metadata is the channel's (a WhatsApp number among it), not the dialogue's.
SKIPPED_SLOTS = frozenset({"requested_slot", "failed_validations", SESSION_METADATA_SLOT})


def placeholder_text(text: str, known: KnownValues | None = None, entities: list[dict] = (),
                     written: date | None = None) -> str:
    """Every piece of personal data the console would mask (NIKs, phone numbers, names, birth dates in
    digits or words, addresses, the conversation's own values) replaced by a placeholder."""
    merged: list[list] = []  # [start, end, kind of the longest piece]
    for span in sorted(personal_spans(text, known, entities, written), key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1][1]:
            last = merged[-1]
            if span.end > last[1]:
                last[1] = span.end
            continue
        merged.append([span.start, span.end, span.kind])
    for start, end, kind in reversed(merged):
        text = text[:start] + TEXT_PLACEHOLDERS[kind] + text[end:]
    return text


def story_steps(events: list[TrackerEvent]) -> list[dict]:
    known = known_values(events)
    steps: list[dict] = []
    for event in events:
        data = event.data
        if event.type_name == "user":
            parse = data.get("parse_data") or {}
            intent = (parse.get("intent") or {}).get("name")
            if not intent:
                continue
            text = data.get("text") or ""
            step = {"intent": intent}
            if text.strip() and not text.strip().startswith("/"):  # "/intent{…}" is a button press, not words
                entities = [e for e in parse.get("entities") or [] if isinstance(e, dict)]
                step = {"user": placeholder_text(text, known, entities, utc(event.timestamp).date()).strip(), **step}
            steps.append(step)
        elif event.type_name == "action" and event.name and event.name not in SKIPPED_ACTIONS:
            steps.append({"action": event.name})
        elif event.type_name == "active_loop":
            steps.append({"active_loop": data.get("name")})
        elif event.type_name == "slot" and event.name and event.name not in SKIPPED_SLOTS:
            value = data.get("value")
            if event.name in PERSONAL_SLOTS and value is not None:
                value = PLACEHOLDERS[event.name]
            steps.append({"slot_was_set": [{event.name: value}]})
    return steps


def story_yaml(title: str, events: list[TrackerEvent]) -> str:
    document = {"version": "3.1", "stories": [{"story": title, "steps": story_steps(events)}]}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)


def write_story(directory: Path, conversation_id: int, title: str, events: list[TrackerEvent]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"percakapan_{conversation_id}.yml"
    temporary = path.with_suffix(".yml.tmp")
    temporary.write_text(story_yaml(title, events), encoding="utf-8")
    temporary.replace(path)  # a half-written story never sits in the test folder
    return path
