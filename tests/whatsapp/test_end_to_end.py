"""End to end through the running stack (Rasa server with the WhatsApp channel, action server,
booking database) with the Graph API stand-in in place of Meta: a registration over signed
webhooks ends in a booking row, a reply and an uploaded QR ticket for the applicant."""

from __future__ import annotations

import time
from datetime import date

import httpx
import pytest
from sqlalchemy import func, select

from antrean.booking.schema import bookings
from antrean.runtime.db import make_engine, upgrade_database
from antrean.runtime.serve import Stack
from antrean.whatsapp.schema import whatsapp_inbox
from tests.actions.conftest import card_photo
from tests.whatsapp import meta
from tests.whatsapp.server import free_port
from tests.whatsapp.standin import GraphStandIn

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "e2e-secret-key-for-booking-codes-0123456789"
SENDER = "6281299990002"


@pytest.fixture(scope="module")
def running(tmp_path_factory, trained_model):
    folder = tmp_path_factory.mktemp("wa-e2e")
    database = f"sqlite:///{folder / 'bookings.sqlite3'}"
    upgrade_database(database)
    graph = GraphStandIn().start()
    stack = Stack(
        rasa_port=free_port(), actions_port=free_port(),
        conversations_url=f"sqlite:///{folder / 'conversations.sqlite3'}", run_dir=folder,
        environment={"ANTREAN_DATABASE_URL": database, "ANTREAN_CLOCK": "2026-12-01T08:00:00+07:00",
                     "ANTREAN_MEDIA_DIR": str(folder / "media"), "ANTREAN_SECRET_KEY": SECRET,
                     "ANTREAN_WA_VERIFY_TOKEN": meta.VERIFY_TOKEN, "ANTREAN_WA_APP_SECRET": meta.APP_SECRET,
                     "ANTREAN_WA_ACCESS_TOKEN": graph.token, "ANTREAN_WA_GRAPH_URL": graph.url,
                     "ANTREAN_WA_GRAPH_VERSION": graph.version},
    )
    stack.start()
    try:
        stack.wait_until_ready(timeout=480)  # the model loads slowly on a busy 2-core machine
        yield stack, graph, database
    finally:
        stack.stop()
        graph.stop()


def send(stack: Stack, *messages: dict, secret: str = meta.APP_SECRET) -> httpx.Response:
    body = meta.encode(meta.notification(meta.messages_value(*messages)))
    return httpx.post(f"{stack.rasa_url}/webhooks/whatsapp/webhook", content=body,
                      headers=meta.signed_headers(body, secret), timeout=30)


def replies_after(graph: GraphStandIn, count: int, timeout: float = 120, to: str = SENDER) -> list[dict]:
    """Waits until the assistant has finished answering: more than `count` messages, then quiet."""
    deadline = time.monotonic() + timeout
    seen = -1
    while time.monotonic() < deadline:
        now = len(graph.sent_to(to))
        if now > count and now == seen:
            return graph.sent_to(to)[count:]
        seen = now
        time.sleep(1.5)
    raise AssertionError(f"no reply within {timeout:.0f} s")


def body_text(message: dict) -> str:
    if message["type"] == "text":
        return message["text"]["body"]
    if message["type"] == "interactive":
        return message["interactive"]["body"]["text"]
    return message.get("image", {}).get("caption", "")


def choice_ids(messages: list[dict]) -> list[str]:
    ids = []
    for m in messages:
        action = m.get("interactive", {}).get("action", {})
        ids += [b["reply"]["id"] for b in action.get("buttons", [])]
        ids += [r["id"] for s in action.get("sections", []) for r in s["rows"]]
    return ids


def inbox_size(database: str) -> int:
    engine = make_engine(database)
    with engine.connect() as connection:
        size = connection.execute(select(func.count()).select_from(whatsapp_inbox)).scalar_one()
    engine.dispose()
    return size


