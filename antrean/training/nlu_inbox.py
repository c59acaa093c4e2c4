"""The NLU inbox: user messages the assistant has not been trained on, lowest confidence first,
grouped by predicted intent; a reviewer accepts one (with the right intent and entities) or
discards it. Reads helper A's read model (review_user_messages); decisions go to nlu_reviews."""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from antrean.booking.store import from_db_time, to_db_time
from antrean.protection.masking import KnownValues
from antrean.review.schema import review_user_messages
from antrean.training.data import NLU_DIR, Domain, fingerprint, normalise, training_examples
from antrean.training.schema import nlu_reviews

ACCEPTED, DISCARDED = "accepted", "discarded"
DISCARD_REASONS = ("junk", "personal")
SCAN_BATCH = 500
SCAN_MAX = 20000  # rows looked at per page view; beyond it the next page shows the rest


class ReviewRefused(ValueError):
    """A decision that cannot be recorded; the message is Indonesian, for the reviewer."""


@dataclass
class InboxItem:
    message_id: int
    text: str
    intent: str | None
    confidence: float | None
    entities: list[dict]
    ranking: list[dict]
    at: datetime
    office_id: str | None
    conversation_id: int | None = None
    flagged: bool = False
    repeats: int = 1  # the same text (normalised) sent this many times

    def suggested_intent(self, domain: Domain) -> str | None:
        """What the form preselects: the prediction, or for nlu_fallback (not a domain intent) the
        best-ranked domain intent; None leaves the reviewer to choose."""
        names = [self.intent] + [r.get("name") for r in self.ranking]
        return next((name for name in names if name in domain.intents), None)


@dataclass
class IntentGroup:
    intent: str | None
    items: list[InboxItem] = field(default_factory=list)

    @property
    def lowest(self) -> float:
        return min((i.confidence or 0.0) for i in self.items)


_known_cache: dict = {}


def known_examples(directory=NLU_DIR) -> set[str]:
    """Normalised training texts, re-read only when a data file changed."""
    paths = sorted(directory.glob("*.yml"))
    key = (str(directory), tuple((p.name, os.stat(p).st_mtime_ns) for p in paths))
    if _known_cache.get("key") != key:
        _known_cache.update(key=key, texts=set(training_examples(directory)))
    return _known_cache["texts"]


def _json(text: str | None) -> list:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def domain_entities(entities: list, text: str, domain: Domain) -> list[dict]:
    """Rasa's predicted entities that can be kept: a domain entity with a span inside the text."""
    kept = []
    for entity in entities:
        if not isinstance(entity, dict) or entity.get("entity") not in domain.entities:
            continue
        start, end = entity.get("start"), entity.get("end")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
            kept.append({"start": start, "end": end, "entity": entity["entity"]})
    try:
        return check_entities(kept, text, domain)
    except ReviewRefused:  # overlapping predictions: the reviewer marks them afresh
        return []


def pending(engine: Engine, domain: Domain, known: set[str], limit: int = 150, intent: str | None = None,
            office_id: str | None = None) -> list[InboxItem]:
    """Messages to review, lowest confidence first: not a button payload, not already in the
    training data, not decided before (same text included), each text once."""
    with engine.connect() as connection:
        decided = set(connection.execute(select(nlu_reviews.c.normalised)).scalars())
    reviewed_ids = select(nlu_reviews.c.message_id)
    query = (select(review_user_messages)
             .where(review_user_messages.c.text.is_not(None), review_user_messages.c.id.not_in(reviewed_ids))
             # Messages staff flagged on a transcript first, then the least certain.
             .order_by(review_user_messages.c.flagged.desc(), func.coalesce(review_user_messages.c.confidence, -1.0),
                       review_user_messages.c.id))
    if intent:
        query = query.where(review_user_messages.c.intent == intent)
    if office_id:
        query = query.where((review_user_messages.c.office_id == office_id)
                            | review_user_messages.c.office_id.is_(None))
    found: dict[str, InboxItem] = {}
    with engine.connect() as connection:
        for offset in range(0, SCAN_MAX, SCAN_BATCH):
            rows = connection.execute(query.limit(SCAN_BATCH).offset(offset)).all()
            for row in rows:
                text = row.text.strip()
                if not text or text.startswith("/"):  # buttons and typed intents are not language
                    continue
                key = normalise(text)
                if not key or key in known or fingerprint(text) in decided:
                    continue
                if key in found:
                    found[key].repeats += 1
                    continue
                if len(found) >= limit:
                    continue
                found[key] = InboxItem(row.id, row.text, row.intent, row.confidence,
                                       domain_entities(_json(row.entities), row.text, domain),
                                       [r for r in _json(row.ranking) if isinstance(r, dict)][:5],
                                       from_db_time(row.at), row.office_id, row.conversation_id, bool(row.flagged))
            if len(rows) < SCAN_BATCH or len(found) >= limit:
                break
    return list(found.values())


