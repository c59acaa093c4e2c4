"""The console keeps its conversation review up to date on its own: every ANTREAN_REVIEW_SYNC_SECONDS
its timer copies what Rasa saved, without anyone opening the list (bench-review-sync measures how
soon, with two Rasa servers)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from antrean.console import create_app
from antrean.console.config import ConsoleConfig, TestingConfig
from antrean.console.devserver import serving
from antrean.media.photo_store import MediaStore
from antrean.review.schema import review_user_messages
from antrean.runtime.settings import SettingsError
from tests.conftest import wib
from tests.review.tracker_writer import TrackerWriter, listen, session_start, user


def test_the_interval_comes_from_the_settings():
    assert ConsoleConfig.from_env({"ANTREAN_REVIEW_SYNC_SECONDS": "0.5"}).review_sync_seconds == 0.5
    assert ConsoleConfig.from_env({}).review_sync_seconds == 2.0
    with pytest.raises(SettingsError, match="ANTREAN_REVIEW_SYNC_SECONDS"):
        ConsoleConfig.from_env({"ANTREAN_REVIEW_SYNC_SECONDS": "0"})


def test_the_timer_copies_new_messages_without_a_page_load(make_service, sqlite_url, clock, tmp_path):
    tracker_url = f"sqlite:///{tmp_path / 'conversations.sqlite3'}"
    writer = TrackerWriter(tracker_url, wib(2026, 12, 1, 7, 40))
    service = make_service(sqlite_url)
    config = TestingConfig(service=service, media_store=MediaStore(tmp_path / "media"), tracker_url=tracker_url,
                           review_sync_seconds=0.2)
    app = create_app(config)
    m = review_user_messages.c

    def copied() -> list[str]:
        with service.engine.connect() as connection:
            return list(connection.execute(select(m.text).order_by(m.event_id)).scalars())

    try:
        with serving(app):
            writer.save("6281200000021", session_start(), user("halo", "greet"), listen())
            writer.save("6281200000022", session_start(), user("jam buka kapan", "ask_hours"), listen())
            deadline = time.monotonic() + 20
            while len(copied()) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert copied() == ["halo", "jam buka kapan"]
    finally:
        app.ctx.review.close()
        writer.close()