def test_a_whatsapp_registration_books_a_seat_and_sends_the_qr_ticket(running):
    stack, graph, database = running
    law = meta.text(SENDER, "Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12 RT 01/RW 02 Tiban Baru")
    assert send(stack, law).status_code == 200
    first = replies_after(graph, 0)
    assert "Permohonan paspor apa" in "\n".join(body_text(m) for m in first)
    assert '/inform{"application_type":"new"}' in choice_ids(first)

    sent = len(graph.sent_to(SENDER))
    assert send(stack, meta.button_reply(SENDER, '/inform{"application_type":"new"}', "Paspor baru")).status_code == 200
    assert "foto e-KTP" in "\n".join(body_text(m) for m in replies_after(graph, sent))

    # A card-like photo with no readable e-KTP on it: the NIK is asked for next.
    sent = len(graph.sent_to(SENDER))
    assert send(stack, meta.image(SENDER, graph.add_media(card_photo()))).status_code == 200
    nik_question = "\n".join(body_text(m) for m in replies_after(graph, sent))
    assert "Foto diterima" in nik_question and "*NIK*" in nik_question

    sent = len(graph.sent_to(SENDER))
    assert send(stack, meta.text(SENDER, "2171031708900001")).status_code == 200
    day_question = replies_after(graph, sent)
    assert '/inform{"visit_date":"2026-12-03"}' in choice_ids(day_question)

    sent = len(graph.sent_to(SENDER))
    assert send(stack, meta.button_reply(SENDER, '/inform{"visit_date":"2026-12-03"}', "Kamis 3/12")).status_code == 200
    assert "Budi Santoso" in "\n".join(body_text(m) for m in replies_after(graph, sent))

    sent = len(graph.sent_to(SENDER))
    assert send(stack, meta.button_reply(SENDER, "/affirm", "Ya, daftarkan")).status_code == 200
    confirmation = replies_after(graph, sent)
    assert "A-001" in "\n".join(body_text(m) for m in confirmation)

    engine = make_engine(database)
    with engine.connect() as connection:
        [booking] = connection.execute(select(bookings).where(bookings.c.whatsapp_number == SENDER)).all()
    engine.dispose()
    assert booking.office_id == "batam" and booking.day == date(2026, 12, 3) and booking.nik == "2171031708900001"
    assert booking.code in "\n".join(body_text(m) for m in confirmation)
    [image] = [m for m in confirmation if m["type"] == "image"]
    [upload] = [u for u in graph.uploads if u.media_id == image["image"]["id"]]
    assert upload.mime_type == "image/png" and upload.data.startswith(b"\x89PNG")
    assert upload.phone_number_id == meta.BATAM_NUMBER_ID and "link" not in image["image"]

    # Meta delivers the LAW text again (it thought we were slow): nothing changes.
    stored, answered = inbox_size(database), len(graph.sent_to(SENDER))
    assert send(stack, law).status_code == 200
    time.sleep(3)
    assert inbox_size(database) == stored and len(graph.sent_to(SENDER)) == answered


def test_a_wrongly_signed_delivery_is_refused_and_nothing_is_stored(running):
    stack, graph, database = running
    stored = inbox_size(database)
    reply = send(stack, meta.text("6281299990003", "halo"), secret="not-the-app-secret")
    assert reply.status_code == 403
    assert inbox_size(database) == stored and graph.sent_to("6281299990003") == []


def test_a_user_without_a_shared_number_registers_and_is_answered_at_their_bsuid(running):
    """Meta's 2026 shape for a user who adopted a username: BSUID and username, no phone number."""
    stack, graph, database = running
    bsuid = "ID.1502576394655843"

    def say(message: dict) -> list[dict]:
        sent = len(graph.sent_to(bsuid))
        body = meta.encode(meta.notification(meta.messages_value(
            meta.by_user(message, bsuid, phone=False), usernames={bsuid: "dewi.lestari"})))
        reply = httpx.post(f"{stack.rasa_url}/webhooks/whatsapp/webhook", content=body,
                           headers=meta.signed_headers(body), timeout=30)
        assert reply.status_code == 200
        return replies_after(graph, sent, to=bsuid)

    hidden = "6281299990009"  # only to build the messages: it is removed from every one of them
    first = say(meta.text(hidden, "Dewi Lestari#12-05-1992#Jl. Engku Putri No. 3 Batam Centre"))
    assert '/inform{"application_type":"new"}' in choice_ids(first)
    assert "foto e-KTP" in "\n".join(body_text(m) for m in say(
        meta.button_reply(hidden, '/inform{"application_type":"new"}', "Paspor baru")))
    assert "*NIK*" in "\n".join(body_text(m) for m in say(meta.image(hidden, graph.add_media(card_photo()))))
    day_question = say(meta.text(hidden, "2171035205920002"))
    assert '/inform{"visit_date":"2026-12-03"}' in choice_ids(day_question)
    assert "Dewi Lestari" in "\n".join(body_text(m) for m in say(
        meta.button_reply(hidden, '/inform{"visit_date":"2026-12-03"}', "Kamis 3/12")))
    confirmation = say(meta.button_reply(hidden, "/affirm", "Ya, daftarkan"))

    engine = make_engine(database)
    with engine.connect() as connection:
        [booking] = connection.execute(select(bookings).where(bookings.c.nik == "2171035205920002")).all()
    engine.dispose()
    assert booking.whatsapp_number == bsuid and booking.code in "\n".join(body_text(m) for m in confirmation)
    answered = graph.sent_to(bsuid)
    assert answered and all(m["recipient"] == bsuid and "to" not in m for m in answered)
    assert graph.sent_to(hidden) == []
