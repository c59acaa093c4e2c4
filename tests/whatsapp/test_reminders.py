"""Reminders the day before an appointment, on SQLite and PostgreSQL, with the Graph API stand-in:
free-form text inside the 24-hour window, the approved template outside it, nothing for cancelled
bookings or bookings not made over WhatsApp, never twice, and recorded only in sandbox mode."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone

import pytest

from antrean import cli
from antrean.runtime.db import make_engine
from antrean.runtime.settings import WhatsAppSettings
from antrean.whatsapp.graph import GraphClient
from antrean.whatsapp.inbox import Inbox
from antrean.whatsapp.payloads import parse_webhook
from antrean.whatsapp.reminders import Reminders
from tests.builders import make_request
from tests.conftest import TEST_SECRET
from tests.whatsapp import meta

pytestmark = pytest.mark.integration

TOMORROW, LATER = date(2026, 12, 2), date(2026, 12, 3)  # the clock: Tuesday 1 Dec 2026, 08:00 WIB


def wrote(inbox: Inbox, wa_id: str, hours_ago: float, clock) -> None:
    """The applicant's message, received `hours_ago` before the clock's moment."""
    at = clock().astimezone(timezone.utc).replace(tzinfo=None) - timedelta(hours=hours_ago)
    inbox.store(parse_webhook(meta.encode(meta.notification(meta.messages_value(meta.text(wa_id, "daftar"))))),
                now=at)


@pytest.fixture
def world(database_url, make_service, clock, graph):
    service = make_service(database_url)
    engine = make_engine(database_url)
    inbox = Inbox(engine)
    booked = {name: service.book(make_request(serial=serial, day=day))
              for name, serial, day in [("recent", 1, TOMORROW), ("quiet", 2, TOMORROW), ("cancelled", 3, TOMORROW),
                                        ("not_whatsapp", 4, TOMORROW), ("later", 5, LATER)]}
    wrote(inbox, booked["recent"].whatsapp_number, 1, clock)
    wrote(inbox, booked["quiet"].whatsapp_number, 30, clock)
    wrote(inbox, booked["cancelled"].whatsapp_number, 1, clock)
    wrote(inbox, booked["later"].whatsapp_number, 1, clock)
    service.cancel(booked["cancelled"].code)
    yield service, engine, booked
    engine.dispose()


def run(service, engine, settings) -> object:
    async def main():
        graph = None if settings.sandbox else GraphClient(settings)
        try:
            return await Reminders(service, engine, settings, graph).send_due()
        finally:
            if graph is not None:
                await graph.aclose()

    return asyncio.run(main())


def test_each_active_whatsapp_booking_of_tomorrow_gets_one_reminder_of_the_right_kind(world, settings, graph):
    service, engine, booked = world
    first = run(service, engine, settings)
    assert (first.text, first.template, first.already_sent, first.failed, first.not_whatsapp) == (1, 1, 0, 0, 1)

    [text] = graph.sent_to(booked["recent"].whatsapp_number)
    assert text["type"] == "text" and text["phone_number_id"] == meta.BATAM_NUMBER_ID
    body = text["text"]["body"]
    assert "Pengingat" in body and "Besok" in body and "A-001" in body and booked["recent"].code in body

    [template] = graph.sent_to(booked["quiet"].whatsapp_number)
    assert template["type"] == "template"
    assert template["template"]["name"] == settings.reminder_template
    assert template["template"]["language"] == {"code": "id"}
    values = [p["text"] for p in template["template"]["components"][0]["parameters"]]
    assert values[0] == booked["quiet"].applicant.full_name and "A-002" in values and booked["quiet"].code in values

    for name in ("cancelled", "not_whatsapp", "later"):
        assert graph.sent_to(booked[name].whatsapp_number) == []
    statuses = [r["status"] for n in ("recent", "quiet") for r in Inbox(engine).replies_to(booked[n].whatsapp_number)]
    assert statuses == ["sent", "sent"]

    again = run(service, engine, settings)  # the timer fires again, or a second server runs it too
    assert (again.text, again.template, again.already_sent) == (0, 0, 2)
    assert len(graph.sent) == 2


def test_in_sandbox_mode_reminders_are_recorded_in_the_outbox_and_not_sent(world, sandbox_settings, graph):
    service, engine, booked = world
    result = run(service, engine, sandbox_settings)
    assert (result.text, result.template) == (1, 1)
    assert graph.sent == []
    [recorded] = Inbox(engine).replies_to(booked["quiet"].whatsapp_number)
    assert recorded["status"] == "sandbox" and recorded["payload"]["type"] == "template"


def test_the_template_and_its_parameters_come_from_the_settings():
    settings = WhatsAppSettings.from_env({"ANTREAN_WA_REMINDER_TEMPLATE": "reminder_v2",
                                          "ANTREAN_WA_REMINDER_LANGUAGE": "en",
                                          "ANTREAN_WA_REMINDER_PARAMETERS": "queue_number, day"})
    assert (settings.reminder_template, settings.reminder_language) == ("reminder_v2", "en")
    assert settings.reminder_parameters == ("queue_number", "day")
    with pytest.raises(Exception, match="unknown nik"):
        WhatsAppSettings.from_env({"ANTREAN_WA_REMINDER_PARAMETERS": "nik"})


def test_the_cli_sends_the_reminders_and_a_second_run_sends_nothing(world, graph, database_url, monkeypatch, capsys):
    monkeypatch.setenv("ANTREAN_DATABASE_URL", database_url)
    monkeypatch.setenv("ANTREAN_CLOCK", datetime(2026, 12, 1, 16, 0, tzinfo=timezone(timedelta(hours=7))).isoformat())
    monkeypatch.setenv("ANTREAN_SECRET_KEY", TEST_SECRET.decode())
    monkeypatch.setenv("ANTREAN_WA_ACCESS_TOKEN", graph.token)
    monkeypatch.setenv("ANTREAN_WA_GRAPH_URL", graph.url)
    monkeypatch.setenv("ANTREAN_WA_GRAPH_VERSION", graph.version)
    for name in ("ANTREAN_WA_VERIFY_TOKEN", "ANTREAN_WA_APP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["reminders", "send"]) == 0
    assert "1 text, 1 template" in capsys.readouterr().out
    assert cli.main(["reminders", "send"]) == 0
    assert "0 text, 0 template, 2 already sent" in capsys.readouterr().out
    assert len(graph.sent) == 2


def test_a_user_without_a_shared_number_is_reminded_at_their_bsuid_and_a_number_user_at_the_number(
        database_url, make_service, clock, graph, settings):
    service = make_service(database_url)
    engine = make_engine(database_url)
    inbox = Inbox(engine)
    hidden, linked = "ID.1502576394655843", "ID.7712093344556677"
    at = clock().astimezone(timezone.utc).replace(tzinfo=None) - timedelta(hours=2)
    for message in (meta.by_user(meta.text("6281200000001", "daftar"), hidden, phone=False),
                    meta.text("6281377778888", "daftar"),  # known by number before BSUIDs,
                    meta.by_user(meta.text("6281377778888", "lagi"), linked),  # then with both,
                    meta.by_user(meta.text("6281377778888", "ya"), linked, phone=False)):  # then hid it
        inbox.store(parse_webhook(meta.encode(meta.notification(meta.messages_value(message)))), now=at)
    service.book(make_request(serial=1, day=TOMORROW, whatsapp_number=hidden))
    service.book(make_request(serial=2, day=TOMORROW, whatsapp_number="6281377778888"))
    try:
        outcome = run(service, engine, settings)
    finally:
        engine.dispose()
    assert (outcome.text, outcome.failed, outcome.not_whatsapp) == (2, 0, 0)
    [to_bsuid] = graph.sent_to(hidden)
    assert to_bsuid["recipient"] == hidden and "to" not in to_bsuid and "Pengingat" in to_bsuid["text"]["body"]
    [to_number] = graph.sent_to("6281377778888")
    assert "recipient" not in to_number
