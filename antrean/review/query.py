"""The conversation list: filters (from the page's query string), sorting and paging over the read
model. Every filter is an indexed column or an `id IN (…)` over an indexed side table, so a page
stays fast with 100,000 conversations (make bench-console)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.engine import Engine

from antrean.booking.store import from_db_time, to_db_time
from antrean.review.schema import OUTCOMES, review_conversations, review_facets, review_tags
from antrean.review.work import card_mismatches

PAGE_SIZE = 50
COUNT_LIMIT = 10_000
PROBE_ABOVE = 2_000  # matches above which a page walks the sort index and probes each row
_c = review_conversations.c
# Each sort follows one index in one direction (ties broken by id in that direction too).
SORTS = {
    "terbaru": (_c.started_at.desc(), _c.id.desc()),
    "terlama": (_c.started_at.asc(), _c.id.asc()),
    "giliran": (_c.turns.desc(), _c.id.desc()),
    "keyakinan": (_c.min_confidence.asc(), _c.id.asc()),
}
YES_NO = {"ya": True, "tidak": False}
WORD = re.compile(r"\w{2,40}")


@dataclass
class ConversationFilter:
    """Field names are the query-string keys (Indonesian, as they show in the address bar)."""

    dari: str = ""  # started on or after this day (office time)
    sampai: str = ""  # started on or before this day
    kantor: str = ""
    kanal: str = ""
    nomor: str = ""  # WhatsApp number, whole or its last digits (at least 4)
    hasil: str = ""  # outcome
    giliran_min: str = ""  # number of turns (user messages), at least
    giliran_maks: str = ""  # at most
    keyakinan_maks: str = ""  # lowest intent confidence at most this
    fallback: str = ""  # ya / tidak
    label: str = ""  # tag
    ditinjau: str = ""  # ya / tidak
    intent: str = ""
    aksi: str = ""
    slot: str = ""
    nilai: str = ""  # slot value (with `slot`)
    q: str = ""  # free text in what applicants wrote
    urut: str = "terbaru"
    halaman: int = 1

    @classmethod
    def from_args(cls, args) -> ConversationFilter:
        values = {}
        for f in fields(cls):
            raw = (args.get(f.name) or "").strip()[:200]
            if f.name == "halaman":
                values[f.name] = max(1, min(_whole(raw) or 1, 100_000))
            elif raw:
                values[f.name] = raw
        chosen = cls(**values)
        if chosen.urut not in SORTS:
            chosen.urut = "terbaru"
        return chosen

    def query_string(self, **changes) -> str:
        """This filter as a query string (paging links, saved filters); empty values left out."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        if values.get("urut") == "terbaru":
            values.pop("urut")
        if values.get("halaman") == 1:
            values.pop("halaman")
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})

    @property
    def active(self) -> bool:
        return bool(self.query_string(urut="terbaru", halaman=1))


@dataclass
class ConversationRow:
    id: int
    started_at: datetime
    ended_at: datetime
    office_id: str | None
    channel: str | None
    sender_masked: str
    turns: int
    outcome: str
    min_confidence: float | None
    fallback: bool
    booking_code: str | None
    reviewed: bool
    tags: list[str] = field(default_factory=list)
    card_mismatch: str | None = None  # the assistant refused someone else's e-KTP here (why)


@dataclass
class Page:
    rows: list[ConversationRow]
    total: int
    number: int
    size: int = PAGE_SIZE
    more: bool = False  # more than `total` match (the count stopped at COUNT_LIMIT)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def _day(text: str) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    # The day after, in any time zone, must still be a date (the console refuses such days earlier).
    return day if date.min + timedelta(days=2) <= day <= date.max - timedelta(days=2) else None


def _whole(text: str) -> int | None:
    """ASCII digits only (str.isdigit also takes "²"), few enough to be a database integer."""
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else None


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return None
    return value if 0 <= value <= 1 else None


