"""Erasing one applicant's personal data, on SQLite and PostgreSQL, with every store filled through
the real code paths: a booking through BookingService, photos through the media store, Rasa's own
SQLTrackerStore, the review read model's sync, the WhatsApp inbox/outbox, handoff, NLU inbox and
the audit log. After the erasure no store holds the applicant's number, NIK or name; another
applicant's data is untouched and the day's seat counts are right."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from antrean.booking.schema import bookings, queue_days, session_seats
from antrean.booking.store import to_db_time
from antrean.cli import main
from antrean.console.audit import AuditLog
from antrean.console.schema import audit_log
from antrean.handoff import service as handoff
from antrean.identity import mask_msisdn
from antrean.media.photo_store import MediaStore
from antrean.model_registry import schema as _model_registry_tables  # noqa: F401  (their decision is tested)
from antrean.protection.erasure import ERASED_NAME, ErasureRefused, Subject, erase, export
from antrean.review.schema import review_conversations, review_user_messages
from antrean.review.sync import sync
from antrean.review.tracker import events as tracker_events
from antrean.review.tracker import make_tracker_engine
from antrean.runtime.tables import metadata
from antrean.training import nlu_inbox
from antrean.training.data import load_domain
from antrean.training.schema import nlu_reviews
from antrean.whatsapp.inbox import Inbox, utcnow
from antrean.whatsapp.payloads import parse_webhook
from antrean.whatsapp.sandbox import SimulatorMedia
from antrean.whatsapp.schema import whatsapp_reminders
from tests.builders import make_nik, make_request
from tests.conftest import wib
from tests.media.images import card, encode
from tests.review.tracker_writer import TrackerWriter, action, bot, listen, loop, session_start, slot, user
from tests.whatsapp import meta

pytestmark = pytest.mark.integration

ALICE = "6281234567890"  # the applicant who asks for erasure
BOB = "6281398765432"  # someone else, who must stay untouched
ALICE_BIRTH, BOB_BIRTH = date(1990, 8, 17), date(1985, 3, 4)
ALICE_NIK = make_nik(ALICE_BIRTH, "P", serial=7)
BOB_NIK = make_nik(BOB_BIRTH, "L", serial=8)
ALICE_NAME, BOB_NAME = "Siti Rahmawati", "Joko Prasetyo"
WEDNESDAY = date(2026, 12, 2)


@pytest.fixture
def stores(database_url, tracker_url, tmp_path, make_service):
    """An empty booking database (both backends), Rasa's tracker store next to it, a media store."""
    service = make_service(database_url)
    tracker_engine = make_tracker_engine(tracker_url)
    yield service, tracker_url, tracker_engine, MediaStore(tmp_path / "media")
    tracker_engine.dispose()


def _conversation(w: TrackerWriter, sender: str, name: str, nik: str, code: str) -> None:
    nik_entity = {"entity": "nik", "value": nik, "start": 9, "end": 25, "extractor": "RegexEntityExtractor"}
    w.save(sender, session_start(), user("halo", "greet", 0.98, metadata={"office_id": "batam"}),
           action("utter_greet"), bot("Halo!"), listen())
    w.save(sender, user(f"nama saya {name}", "inform", 0.55), action("registration_form"),
           slot("person_name", name), bot("Berapa NIK Anda?"), listen())
    w.save(sender, user(f"NIK saya {nik}", "inform", 0.42, runner_up="register", entities=[nik_entity]),
           action("registration_form"), slot("nik", nik), loop(None), action("action_submit_registration"),
           bot(f"Antrean Anda: {code}"), listen())


