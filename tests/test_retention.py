"""Retention on SQLite and PostgreSQL with real data in every store: a year-old applicant's data
(booking, photo, WhatsApp messages, Rasa conversation, read model, NLU decision) and a recent
applicant's. Only the old data goes; the dry run changes nothing; a second run finds nothing; the
daily timer runs once per day however many processes try."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update

from antrean.booking.schema import bookings
from antrean.handoff import service as handoff
from antrean.media.photo_store import MediaStore
from antrean.protection.erasure import ERASED_NAME
from antrean.protection.retention import DailyRetention, RetentionSettings, run
from antrean.review.schema import review_conversations, review_user_messages
from antrean.review.sync import sync
from antrean.review.tracker import events as tracker_events
from antrean.review.tracker import make_tracker_engine
from antrean.training import nlu_inbox
from antrean.training.data import load_domain
from antrean.training.schema import nlu_reviews
from antrean.whatsapp.inbox import Inbox
from antrean.whatsapp.payloads import parse_webhook
from tests.builders import make_request
from tests.conftest import wib
from tests.media.images import card, encode
from tests.review.tracker_writer import TrackerWriter, action, bot, listen, session_start, user
from tests.test_privacy import _everything, _photos
from tests.whatsapp import meta

pytestmark = pytest.mark.integration

OLD, NEW = "6281234567890", "6281398765432"
THEN = wib(2026, 12, 1, 8, 0)  # when the old applicant wrote and booked
NOW = wib(2027, 12, 10, 8, 0)  # the retention run: a year later
RECENT = wib(2027, 12, 5, 9, 0)  # when the recent applicant wrote


@pytest.fixture
def stores(database_url, tracker_url, tmp_path, make_service):
    service = make_service(database_url)
    tracker_engine = make_tracker_engine(tracker_url)
    yield service, tracker_url, tracker_engine, tmp_path / "media"
    tracker_engine.dispose()


def _store_at(root, moment):
    return MediaStore(root, clock=lambda: moment.astimezone(timezone.utc))


def _fill(service, tracker_url, tracker_engine, root):
    engine = service.engine
    photo = encode(card())
    old_photo = _store_at(root, THEN).save_id_photo(photo, OLD)
    orphan_old = _store_at(root, THEN).save_id_photo(photo, "6281111111111")  # never became a booking
    new_photo = _store_at(root, RECENT).save_id_photo(photo, NEW)
    # A photo uploaded long ago for a booking whose appointment is recent: kept (30 days after the day).
    early_photo = _store_at(root, THEN).save_id_photo(photo, NEW)
    old = service.book(make_request(serial=1, whatsapp_number=OLD, photo_ref=old_photo, request_key="wamid.old"))
    new = service.book(make_request(serial=2, whatsapp_number=NEW, photo_ref=new_photo))
    early = service.book(make_request(serial=3, whatsapp_number=NEW, day=date(2026, 12, 3), photo_ref=early_photo))
    service.cancel(old.code, actor=f"wa:{OLD}", whatsapp_number=OLD)  # finished, with a wa: actor
    with engine.begin() as connection:  # the recent applicant's appointments are this month
        connection.execute(update(bookings).where(bookings.c.id.in_([new.id, early.id]))
                           .values(day=date(2027, 12, 1)))

    writer = TrackerWriter(tracker_url, THEN)
    try:
        writer.save(OLD, session_start(), user("halo saya Siti", "greet", 0.9), action("utter_greet"),
                    bot("Halo!"), listen())
        writer.at(RECENT)
        writer.save(NEW, session_start(), user("halo saya Joko", "greet", 0.9), action("utter_greet"),
                    bot("Halo!"), listen())
    finally:
        writer.close()
    sync(engine, tracker_engine, service.offices, RECENT + timedelta(hours=1), settle_seconds=0)
    with engine.connect() as connection:
        messages = {r.sender_id: r.id for r in connection.execute(select(review_user_messages))}
    domain = load_domain()
    nlu_inbox.discard(engine, messages[OLD], "junk", "reviewer", THEN)  # goes with the message
    nlu_inbox.accept(engine, domain, messages[NEW], "greet", [], "reviewer", RECENT)

    inbox = Inbox(engine)
    naive = {OLD: THEN.astimezone(timezone.utc).replace(tzinfo=None),
             NEW: RECENT.astimezone(timezone.utc).replace(tzinfo=None)}
    for number, moment in naive.items():
        inbox.store(parse_webhook(meta.encode(meta.notification(meta.messages_value(
            meta.text(number, "halo"))))), now=moment)
        message = inbox.pending_for(number)[0]
        outbox_id = inbox.claim_reply(message.id, 0, meta.BATAM_NUMBER_ID, number, "text",
                                      {"text": {"body": "Halo"}}, "pending")
        inbox.reply_sent(outbox_id, f"wamid.out.{number}")
        inbox.finish(message.id, "answered", now=moment)
    for number, moment in ((OLD, THEN), (NEW, RECENT)):  # each asked for a person and got an answer
        request = handoff.request_handoff(engine, number, "batam", f"mau bicara petugas, {number}", moment)
        handoff.record_reply(engine, request, number, "whatsapp", f"Baik, {number}", "sent", None, "staf", moment)
        handoff.mark_answered(engine, request, "staf", moment)
    return old, new, early, {"old": old_photo, "orphan": orphan_old, "new": new_photo, "early": early_photo}


def _texts(engine, tracker_engine) -> str:
    return _everything(engine, tracker_engine)


def test_only_data_past_its_retention_period_goes_and_dry_run_changes_nothing(stores):
    service, tracker_url, tracker_engine, root = stores
    engine = service.engine
    old, new, early, photos = _fill(service, tracker_url, tracker_engine, root)
    media = _store_at(root, NOW)
    before, files = _texts(engine, tracker_engine), _photos(media)

    dry = run(engine, now=NOW, tracker_engine=tracker_engine, media=media, apply=False)
    assert _texts(engine, tracker_engine) == before and _photos(media) == files
    assert not dry.applied and "dry run" in dry.summary()

    report = run(engine, now=NOW, tracker_engine=tracker_engine, media=media)
    assert report.counts == dry.counts  # the dry run counted exactly what the run did
    assert report.counts == {
        "photos_of_bookings": 1, "photos_other": 1, "whatsapp_messages": 1, "whatsapp_replies": 1,
        "whatsapp_statuses": 0, "tracker_events": 7, "review_conversations": 1, "review_user_messages": 1,
        "nlu_reviews_anonymised": 0, "nlu_reviews_deleted": 1, "handoff_requests": 1, "handoff_replies": 1,
        "bookings_anonymised": 1, "sender_quotas": 1, "whatsapp_identities": 1,
    }
    after = _texts(engine, tracker_engine)
    assert OLD not in after and "Siti" not in after
    assert NEW in after and "Joko" in after
    assert _photos(media) == {photos["new"][6:] + ".jpg", photos["early"][6:] + ".jpg"}
    with engine.connect() as connection:
        rows = {r.id: r for r in connection.execute(select(bookings))}
        assert connection.execute(select(nlu_reviews.c.status)).scalars().all() == ["accepted"]
        assert connection.execute(select(review_conversations.c.sender_id)).scalars().all() == [NEW]
    # The old booking stays for the statistics, without personal data.
    assert rows[old.id].full_name == ERASED_NAME and rows[old.id].nik == "" and rows[old.id].photo_ref is None
    assert (rows[old.id].office_id, rows[old.id].queue_number, rows[old.id].status) == (
        old.office_id, old.queue_number, "cancelled")
    assert rows[new.id].nik != "" and rows[new.id].photo_ref == photos["new"]
    assert rows[early.id].photo_ref == photos["early"]
    with tracker_engine.connect() as connection:
        assert set(connection.execute(select(tracker_events.c.sender_id)).scalars()) == {NEW}

    again = run(engine, now=NOW, tracker_engine=tracker_engine, media=media)
    assert again.total == 0  # idempotent
    assert _texts(engine, tracker_engine) == after


def test_settings_from_the_environment():
    assert RetentionSettings.from_env({}) == RetentionSettings(30, 30, 180, 365)
    assert RetentionSettings.from_env({"ANTREAN_RETENTION_CONVERSATION_DAYS": "90"}).conversation_days == 90
    from antrean.runtime.settings import SettingsError
    for bad in ({"ANTREAN_RETENTION_PHOTO_DAYS": "0"}, {"ANTREAN_RETENTION_BOOKING_DAYS": "x"},
                {"ANTREAN_WA_RETENTION_DAYS": "3"}):
        with pytest.raises(SettingsError):
            RetentionSettings.from_env(bad)


def test_daily_run_happens_once_a_day_whatever_the_number_of_processes(sqlite_url):
    from antrean.runtime.db import make_engine

    engine = make_engine(sqlite_url)
    calls = []

    def job():
        calls.append(1)
        return run(engine, now=datetime.now(timezone.utc))

    first, second = DailyRetention(engine, job), DailyRetention(engine, job)
    assert first.run_if_due() is not None
    assert second.run_if_due() is None and first.run_if_due() is None  # this day's run is done
    assert len(calls) == 1

    def failing():
        raise RuntimeError("database away")

    engine2 = make_engine(sqlite_url)
    try:
        with engine2.begin() as connection:  # the day passed
            connection.execute(text("DELETE FROM job_leases"))
        with pytest.raises(RuntimeError):
            DailyRetention(engine2, failing).run_if_due()
        assert second.run_if_due() is not None  # a failed run does not block the next check
        assert len(calls) == 2
    finally:
        engine2.dispose()
        engine.dispose()


def test_two_runs_at_once_are_harmless(stores):
    """Two processes' runs (threads with engines of their own) overlapping: everything old goes
    exactly once, nothing fails, and the counts add up to one run's."""
    import threading

    from antrean.runtime.db import make_engine

    service, tracker_url, tracker_engine, root = stores
    _fill(service, tracker_url, tracker_engine, root)
    expected = run(service.engine, now=NOW, tracker_engine=tracker_engine, media=_store_at(root, NOW),
                   apply=False).counts
    url = service.engine.url.render_as_string(hide_password=False)
    start, reports, errors = threading.Barrier(2), [], []

    def one():
        engine, tracker = make_engine(url), make_tracker_engine(tracker_engine.url.render_as_string(False))
        try:
            start.wait()
            reports.append(run(engine, now=NOW, tracker_engine=tracker, media=_store_at(root, NOW)))
        except Exception as error:
            errors.append(error)
        finally:
            engine.dispose()
            tracker.dispose()

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert {name: sum(r.counts[name] for r in reports) for name in expected} == expected
    assert run(service.engine, now=NOW, tracker_engine=tracker_engine, media=_store_at(root, NOW)).total == 0