def conditions(chosen: ConversationFilter, zone: ZoneInfo, office_ids: list[str] | None,
               probe: bool = False) -> list:
    """`office_ids`: the offices the staff member may see (None: all). Tag, facet and word filters
    are `id IN (subquery)` (cost grows with the matches: right for counting and rare matches) or,
    with `probe`, a correlated EXISTS per row (cost grows with rows walked in sort order: right for
    one page of a common match)."""
    c = review_conversations.c
    where = []

    def member(subquery, id_column):
        return exists(subquery.where(id_column == c.id)) if probe else c.id.in_(subquery)

    if office_ids is not None:  # staff of one office; conversations of no known office are shared
        where.append(or_(c.office_id.in_(office_ids), c.office_id.is_(None)))
    if chosen.kantor:
        where.append(c.office_id == chosen.kantor)
    if start := _day(chosen.dari):
        where.append(c.started_at >= to_db_time(datetime.combine(start, time(0), zone)))
    if end := _day(chosen.sampai):
        where.append(c.started_at < to_db_time(datetime.combine(end + timedelta(days=1), time(0), zone)))
    if chosen.kanal:
        where.append(c.channel == chosen.kanal)
    digits = re.sub(r"\D", "", chosen.nomor)
    if len(digits) >= 4:
        if digits.startswith("0"):
            digits = "62" + digits[1:]
        # A whole number is an indexed equality; its last digits a prefix range of the reversed number.
        where.append(c.sender_id == digits if len(digits) >= 10 else prefix(c.sender_reversed, digits[::-1]))
    if (least := _whole(chosen.giliran_min)) is not None:
        where.append(c.turns >= least)
    if (most := _whole(chosen.giliran_maks)) is not None:
        where.append(c.turns <= most)
    if chosen.hasil in OUTCOMES:
        where.append(c.outcome == chosen.hasil)
    if (threshold := _number(chosen.keyakinan_maks)) is not None:
        where.append(c.min_confidence <= threshold)
    if chosen.fallback in YES_NO:
        where.append(c.fallback.is_(YES_NO[chosen.fallback]))
    if chosen.ditinjau in YES_NO:
        where.append(c.reviewed.is_(YES_NO[chosen.ditinjau]))
    if chosen.label:
        where.append(member(select(review_tags.c.conversation_id).where(review_tags.c.tag == chosen.label.lower()),
                            review_tags.c.conversation_id))
    for kind, name, value in (("intent", chosen.intent, None), ("action", chosen.aksi, None),
                              ("slot", chosen.slot, chosen.nilai)):
        if name:
            facet = and_(review_facets.c.kind == kind, review_facets.c.name == name)
            if value:
                facet = and_(facet, review_facets.c.value == value)
            where.append(member(select(review_facets.c.conversation_id).where(facet), review_facets.c.conversation_id))
    for word in words_of(chosen.q)[:5] if chosen.q else []:
        words = select(review_facets.c.conversation_id).where(review_facets.c.kind == "word",
                                                              prefix(review_facets.c.name, word))
        where.append(member(words, review_facets.c.conversation_id))
    return where


def prefix(column, text_: str):
    """`column LIKE 'text%'` as a range both databases answer from a B-tree index."""
    return and_(column >= text_, column < text_[:-1] + chr(ord(text_[-1]) + 1))


def words_of(text_: str) -> list[str]:
    seen: list[str] = []
    for word in WORD.findall(text_.lower()):
        if word not in seen:
            seen.append(word)
    return seen


def list_conversations(engine: Engine, chosen: ConversationFilter, zone: ZoneInfo,
                       office_ids: list[str] | None = None, page_size: int = PAGE_SIZE) -> Page:
    c = review_conversations.c
    where = conditions(chosen, zone, office_ids)
    columns = [c.id, c.started_at, c.ended_at, c.office_id, c.channel, c.sender_masked, c.turns, c.outcome,
               c.min_confidence, c.fallback, c.booking_code, c.reviewed]
    subqueries = bool(chosen.label or chosen.intent or chosen.aksi or chosen.slot or chosen.q)
    with engine.connect() as connection:
        if subqueries:
            # Counting 40,000 matches of a common word costs more than a page: stop at COUNT_LIMIT.
            limited = select(c.id).where(*where).limit(COUNT_LIMIT + 1).subquery()
            total = connection.execute(select(func.count()).select_from(limited)).scalar()
        else:
            total = connection.execute(select(func.count()).select_from(review_conversations).where(*where)).scalar()
        last_page = max(1, -(-total // page_size))
        number = min(chosen.halaman, last_page)
        if subqueries and total > PROBE_ABOVE:
            where = conditions(chosen, zone, office_ids, probe=True)
        # The page's ids first (an index-only walk, however deep the page), then their columns: the
        # offset then skips index entries instead of whole rows.
        ids = (select(c.id).where(*where).order_by(*SORTS[chosen.urut])
               .limit(page_size).offset((number - 1) * page_size).scalar_subquery())
        result = connection.execute(select(*columns).where(c.id.in_(ids)).order_by(*SORTS[chosen.urut]))
        rows = [ConversationRow(**{**row._mapping, "started_at": from_db_time(row.started_at),
                                   "ended_at": from_db_time(row.ended_at)}) for row in result]
        if rows:
            by_id = {row.id: row for row in rows}
            tags = connection.execute(select(review_tags.c.conversation_id, review_tags.c.tag)
                                      .where(review_tags.c.conversation_id.in_(by_id))
                                      .order_by(review_tags.c.tag))
            for conversation_id, tag in tags:
                by_id[conversation_id].tags.append(tag)
            for conversation_id, why in card_mismatches(connection, by_id).items():
                by_id[conversation_id].card_mismatch = why
    more = subqueries and total > COUNT_LIMIT
    return Page(rows, COUNT_LIMIT if more else total, number, page_size, more=more)


def choices(engine: Engine) -> dict[str, list[str]]:
    """What the filter form offers: the channels, tags, intents, actions and slots seen so far."""
    c = review_conversations.c
    f = review_facets.c
    with engine.connect() as connection:
        found = {"kanal": [r for (r,) in connection.execute(select(c.channel).where(c.channel.is_not(None))
                                                              .distinct().order_by(c.channel).limit(50))],
                 "label": [r for (r,) in connection.execute(select(review_tags.c.tag).distinct()
                                                              .order_by(review_tags.c.tag).limit(200))]}
        for kind, key in (("intent", "intent"), ("action", "aksi"), ("slot", "slot")):
            # The lookup index starts with (kind, name): a skip over distinct names, not a scan.
            found[key] = [r for (r,) in connection.execute(select(f.name).where(f.kind == kind).distinct()
                                                              .order_by(f.name).limit(200))]
    return found