def _fill(service, tracker_url, tracker_engine, media):
    """Both applicants write, book, get answered; Alice also sends a photo and asks for a person."""
    engine = service.engine
    photo = encode(card())
    alice_ref = media.save_id_photo(photo, ALICE)
    bob_ref = media.save_id_photo(photo, BOB)
    # An earlier booking of Alice's, cancelled by herself over WhatsApp (actor "wa:<number>").
    old = service.book(make_request(full_name=ALICE_NAME.lower(), birth=ALICE_BIRTH, nik=ALICE_NIK,
                                    whatsapp_number=ALICE, day=date(2026, 12, 3)))
    service.cancel(old.code, actor=f"wa:{ALICE}", whatsapp_number=ALICE)
    alice = service.book(make_request(full_name=ALICE_NAME.lower(), birth=ALICE_BIRTH, nik=ALICE_NIK,
                                      whatsapp_number=ALICE, photo_ref=alice_ref, request_key="wamid.alice"))
    bob = service.book(make_request(full_name=BOB_NAME.lower(), birth=BOB_BIRTH, nik=BOB_NIK,
                                    whatsapp_number=BOB, photo_ref=bob_ref))
    writer = TrackerWriter(tracker_url, wib(2026, 12, 1, 7, 40))
    try:
        _conversation(writer, ALICE, ALICE_NAME, ALICE_NIK, alice.code)
        _conversation(writer, BOB, BOB_NAME, BOB_NIK, bob.code)
    finally:
        writer.close()
    now = service.clock()
    sync(engine, tracker_engine, service.offices, now + timedelta(hours=1), settle_seconds=0)

    inbox = Inbox(engine)
    media_id, sha = SimulatorMedia(engine).put(photo, "image/jpeg", now=to_db_time(now))
    inbox.store(parse_webhook(meta.encode(meta.notification(meta.messages_value(
        meta.text(ALICE, f"NIK saya {ALICE_NIK}"), meta.image(ALICE, media_id, sha), meta.text(BOB, "halo"))))))
    for number in (ALICE, BOB):
        message = inbox.pending_for(number)[0]
        outbox_id = inbox.claim_reply(message.id, 0, meta.BATAM_NUMBER_ID, number, "text",
                                      {"text": {"body": f"Halo, antrean Anda {number}"}}, "pending")
        inbox.reply_sent(outbox_id, f"wamid.out.{number}")
        inbox.claim_sender(number, "worker-1", 30, now=utcnow() - timedelta(minutes=5))  # run out
        with engine.begin() as connection:
            booking_id = alice.id if number == ALICE else bob.id
            connection.execute(whatsapp_reminders.insert().values(booking_id=booking_id, day=WEDNESDAY, kind="text",
                                                                  outbox_id=outbox_id, created_at=to_db_time(now)))
    inbox.store(parse_webhook(meta.encode(meta.notification(meta.statuses_value(
        meta.status(f"wamid.out.{ALICE}", "delivered", recipient=ALICE),
        meta.status(f"wamid.out.{BOB}", "delivered", recipient=BOB))))))

    request_id = handoff.request_handoff(engine, ALICE, "batam", f"tolong, NIK saya {ALICE_NIK}", now)
    handoff.record_reply(engine, request_id, ALICE, "whatsapp", f"Baik Ibu {ALICE_NAME}", "sandbox", None,
                         "admin", now)
    handoff.request_handoff(engine, BOB, "batam", "tolong", now)

    domain = load_domain()
    with engine.connect() as connection:
        messages = {(r.sender_id, r.text): r.id for r in connection.execute(select(review_user_messages))}
    nlu_inbox.accept(engine, domain, messages[(ALICE, f"NIK saya {ALICE_NIK}")], "inform",
                     [{"entity": "nik", "start": 9, "end": 25}], "reviewer", now)
    nlu_inbox.accept(engine, domain, messages[(ALICE, f"nama saya {ALICE_NAME}")], "inform", [], "reviewer", now)
    nlu_inbox.discard(engine, messages[(ALICE, "halo")], "junk", "reviewer", now)
    nlu_inbox.accept(engine, domain, messages[(BOB, f"NIK saya {BOB_NIK}")], "inform",
                     [{"entity": "nik", "start": 9, "end": 25}], "reviewer", now)

    audit = AuditLog(engine, service.clock)
    audit.record("counter", "personal_data.viewed", target=alice.code, office_id="batam")
    # An entry written carelessly with the raw number (the erasure must mask it).
    audit.record("admin", "handoff.replied", target=ALICE, detail_note=f"untuk {ALICE_NAME}")
    audit.record("counter", "personal_data.viewed", target=bob.code, office_id="batam")
    return alice, bob, old


def _everything(engine, tracker_engine) -> str:
    """Every row of every table, as text."""
    dump = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            dump += [repr(tuple(row)) for row in connection.execute(select(table))]
    with tracker_engine.connect() as connection:
        dump += [row.sender_id + " " + (row.data or "") for row in connection.execute(select(tracker_events))]
    return "\n".join(dump)