def test_the_command_line_dry_run_and_run(sqlite_url, tmp_path, monkeypatch, capsys):
    from antrean.cli import main
    from antrean.runtime.db import make_engine

    monkeypatch.setenv("ANTREAN_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ANTREAN_TRACKER_URL", f"sqlite:///{tmp_path / 'conversations.sqlite3'}")
    monkeypatch.setenv("ANTREAN_MEDIA_DIR", str(tmp_path / "media"))
    monkeypatch.setenv("ANTREAN_CLOCK", "2027-12-10T08:00:00+07:00")
    monkeypatch.setenv("ANTREAN_SECRET_KEY", "k" * 40)
    engine = make_engine(sqlite_url)
    inbox = Inbox(engine)
    for number, moment in ((OLD, THEN), (NEW, RECENT)):
        naive = moment.astimezone(timezone.utc).replace(tzinfo=None)
        inbox.store(parse_webhook(meta.encode(meta.notification(meta.messages_value(meta.text(number, "halo"))))),
                    now=naive)
        inbox.finish(inbox.pending_for(number)[0].id, "answered", now=naive)
    try:
        assert main(["retention", "run", "--dry-run"]) == 0
        assert "whatsapp_messages        1" in capsys.readouterr().out
        assert inbox.counts()["messages"] == 2
        assert main(["retention", "run"]) == 0
        assert "Removed" in capsys.readouterr().out and inbox.counts()["messages"] == 1
        monkeypatch.setenv("ANTREAN_RETENTION_PHOTO_DAYS", "-1")
        assert main(["retention", "run"]) == 2
        assert "ANTREAN_RETENTION_PHOTO_DAYS must be positive" in capsys.readouterr().err
    finally:
        engine.dispose()
