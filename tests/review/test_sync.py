"""The read model from genuine tracker-store content, on SQLite and PostgreSQL: conversations split
per session, outcomes, confidence, facets; the sync is incremental, idempotent and safe to run twice
at once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from antrean.review.schema import review_conversations, review_facets, review_user_messages
from antrean.review.sync import sync, watermark
from antrean.review.tracker import make_tracker_engine
from tests.conftest import wib
from tests.review.tracker_writer import (
    NIK,
    TrackerWriter,
    action,
    booked_conversation,
    bot,
    listen,
    loop,
    session_start,
    slot,
    user,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def writer(tracker_url, database_url):
    if database_url.startswith("postgresql"):
        empty_review_tables(database_url)
    w = TrackerWriter(tracker_url, wib(2026, 12, 1, 7, 40))
    yield w
    w.close()


def empty_review_tables(url):
    from sqlalchemy import create_engine

    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM review_conversations"))
        connection.execute(text("UPDATE review_sync_state SET last_event_id = 0"))
    engine.dispose()


@pytest.fixture
def run_sync(service, tracker_url, clock):
    engines = []

    def run(**options):
        if not engines:
            engines.append(make_tracker_engine(tracker_url))
        return sync(service.engine, engines[0], service.offices, clock(), settle_seconds=0, **options)

    yield run
    for engine in engines:
        engine.dispose()


def rows(service, table=review_conversations):
    with service.engine.connect() as connection:
        return list(connection.execute(select(table).order_by(table.c.id)))


def test_a_booked_conversation_becomes_one_row_with_its_facts(service, writer, run_sync):
    booked_conversation(writer, "6281234567001", code="ABCD2345EFGH")
    result = run_sync()
    [conversation] = rows(service)
    assert result.conversations == 1 and result.events > 10
    assert conversation.outcome == "booked" and conversation.booking_code == "ABCD2345EFGH"
    assert conversation.office_id == "batam" and conversation.channel == "whatsapp"
    assert conversation.turns == 3 and conversation.min_confidence == pytest.approx(0.42)
    assert conversation.sender_masked == "6281*****7001" and conversation.fallback is False
    assert conversation.sender_reversed == "1007654321826"
    messages = rows(service, review_user_messages)
    assert [m.intent for m in messages] == ["greet", "register", "inform"]
    with service.engine.connect() as connection:
        facets = set(connection.execute(select(review_facets.c.kind, review_facets.c.name, review_facets.c.value)))
    assert ("slot", "office", "batam") in facets and ("slot", "nik", "") in facets  # a NIK is never a facet value
    assert ("action", "action_submit_registration", "") in facets and ("intent", "register", "") in facets
    words = {name for kind, name, _ in facets if kind == "word"}
    assert {"mau", "daftar", "paspor", "nik", "saya"} <= words and NIK not in words  # masked before indexing


def test_a_whatsapp_user_with_a_username_is_listed_by_it_and_others_by_masked_id(service, writer, run_sync):
    from antrean.whatsapp.inbox import Inbox
    from antrean.whatsapp.payloads import parse_webhook
    from tests.whatsapp import meta

    bsuid = "ID.1502576394655843"
    message = meta.by_user(meta.text("6281200000001", "halo"), bsuid, phone=False)
    Inbox(service.engine).store(parse_webhook(meta.encode(meta.notification(
        meta.messages_value(message, usernames={bsuid: "putri.ayu"})))))
    booked_conversation(writer, bsuid, code="ABCD2345EFGH")
    booked_conversation(writer, "ID.7712093344556677", code="ABCD2345EFGJ")  # no identity row: masked BSUID
    run_sync()
    assert sorted(c.sender_masked for c in rows(service)) == ["@putri.ayu", "ID.77************77"]


@pytest.mark.parametrize("events, outcome", [
    ([user("bisa bicara dengan petugas?", "human_handoff", 0.88), action("action_handoff"), bot("Baik"), listen()],
     "handoff"),
    ([user("daftar", "register"), action("registration_form"), loop("registration_form"),
      slot("registration_blocked", True), loop(None), action("action_submit_registration"), listen()], "refused"),
    ([user("daftar", "register"), action("registration_form"), loop("registration_form"),
      slot("confirmed", True), loop(None), action("action_submit_registration"), bot("Mohon maaf, kuota penuh."),
      listen()], "refused"),
    ([user("daftar", "register"), action("registration_form"), loop("registration_form"),
      bot("Siapa nama lengkap pemohon?"), listen()], "abandoned"),
    ([user("jam buka kapan", "ask_hours", 0.97), action("action_answer_question"), bot("Senin–Jumat"), listen()],
     "information"),
])
def test_outcomes_follow_the_actions_and_slots_this_assistant_uses(service, writer, run_sync, events, outcome):
    writer.save("6281234567002", session_start(), *events)
    run_sync()
    [conversation] = rows(service)
    assert conversation.outcome == outcome


def test_a_fallback_is_noticed(service, writer, run_sync):
    writer.save("6281234567003", session_start(), user("asdf qwer", "nlu_fallback", 0.31),
                action("action_fallback"), bot("Maaf, saya belum mengerti."), listen())
    run_sync()
    [conversation] = rows(service)
    assert conversation.fallback is True and conversation.min_confidence == pytest.approx(0.31)


def test_sessions_split_conversations_and_a_conversation_may_span_syncs(service, writer, run_sync):
    sender = "6281234567004"
    writer.save(sender, session_start(), user("halo", "greet"), action("utter_greet"), bot("Halo"), listen())
    assert run_sync().conversations == 1
    writer.save(sender, user("daftar", "register"), action("registration_form"), loop("registration_form"), listen())
    run_sync()
    [conversation] = rows(service)  # still one conversation, now two turns and abandoned
    assert conversation.turns == 2 and conversation.outcome == "abandoned"
    writer.tick(2 * 3600)
    writer.save(sender, session_start(), user("jam buka?", "ask_hours"), action("action_answer_question"), listen())
    run_sync()
    first, second = rows(service)
    assert (first.turns, first.outcome) == (2, "abandoned")
    assert (second.turns, second.outcome) == (1, "information")
    assert second.started_at - first.started_at > timedelta(hours=1)
    assert len(rows(service, review_user_messages)) == 3


def test_syncing_again_changes_nothing(service, writer, run_sync):
    booked_conversation(writer, "6281234567005")
    first = run_sync()
    before = rows(service), rows(service, review_user_messages)
    again = run_sync()
    assert again.events == 0 and again.watermark == first.watermark == watermark(service.engine)
    assert (rows(service), rows(service, review_user_messages)) == before


def test_small_batches_give_the_same_read_model_as_one_big_one(service, writer, run_sync):
    for n in range(4):
        booked_conversation(writer, f"62812345670{10 + n}", code=f"ABCD2345EF{n}{n}")
        writer.save(f"62812345670{10 + n}", user("makasih", "thanks"), action("utter_thanks"), listen())
    run_sync(batch_events=7)
    conversations = rows(service)
    assert [(c.turns, c.outcome) for c in conversations] == [(4, "booked")] * 4
    assert len(rows(service, review_user_messages)) == 16


def test_two_processes_syncing_at_once_copy_everything_exactly_once(service, writer, run_sync, tracker_url,
                                                                       make_service, database_url, clock):
    for n in range(6):
        booked_conversation(writer, f"62812345671{10 + n}")
    other = make_service(database_url)
    engines = [make_tracker_engine(tracker_url) for _ in range(2)]
    errors = []

    def worker(engine_service, tracker_engine):
        try:
            sync(engine_service.engine, tracker_engine, engine_service.offices, clock(), settle_seconds=0,
                 batch_events=5)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(s, e)) for s, e in zip((service, other), engines, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert len(rows(service)) == 6
    with service.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(review_user_messages)).scalar() == 18


def test_statistics_are_refreshed_as_the_store_grows(service, writer, run_sync, monkeypatch):
    from antrean.review import sync as sync_module

    monkeypatch.setattr(sync_module, "ANALYZE_EVERY_EVENTS", 5)
    booked_conversation(writer, "6281234567020")
    analyzed = []
    real = sync_module.analyze
    monkeypatch.setattr(sync_module, "analyze", lambda engine: analyzed.append(real(engine)))
    run_sync(batch_events=4)
    assert analyzed  # and ANALYZE itself ran on this database without error


WHATSAPP_METADATA = {"phone_number_id": "106540352242922", "wa_id": "6281234567020", "wa_message_id": "wamid.x"}


def test_the_session_metadata_rasa_sets_first_starts_the_conversation_not_one_of_its_own(service, writer, run_sync):
    """Every WhatsApp message carries metadata, so Rasa begins each session with the
    session_started_metadata slot: 7 senders once gave 14 rows, half of them empty."""
    sender = WHATSAPP_METADATA["wa_id"]
    writer.save(sender, session_start(WHATSAPP_METADATA), user("halo", "greet", metadata=WHATSAPP_METADATA),
                action("utter_greet"), bot("Halo"), listen())
    writer.tick(2 * 3600)  # the session expires: the next message starts another, metadata first again
    writer.save(sender, session_start(WHATSAPP_METADATA), user("jam buka?", "ask_hours", metadata=WHATSAPP_METADATA),
                action("action_answer_question"), listen())
    run_sync(batch_events=5)  # batches end between the slot and action_session_start, too
    conversations = rows(service)
    assert [(c.turns, c.office_id, c.channel) for c in conversations] == [(1, "batam", "whatsapp")] * 2
    with service.engine.connect() as connection:
        facets = {name for (name,) in connection.execute(select(review_facets.c.name)
                                                         .where(review_facets.c.kind == "slot"))}
    assert "session_started_metadata" not in facets  # it holds the WhatsApp number


@pytest.mark.parametrize("cut", range(1, 8))
def test_a_batch_ending_right_after_the_metadata_slot_still_gives_one_conversation(service, writer, run_sync, cut):
    writer.save("6281234567021", session_start({"office_id": "batam"}),
                user("halo", "greet", metadata={"office_id": "batam"}), bot("Halo"), listen())
    run_sync(batch_events=cut)
    [conversation] = rows(service)
    assert (conversation.turns, conversation.office_id) == (1, "batam")


@pytest.mark.slow  # imports Rasa's message processor
def test_the_writers_session_start_is_what_rasas_processor_writes():
    import asyncio

    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load("domain.yml")
    # Only the parts _update_tracker_session uses: no model is loaded.
    processor = MessageProcessor.__new__(MessageProcessor)
    processor.domain, processor.action_endpoint = domain, None
    processor.nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    processor.model_metadata, processor.on_circuit_break = None, None
    rasas = DialogueStateTracker("6281234567022", domain.slots)
    asyncio.run(processor._update_tracker_session(rasas, CollectingOutputChannel(), {"office_id": "batam"}))

    class Clock:
        def tick(self, _seconds):
            return 0.0

    ours = session_start({"office_id": "batam"})(Clock())
    assert [(e.type_name, getattr(e, "action_name", None) or getattr(e, "key", None)) for e in ours] == \
           [(e.type_name, getattr(e, "action_name", None) or getattr(e, "key", None)) for e in rasas.events]