def known_values(engine: Engine, conversation_ids: set[int]) -> dict[int, KnownValues]:
    """The personal values (entities of personal kinds) each conversation's messages carry, so that
    a name the applicant gave once is masked in every other message of theirs too."""
    known: dict[int, KnownValues] = {}
    ids = sorted(conversation_ids)
    with engine.connect() as connection:
        for first in range(0, len(ids), SCAN_BATCH):
            rows = connection.execute(select(review_user_messages.c.conversation_id, review_user_messages.c.entities)
                                      .where(review_user_messages.c.conversation_id.in_(ids[first:first + SCAN_BATCH])))
            for conversation_id, entities in rows:
                values = known.setdefault(conversation_id, KnownValues())
                for entity in _json(entities):
                    if isinstance(entity, dict):
                        values.add(entity.get("entity"), entity.get("value"))
    return known


def grouped(items: list[InboxItem]) -> list[IntentGroup]:
    """Groups by predicted intent, the group with the least certain message first."""
    groups: dict[str | None, IntentGroup] = {}
    for item in items:
        groups.setdefault(item.intent, IntentGroup(item.intent)).items.append(item)
    return sorted(groups.values(), key=lambda g: (g.lowest, g.intent or ""))


def check_entities(entities: list[dict], text: str, domain: Domain) -> list[dict]:
    """Entity spans as [{"start", "end", "entity", "value"}] sorted, or ReviewRefused: names from
    domain.yml only, spans inside the text, not empty, not overlapping."""
    spans = []
    for entity in entities:
        try:
            start, end, name = int(entity["start"]), int(entity["end"]), str(entity["entity"])
        except (KeyError, TypeError, ValueError):
            raise ReviewRefused("Entitas tidak terbaca.") from None
        if name not in domain.entities:
            raise ReviewRefused(f"Entitas '{name}' tidak ada di domain.yml.")
        # Trim spaces a mouse selection tends to take along.
        while start < end and text[start:start + 1].isspace():
            start += 1
        while end > start and text[end - 1:end].isspace():
            end -= 1
        if not 0 <= start < end <= len(text):
            raise ReviewRefused("Rentang entitas berada di luar teks pesan.")
        spans.append({"start": start, "end": end, "entity": name, "value": text[start:end]})
    spans.sort(key=lambda s: (s["start"], s["end"]))
    for before, after in itertools.pairwise(spans):
        if after["start"] < before["end"]:
            raise ReviewRefused("Dua entitas saling bertumpuk; tandai masing-masing bagian sekali saja.")
    return spans


def get_message(engine: Engine, message_id: int):
    with engine.connect() as connection:
        return connection.execute(select(review_user_messages)
                                  .where(review_user_messages.c.id == message_id)).first()


def accept(engine: Engine, domain: Domain, message_id: int, intent: str, entities: list[dict], staff: str,
           now: datetime) -> dict:
    message = get_message(engine, message_id)
    if message is None or not message.text:
        raise ReviewRefused("Pesan ini tidak ditemukan.")
    if not intent:
        raise ReviewRefused("Pilih intent yang benar dulu.")
    if intent not in domain.intents:
        raise ReviewRefused(f"Intent '{intent}' tidak ada di domain.yml.")
    spans = check_entities(entities, message.text, domain)
    _insert(engine, message_id=message_id, text=message.text, normalised=fingerprint(message.text),
            predicted_intent=message.intent, intent=intent, entities=json.dumps(spans, ensure_ascii=False),
            status=ACCEPTED, reviewed_by=staff, reviewed_at=to_db_time(now))
    return {"changed": intent != message.intent, "entities": len(spans), "intent": intent}


def discard(engine: Engine, message_id: int, reason: str, staff: str, now: datetime) -> None:
    """Discarded texts are not kept (junk is useless, personal data must not be): only their
    fingerprint, so the same text does not come back."""
    if reason not in DISCARD_REASONS:
        raise ReviewRefused("Pilih alasan membuang: tidak berguna atau data pribadi.")
    message = get_message(engine, message_id)
    if message is None or not message.text:
        raise ReviewRefused("Pesan ini tidak ditemukan.")
    _insert(engine, message_id=message_id, text="", normalised=fingerprint(message.text),
            predicted_intent=message.intent, intent=None, entities=None, status=DISCARDED, discard_reason=reason,
            reviewed_by=staff, reviewed_at=to_db_time(now))


def _insert(engine: Engine, **values) -> None:
    try:
        with engine.begin() as connection:
            connection.execute(nlu_reviews.insert().values(**values))
    except IntegrityError:
        raise ReviewRefused("Pesan ini sudah ditinjau oleh orang lain.") from None


def accepted_examples(engine: Engine) -> list[dict]:
    with engine.connect() as connection:
        rows = connection.execute(select(nlu_reviews).where(nlu_reviews.c.status == ACCEPTED)
                                  .order_by(nlu_reviews.c.intent, nlu_reviews.c.id)).all()
    return [{"id": r.id, "text": r.text, "intent": r.intent, "entities": _json(r.entities)} for r in rows]


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(nlu_reviews.c.status, func.count()).group_by(nlu_reviews.c.status)).all()
    return {status: count for status, count in rows}
