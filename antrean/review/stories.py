"""A reviewed conversation as a Rasa test story (YAML) for the test suite, personal data replaced
by fixed placeholders: the story tests the dialogue, not anyone's identity.

Written under tests/reviewed_stories/, one file per conversation. `make test-stories` passes only
tests/test_stories.yml and `rasa data validate` reads data/, so an exported story never breaks
them; `make test-reviewed-stories` runs them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from antrean.review.derive import PERSONAL_SLOTS, SESSION_METADATA_SLOT, SESSION_START_ACTION
from antrean.review.tracker import TrackerEvent

PLACEHOLDERS = {
    "person_name": "Budi Contoh",
    "birth_date": "1990-08-17",
    "address": "Jl. Contoh No. 1, Batam",
    "nik": "2171035708900001",
    "id_photo": "photo:00000000000000000000000000000000",
    "guardian_photo": "photo:11111111111111111111111111111111",
}
SKIPPED_ACTIONS = frozenset({"action_listen", SESSION_START_ACTION})
# The session metadata is the channel's (a WhatsApp number among it), not the dialogue's.
SKIPPED_SLOTS = frozenset({"requested_slot", "failed_validations", SESSION_METADATA_SLOT})
_NIK = re.compile(r"(?<!\d)\d(?:[ .-]?\d){15}(?!\d)")
_PHONE = re.compile(r"(?<![\d+])(?:\+?62|0)8\d(?:[ .-]?\d){6,11}(?!\d)")


def placeholder_text(text: str, slots_seen: dict[str, object]) -> str:
    """NIKs, phone numbers and the values the applicant gave as name/address/birth date replaced."""
    text = _NIK.sub(PLACEHOLDERS["nik"], text)
    text = _PHONE.sub("081200000000", text)
    for slot, value in slots_seen.items():
        if slot in PERSONAL_SLOTS and isinstance(value, str) and len(value) >= 3:
            text = re.sub(re.escape(value), PLACEHOLDERS[slot], text, flags=re.IGNORECASE)
    return text


def story_steps(events: list[TrackerEvent]) -> list[dict]:
    slots_seen = {e.name: e.data.get("value") for e in events if e.type_name == "slot" and e.name}
    steps: list[dict] = []
    for event in events:
        data = event.data
        if event.type_name == "user":
            parse = data.get("parse_data") or {}
            intent = (parse.get("intent") or {}).get("name")
            if not intent:
                continue
            text = (data.get("text") or "").strip()
            step = {"intent": intent}
            if text and not text.startswith("/"):  # "/intent{…}" is a button press, not words
                step = {"user": placeholder_text(text, slots_seen), **step}
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