def _seats(engine):
    with engine.connect() as connection:
        seats = {(r.day, r.session_start): r.booked for r in connection.execute(select(session_seats))}
        queue = {r.day: r.last_number for r in connection.execute(select(queue_days))}
    return seats, queue


def _photos(media) -> set[str]:
    return {p.name for p in media.root.rglob("*.jpg")}


def test_erasure_removes_the_applicant_from_every_store_and_keeps_the_counts(stores):
    service, tracker_url, tracker_engine, media = stores
    alice, bob, _old = _fill(service, tracker_url, tracker_engine, media)
    engine = service.engine
    before = _everything(engine, tracker_engine)
    for value in (ALICE, ALICE_NIK, ALICE_NAME, BOB, BOB_NIK, BOB_NAME):
        assert value in before
    seats_before, queue_before = _seats(engine)
    photos_before = _photos(media)

    # A dry run counts and changes nothing.
    dry = erase(engine, Subject.from_input("0812-3456-7890"), actor="admin", now=service.clock(),
                tracker_engine=tracker_engine, media=media, offices=service.offices, apply=False)
    assert not dry.applied and dry.counts["bookings"] == 2 and dry.counts["photos"] == 1
    assert dry.counts["tracker_events"] > 0 and dry.counts["whatsapp_inbox"] == 2
    assert dry.closed == [(alice.code, "cancelled")]
    assert _everything(engine, tracker_engine) == before
    assert _photos(media) == photos_before

    report = erase(engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
                   tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert report.applied
    counts = {k: v for k, v in report.counts.items() if v}
    assert counts == {k: v for k, v in dry.counts.items() if v}
    assert counts["bookings"] == 2 and counts["bookings_closed"] == 1 and counts["booking_events"] == 1
    assert counts["review_conversations"] == 1 and counts["review_user_messages"] == 3
    assert counts["nlu_reviews_anonymised"] == 2 and counts["nlu_reviews_deleted"] == 1
    assert counts["handoff_requests"] == 1 and counts["handoff_replies"] == 1
    assert counts["whatsapp_inbox"] == 2 and counts["whatsapp_outbox"] == 1 and counts["whatsapp_statuses"] == 1
    assert counts["whatsapp_reminders"] == 1 and counts["whatsapp_sender_leases"] == 1
    assert counts["simulator_media"] == 1 and counts["sender_quotas"] == 1 and counts["audit_log_scrubbed"] == 1
    assert counts["photos"] == 1

    after = _everything(engine, tracker_engine)
    for value in (ALICE, ALICE_NIK, ALICE_NAME, ALICE_NAME.lower()):
        assert value not in after, value
    for value in (BOB, BOB_NIK, BOB_NAME):  # the other applicant is untouched
        assert value in after
    assert _photos(media) == photos_before - {alice.photo_ref.removeprefix("photo:") + ".jpg"}
    assert media.open(bob.photo_ref)
    with tracker_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tracker_events)
                                  .where(tracker_events.c.sender_id == BOB)).scalar_one() > 0

    # The bookings stay, anonymised and closed: the seats are free, queue numbers not reused.
    with engine.connect() as connection:
        rows = {r.code: r for r in connection.execute(select(bookings))}
        conversations = connection.execute(select(review_conversations.c.sender_id)).scalars().all()
        kept = connection.execute(select(nlu_reviews).order_by(nlu_reviews.c.id)).all()
        entry = connection.execute(select(audit_log).where(audit_log.c.action == "privacy.erased")).one()
    assert rows[alice.code].full_name == ERASED_NAME and rows[alice.code].status == "cancelled"
    assert rows[alice.code].queue_number == alice.queue_number and rows[alice.code].whatsapp_number == ""
    assert rows[alice.code].photo_ref is None and rows[alice.code].nik == ""
    assert rows[bob.code].full_name == BOB_NAME and rows[bob.code].status == "booked"
    seats_after, queue_after = _seats(engine)
    assert seats_after[(WEDNESDAY, alice.session_start)] == seats_before[(WEDNESDAY, alice.session_start)] - 1
    assert sum(seats_after.values()) == sum(seats_before.values()) - 1 == 1
    assert queue_after == queue_before
    assert service.availability("batam", [WEDNESDAY])[0].sessions[0].booked == 1
    assert conversations == [BOB]
    # Accepted NLU examples stay, anonymised and detached; Bob's is as it was.
    alice_examples = [r for r in kept if r.message_id < 0]
    assert len(alice_examples) == 2 and all(r.status == "accepted" for r in alice_examples)
    nik_example = next(r for r in alice_examples if r.text.startswith("NIK saya "))
    placeholder = json.loads(nik_example.entities)[0]
    assert nik_example.text[placeholder["start"]:placeholder["end"]] == placeholder["value"] != ALICE_NIK
    assert any(r.text == f"NIK saya {BOB_NIK}" for r in kept)
    assert entry.actor == "admin" and entry.target == mask_msisdn(ALICE)
    assert json.loads(entry.detail)["counts"]["tracker_events"] == counts["tracker_events"]
    # Alice may book again (no active booking left on her NIK or number).
    again = service.book(make_request(full_name=ALICE_NAME.lower(), birth=ALICE_BIRTH, nik=ALICE_NIK,
                                      whatsapp_number=ALICE))
    assert again.queue_number == queue_before[WEDNESDAY] + 1


def test_every_table_has_a_decision():
    from antrean.protection.erasure import TABLES_ERASED, TABLES_WITHOUT_APPLICANT_DATA

    assert TABLES_ERASED.isdisjoint(TABLES_WITHOUT_APPLICANT_DATA)
    assert {t.name for t in metadata.sorted_tables} == TABLES_ERASED | set(TABLES_WITHOUT_APPLICANT_DATA)


def test_erasing_twice_finds_nothing_the_second_time(stores):
    service, tracker_url, tracker_engine, media = stores
    _fill(service, tracker_url, tracker_engine, media)
    first = erase(service.engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
                  tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert first.total > 0
    dump = _everything(service.engine, tracker_engine)
    second = erase(service.engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
                   tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert second.total == 0 and second.closed == []
    # Only a second audit entry was added.
    assert _everything(service.engine, tracker_engine).count("privacy.erased") == dump.count("privacy.erased") + 1


def test_a_failure_after_the_tracker_step_leaves_a_retryable_state(stores, monkeypatch):
    service, tracker_url, tracker_engine, media = stores
    _fill(service, tracker_url, tracker_engine, media)
    import antrean.protection.erasure as privacy

    real = privacy._scrub_audit
    calls = {"n": 0}

    def failing(connection, *args):
        calls["n"] += 1
        if calls["n"] == 2:  # the dry pass works, the real pass fails inside the transaction
            raise RuntimeError("disk full")
        return real(connection, *args)

    monkeypatch.setattr(privacy, "_scrub_audit", failing)
    with pytest.raises(RuntimeError):
        erase(service.engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
              tracker_engine=tracker_engine, media=media, offices=service.offices)
    with service.engine.connect() as connection:  # the booking database was not half written
        assert connection.execute(select(bookings.c.full_name).where(bookings.c.whatsapp_number == ALICE)).first()
    monkeypatch.setattr(privacy, "_scrub_audit", real)
    retry = erase(service.engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
                  tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert retry.counts["bookings"] == 2 and retry.counts["tracker_events"] == 0  # done by the first run
    dump = _everything(service.engine, tracker_engine)
    assert ALICE not in dump and ALICE_NIK not in dump and ALICE_NAME not in dump


def test_a_checked_in_applicant_is_not_erased_until_the_visit_is_over(stores):
    service, _tracker_url, tracker_engine, media = stores
    booking = service.book(make_request(whatsapp_number=ALICE))
    service.clock.moment = wib(2026, 12, 2, 7, 50)
    service.check_in(booking.code, "door")
    with pytest.raises(ErasureRefused, match="check-in"):
        erase(service.engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
              tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert service.get_by_code(booking.code).applicant.full_name == "Budi Santoso"
    service.mark_served(booking.code, "counter")
    report = erase(service.engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
                   tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert report.counts["bookings"] == 1 and report.closed == []
    assert service.get_by_code(booking.code).status.value == "served"


def test_an_applicant_being_answered_by_a_worker_is_not_erased_meanwhile(stores):
    service, _tracker_url, tracker_engine, media = stores
    booking = service.book(make_request(whatsapp_number=ALICE))
    assert Inbox(service.engine).claim_sender(ALICE, "worker-1", 30)
    with pytest.raises(ErasureRefused, match="sedang menjawab"):
        erase(service.engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
              tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert service.get_by_code(booking.code).applicant.full_name == "Budi Santoso"
    Inbox(service.engine).release_sender(ALICE, "worker-1")
    report = erase(service.engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
                   tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert report.counts["bookings"] == 1 and report.counts["whatsapp_sender_leases"] == 0
    assert not Inbox(service.engine).holds_lease(ALICE, "privacy-erasure")  # released with the erasure


def test_one_erasure_runs_at_a_time_and_a_crashed_ones_lease_is_taken_over(stores, monkeypatch):
    from datetime import timedelta

    from antrean.protection import erasure
    from antrean.runtime import job_leases

    service, _tracker_url, tracker_engine, media = stores
    booking = service.book(make_request(whatsapp_number=ALICE))
    monkeypatch.setattr(erasure, "JOB_WAIT_SECONDS", 0.5)  # how long the second waits for the first
    assert job_leases.acquire(service.engine, erasure.JOB, "another-erasure", 60)
    with pytest.raises(ErasureRefused, match="Penghapusan data lain sedang berjalan"):
        erase(service.engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
              tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert service.get_by_code(booking.code).applicant.full_name == "Budi Santoso"
    # The other erasure's process died five minutes ago: its lease has run out.
    assert job_leases.acquire(service.engine, erasure.JOB, "another-erasure", 60,
                              now=job_leases.utcnow() - timedelta(minutes=5))
    report = erase(service.engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
                   tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert report.counts["bookings"] == 1
    assert job_leases.holder_of(service.engine, erasure.JOB) is None  # released with the erasure


def test_a_booking_whose_day_has_passed_is_closed_as_no_show(stores):
    service, _tracker_url, tracker_engine, media = stores
    booking = service.book(make_request(whatsapp_number=ALICE))
    service.clock.moment = wib(2026, 12, 3, 9, 0)
    report = erase(service.engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
                   tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert report.closed == [(booking.code, "no_show")]
    assert service.availability("batam", [WEDNESDAY])[0].sessions[0].booked == 1  # the past day's count stays


def test_a_nik_adds_the_bookings_made_for_it_from_another_number(stores):
    service, _tracker_url, tracker_engine, media = stores
    for_child = service.book(make_request(serial=3, whatsapp_number=BOB))  # a parent booked from Bob's phone
    report = erase(service.engine, Subject.from_input(ALICE, nik=for_child.applicant.nik), actor="admin",
                   now=service.clock(), tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert report.counts["bookings"] == 1
    assert service.get_by_code(for_child.code).applicant.nik == ""


def test_export_lists_what_is_stored(stores):
    service, tracker_url, tracker_engine, media = stores
    alice, _bob, _old = _fill(service, tracker_url, tracker_engine, media)
    found = export(service.engine, Subject.from_input(ALICE), tracker_engine=tracker_engine, media=media)
    assert alice.code in [b["code"] for b in found["bookings"]]
    assert found["photos"] == [alice.photo_ref]
    assert found["conversation_events"] and all(BOB not in json.dumps(v) for v in found.values())
    json.dumps(found)  # JSON-ready


def test_erasure_and_export_find_a_whatsapp_user_by_bsuid_or_username(stores):
    service, tracker_url, tracker_engine, media = stores
    engine = service.engine
    inbox = Inbox(engine)
    alice_bsuid, carol_bsuid = "ID.1502576394655843", "ID.7712093344556677"

    def write(message, usernames=None):
        inbox.store(parse_webhook(meta.encode(meta.notification(meta.messages_value(message, usernames=usernames)))))

    # Alice wrote with her number before BSUIDs existed, then with both, then adopted a username and hid it.
    write(meta.text(ALICE, "halo"))
    write(meta.by_user(meta.text(ALICE, "mau daftar"), alice_bsuid))
    write(meta.by_user(meta.text(ALICE, "ya"), alice_bsuid, phone=False), usernames={alice_bsuid: "siti.r"})
    # Carol never shared her number: her conversation and booking are filed under her BSUID.
    write(meta.by_user(meta.text(BOB, "halo"), carol_bsuid, phone=False))
    alice = service.book(make_request(serial=5, whatsapp_number=ALICE))
    carol = service.book(make_request(serial=6, whatsapp_number=carol_bsuid))
    writer = TrackerWriter(tracker_url, wib(2026, 12, 1, 7, 40))
    try:  # Rasa's conversations are filed under the sender keys too
        _conversation(writer, ALICE, ALICE_NAME, ALICE_NIK, alice.code)
        _conversation(writer, carol_bsuid, BOB_NAME, BOB_NIK, carol.code)
    finally:
        writer.close()

    found = export(engine, Subject.from_input("@siti.r"), tracker_engine=tracker_engine, media=media)
    assert found["sender_id"] == ALICE and [b["code"] for b in found["bookings"]] == [alice.code]
    assert [(i["phone"], i["user_id"], i["username"]) for i in found["whatsapp_identity"]] == [
        (ALICE, alice_bsuid, "siti.r")]
    assert [m["user_id"] for m in found["whatsapp_messages_received"]] == [None, alice_bsuid, alice_bsuid]

    report = erase(engine, Subject.from_input(alice_bsuid), actor="admin", now=service.clock(),
                   tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert report.counts["whatsapp_identities"] == 1 and report.counts["bookings"] == 1
    assert report.counts["whatsapp_inbox"] == 3 and report.subject.sender_id == ALICE
    assert report.counts["tracker_events"] > 0
    dump = _everything(engine, tracker_engine)
    for value in (ALICE, alice_bsuid, "siti.r"):
        assert value not in dump, value
    assert carol_bsuid in dump

    report = erase(engine, Subject.from_input(carol_bsuid), actor="admin", now=service.clock(),
                   tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert report.counts["bookings"] == 1 and report.counts["whatsapp_identities"] == 1
    assert service.get_by_code(carol.code).applicant.nik == ""
    assert carol_bsuid not in _everything(engine, tracker_engine)


# --- the command line --------------------------------------------------------------------------

def test_cli_shows_what_would_be_erased_and_erases_only_with_yes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ANTREAN_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("ANTREAN_TRACKER_URL", f"sqlite:///{tmp_path / 'conversations.sqlite3'}")
    monkeypatch.setenv("ANTREAN_MEDIA_DIR", str(tmp_path / "media"))
    monkeypatch.setenv("ANTREAN_CLOCK", "2026-12-01T08:00:00+07:00")
    monkeypatch.setenv("ANTREAN_SECRET_KEY", "k" * 40)
    assert main(["db", "upgrade"]) == 0
    from antrean.runtime.bootstrap import booking_service, media_store

    service = booking_service()
    ref = media_store().save_id_photo(encode(card()), ALICE)
    booking = service.book(make_request(whatsapp_number=ALICE, photo_ref=ref))
    writer = TrackerWriter(f"sqlite:///{tmp_path / 'conversations.sqlite3'}", wib(2026, 12, 1, 7, 40))
    writer.save(ALICE, session_start(), user("halo", "greet"), listen())
    writer.close()
    capsys.readouterr()

    assert main(["privacy", "erase", "--number", "0812 3456 7890"]) == 0
    out = capsys.readouterr().out
    assert "Would erase" in out and "--yes" in out and ALICE not in out and mask_msisdn(ALICE) in out
    assert f"booking {booking.code} was active: cancelled" in out
    assert service.get_by_code(booking.code).applicant.full_name == "Budi Santoso"

    assert main(["privacy", "export", "--number", ALICE, "--out", str(tmp_path / "alice.json")]) == 0
    capsys.readouterr()
    exported = json.loads((tmp_path / "alice.json").read_text())
    assert exported["bookings"][0]["nik"] == booking.applicant.nik
    assert (tmp_path / "alice.json").stat().st_mode & 0o777 == 0o600

    assert main(["privacy", "erase", "--number", "0812 3456 7890", "--yes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Erased") and "photos" in out
    erased = service.get_by_code(booking.code)
    assert erased.applicant.full_name == ERASED_NAME and erased.status.value == "cancelled"
    assert not list((tmp_path / "media").rglob("*.jpg"))
    tracker = make_tracker_engine(f"sqlite:///{tmp_path / 'conversations.sqlite3'}")
    with tracker.connect() as connection:
        assert connection.execute(select(func.count()).select_from(tracker_events)).scalar_one() == 0
    tracker.dispose()
    actions = [e.action for e in AuditLog(service.engine, service.clock).recent()]
    assert actions[:2] == ["privacy.erased", "privacy.exported"]
    service.engine.dispose()


def test_cli_refuses_a_bad_nik(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ANTREAN_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("ANTREAN_SECRET_KEY", "k" * 40)
    assert main(["privacy", "erase", "--number", ALICE, "--nik", "123"]) == 2
    assert "NIK" in capsys.readouterr().err



def test_what_was_read_from_an_ektp_is_exported_and_goes_with_its_photo(stores, tmp_path):
    service, _tracker_url, tracker_engine, media = stores
    reading = {"card_found": True, "nik": ALICE_NIK, "name": ALICE_NAME.upper()}
    ref = media.save_id_photo(encode(card()), ALICE, card=reading)
    found = export(service.engine, Subject.from_input(ALICE), tracker_engine=tracker_engine, media=media)
    assert found["photo_readings"] == {ref: reading}
    erase(service.engine, Subject.from_input(ALICE), actor="admin", now=service.clock(),
          tracker_engine=tracker_engine, media=media, offices=service.offices)
    assert media.card_reading(ref) is None and not media.path(ref).exists()
    assert ALICE_NIK not in "".join(p.read_text() for p in (tmp_path / "media").glob("*/*.json"))
    # Retention: an old upload goes with what was read from it.
    old = media.save_id_photo(encode(card()), BOB, card=reading)
    media.purge_older_than(0, now=datetime.now(timezone.utc) + timedelta(days=1))
    assert media.card_reading(old) is None and not media.path(old).exists()


def test_exported_test_stories_of_the_applicant_are_exported_and_erased(stores, tmp_path):
    """Issue 15.9: tests/reviewed_stories/ is a store too: the stories of the applicant's
    conversations, and an older one that still names their NIK, go; another applicant's stays."""
    from antrean.review import stories
    from antrean.review import tracker as tracker_store

    service, tracker_url, tracker_engine, media = stores
    _fill(service, tracker_url, tracker_engine, media)
    stories_dir = tmp_path / "reviewed_stories"
    with service.engine.connect() as connection:
        conversations = {r.sender_id: r for r in connection.execute(select(review_conversations))}
    for sender in (ALICE, BOB):
        c = conversations[sender]
        with tracker_engine.connect() as connection:
            events = tracker_store.sender_events(connection, sender, c.first_event_id, c.last_event_id)
        stories.write_story(stories_dir, c.id, f"percakapan {c.id}", events)
    (stories_dir / "percakapan_lama.yml").write_text(f"- user: NIK saya {ALICE_NIK}\n", encoding="utf-8")
    alice_story = f"percakapan_{conversations[ALICE].id}.yml"
    assert ALICE_NAME not in (stories_dir / alice_story).read_text()  # exported masked

    subject = Subject.from_input(ALICE)
    found = export(service.engine, subject, tracker_engine=tracker_engine, media=media, stories_dir=stories_dir)
    assert sorted(f["file"] for f in found["exported_stories"]) == [alice_story, "percakapan_lama.yml"]
    dry = erase(service.engine, subject, actor="admin", now=service.clock(), tracker_engine=tracker_engine,
                media=media, apply=False, stories_dir=stories_dir)
    assert dry.counts["exported_stories"] == 2 and len(list(stories_dir.glob("*.yml"))) == 3
    report = erase(service.engine, subject, actor="admin", now=service.clock(), tracker_engine=tracker_engine,
                   media=media, stories_dir=stories_dir)
    assert report.counts["exported_stories"] == 2
    assert [p.name for p in stories_dir.glob("*.yml")] == [f"percakapan_{conversations[BOB].id}.yml"]
    [entry] = AuditLog(service.engine, service.clock).recent(action="privacy.erased")
    assert entry.detail["counts"]["exported_stories"] == 2
    again = erase(service.engine, subject, actor="admin", now=service.clock(), tracker_engine=tracker_engine,
                  media=media, stories_dir=stories_dir)
    assert again.counts["exported_stories"] == 0


def test_exported_stories_are_kept_out_of_git_until_a_maintainer_adds_one():
    """Issue 15.9: the folder was neither ignored nor reviewed."""
    import shutil
    import subprocess

    from antrean.review.stories import DEFAULT_STORIES_DIR
    from antrean.runtime.db import REPO_ROOT
    from tests.conftest import absent

    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        absent("not a git checkout: nothing to ignore")
    story = DEFAULT_STORIES_DIR / "percakapan_12345.yml"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(story)], cwd=REPO_ROOT, check=False)
    assert ignored.returncode == 0
