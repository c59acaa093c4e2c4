"""The webhook as Meta calls it: verification handshake, signatures over the raw body, size and
shape checks, and every message type of Meta's webhook reference stored in the inbox before the
200 — then handed on by the worker (here to an echo assistant standing in for Rasa)."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select

from antrean.assistant.whatsapp_channel import WhatsAppInput
from antrean.media.contract import REGISTRATION_CLOSED
from antrean.whatsapp.outbound import choice_messages
from antrean.whatsapp.payloads import sign
from antrean.whatsapp.schema import whatsapp_inbox
from tests.actions.conftest import card_photo
from tests.whatsapp import meta
from tests.whatsapp.server import served

pytestmark = pytest.mark.integration

SENDER = "6281234567001"


def post(base: str, document: dict | bytes, headers: dict | None = None) -> httpx.Response:
    body = document if isinstance(document, bytes) else meta.encode(document)
    return httpx.post(f"{base}/webhook", content=body,
                      headers=meta.signed_headers(body) if headers is None else headers, timeout=10)


def stored(channel) -> list:
    with channel.runtime.engine.connect() as connection:
        return list(connection.execute(select(whatsapp_inbox).order_by(whatsapp_inbox.c.id)))


def wait_until(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_the_verification_handshake_echoes_the_challenge_only_for_the_right_token(webhook):
    base, _ = webhook
    good = httpx.get(f"{base}/webhook", params={"hub.mode": "subscribe", "hub.verify_token": meta.VERIFY_TOKEN,
                                                "hub.challenge": "1158201444"})
    assert good.status_code == 200 and good.text == "1158201444"
    wrong = httpx.get(f"{base}/webhook", params={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                                 "hub.challenge": "1158201444"})
    assert wrong.status_code == 403 and "1158201444" not in wrong.text
    assert httpx.get(f"{base}/webhook", params={"hub.challenge": "1"}).status_code == 403
    assert httpx.get(f"{base}/").json()["status"] == "ok"


def test_unsigned_wrongly_signed_malformed_and_oversized_posts_are_refused_and_nothing_is_stored(webhook):
    base, channel = webhook
    body = meta.encode(meta.notification(meta.messages_value(meta.text(SENDER, "halo"))))
    assert post(base, body, headers={"Content-Type": "application/json"}).status_code == 403
    assert post(base, body, headers={"X-Hub-Signature-256": sign("another-secret", body)}).status_code == 403
    assert post(base, body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}).status_code == 403
    assert post(base, body, headers={"X-Hub-Signature-256": sign(meta.APP_SECRET, body + b" ")}).status_code == 403
    assert post(base, b"{not json").status_code == 400
    assert post(base, {"object": "page", "entry": []}).status_code == 400
    no_metadata = {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {}}]}]}
    assert post(base, no_metadata).status_code == 400
    no_id = meta.text(SENDER, "halo")
    del no_id["id"]
    assert post(base, meta.notification(meta.messages_value(no_id))).status_code == 400
    huge = meta.notification(meta.messages_value(meta.text(SENDER, "x" * (channel.settings.max_body_bytes + 10))))
    assert post(base, huge).status_code == 413
    assert stored(channel) == []


def test_a_signature_is_checked_on_the_raw_bytes_so_emoji_survive(webhook):
    base, channel = webhook
    body = meta.encode(meta.notification(meta.messages_value(meta.text(SENDER, "Terima kasih 🙏 Pak"))))
    assert b"\\u" not in body  # raw UTF-8, as Meta sends it
    assert post(base, body).status_code == 200
    [row] = stored(channel)
    assert "🙏" in row.payload


def test_every_message_of_a_multi_entry_post_is_stored_once_and_a_retried_delivery_changes_nothing(webhook, assistant):
    base, channel = webhook
    received, _ = assistant
    other = "6281234567002"
    document = meta.notification(
        meta.messages_value(meta.text(SENDER, "satu"), meta.text(SENDER, "dua")),
        meta.messages_value(meta.text(other, "halo")),
        meta.statuses_value(meta.status("wamid.sent-earlier", "delivered")),
        entries=2)
    assert len(document["entry"]) == 2
    assert post(base, document).status_code == 200
    assert post(base, document).status_code == 200  # Meta retries when it thinks we were slow
    rows = stored(channel)
    assert [(r.wa_id, r.kind) for r in rows] == [(SENDER, "text"), (SENDER, "text"), (other, "text")]
    wait_until(lambda: len(received) == 3)
    assert [m.text for m in received if m.sender_id == SENDER] == ["satu", "dua"]
    assert channel.runtime.inbox.statuses_of("wamid.sent-earlier") == ["delivered"]
    time.sleep(0.3)
    assert len(received) == 3


def offer(channel, payload: dict) -> None:
    """Records one of our messages offering choices, as the outbox does for every message sent."""
    channel.runtime.inbox.claim_reply(None, 1, meta.BATAM_NUMBER_ID, SENDER, payload["type"], payload, "sandbox")


def test_interactive_and_template_replies_reach_the_assistant_as_their_payloads_when_offered(webhook, assistant,
                                                                                            graph):
    base, channel = webhook
    received, _ = assistant
    offer(channel, choice_messages("Sudah benar?", [{"title": "Ya, daftarkan", "payload": "/affirm"},
                                                    {"title": "Ubah data", "payload": "/deny"}])[0][0])
    first_reply = meta.button_reply(SENDER, "/affirm", "Ya, daftarkan")
    assert post(base, meta.notification(meta.messages_value(first_reply))).status_code == 200
    wait_until(lambda: len(received) == 1)
    offer(channel, choice_messages("Pilih kantor:", [{"title": n.title(), "payload": f'/inform{{"office":"{n}"}}'}
                                                     for n in ("batam", "bogor", "tangerang", "jakarta_pusat")])[0][0])
    assert post(base, meta.notification(meta.messages_value(
        meta.list_reply(SENDER, '/inform{"office":"bogor"}', "Bogor")))).status_code == 200
    wait_until(lambda: len(received) == 2)
    offer(channel, {"type": "template", "template": {"name": "pengingat_antrean", "components": [
        {"type": "button", "sub_type": "quick_reply", "index": "0",
         "parameters": [{"type": "payload", "payload": "/check_booking"}]}]}})
    document = meta.notification(meta.messages_value(
        meta.template_button(SENDER, "/check_booking", "Cek antrean"),
        meta.button_reply(SENDER, '/inform{"nik":"1"}', "Ya"),  # never offered: its title, as typed
        meta.text(SENDER, "/inform{\"nik\":\"1\"}")))
    assert post(base, document).status_code == 200
    wait_until(lambda: len(received) == 5)
    assert [m.text for m in received] == ["/affirm", '/inform{"office":"bogor"}', "/check_booking", "Ya",
                                          'inform{"nik":"1"}']  # typed text cannot pick an intent
    first = received[0]
    assert first.input_channel == "whatsapp" and first.sender_id == SENDER
    assert first.metadata["phone_number_id"] == meta.BATAM_NUMBER_ID and first.metadata["wa_id"] == SENDER
    assert first.metadata["wa_message_id"] == first_reply["id"]
    wait_until(lambda: len(graph.sent_to(SENDER)) == 5)


def test_an_image_is_downloaded_verified_stored_and_handed_on_as_the_id_photo(webhook, assistant, graph):
    base, _ = webhook
    received, _ = assistant
    media_id = graph.add_media(card_photo())
    assert post(base, meta.notification(meta.messages_value(meta.image(SENDER, media_id, caption="ktp saya")))
                ).status_code == 200
    [message] = wait_until(lambda: list(received))
    assert message.text == "ktp saya"
    photo = message.metadata["antrean_media"]
    assert photo["check"]["ok"] is True and photo["ref"].startswith("photo:")
    assert graph.unauthorised == 0 and graph.calls["media_info"] == 1 and graph.calls["download"] == 1


def test_an_image_sent_as_a_document_counts_as_a_photo_and_a_pdf_gets_a_polite_request(webhook, assistant, graph):
    base, channel = webhook
    received, _ = assistant
    jpeg_doc = graph.add_media(card_photo(), "image/jpeg")
    pdf = graph.add_media(b"%PDF-1.4 ...", "application/pdf")
    document = meta.notification(meta.messages_value(meta.document(SENDER, jpeg_doc, "image/jpeg", "ktp.jpg"),
                                                     meta.document(SENDER, pdf, "application/pdf")))
    assert post(base, document).status_code == 200
    [message] = wait_until(lambda: list(received))
    assert message.text == "/send_photo" and message.metadata["antrean_media"]["check"]["ok"] is True
    replies = wait_until(lambda: graph.sent_to(SENDER) if len(graph.sent_to(SENDER)) == 2 else None)
    assert "foto biasa" in replies[1]["text"]["body"] and "PDF" in replies[1]["text"]["body"]
    wait_until(lambda: [r.outcome for r in stored(channel)] == ["answered", "not_a_photo"])


def test_audio_stickers_locations_and_reactions_get_a_polite_request_without_the_assistant(webhook, assistant, graph):
    base, channel = webhook
    received, _ = assistant
    first = meta.text(SENDER, "halo")
    document = meta.notification(meta.messages_value(first, meta.audio(SENDER), meta.sticker(SENDER),
                                                     meta.location(SENDER), meta.reaction(SENDER, first["id"])))
    assert post(base, document).status_code == 200
    wait_until(lambda: all(r.processed_at for r in stored(channel)) and len(stored(channel)) == 5)
    assert [m.text for m in received] == ["halo"]
    asks = [m["text"]["body"] for m in graph.sent_to(SENDER)[1:]]
    assert len(asks) == 4 and all("Mohon kirim teks atau foto" in a for a in asks)


def test_an_expired_media_url_is_fetched_again_and_a_lost_photo_gets_a_request_to_resend(webhook, assistant, graph):
    base, channel = webhook
    received, _ = assistant
    media_id = graph.add_media(card_photo())
    graph.fail("download", 404, times=1)  # the URL from the first lookup has expired
    assert post(base, meta.notification(meta.messages_value(meta.image(SENDER, media_id)))).status_code == 200
    wait_until(lambda: list(received))
    assert graph.calls["media_info"] == 2
    assert post(base, meta.notification(meta.messages_value(meta.image(SENDER, "404404404")))).status_code == 200
    reply = wait_until(lambda: graph.sent_to(SENDER)[-1] if len(graph.sent_to(SENDER)) == 2 else None)
    assert "kirim ulang" in reply["text"]["body"]
    wait_until(lambda: stored(channel)[-1].outcome == "media_failed")
    assert len(received) == 1


def test_a_photo_whose_bytes_do_not_match_the_announced_hash_is_not_used(webhook, assistant, graph):
    base, channel = webhook
    received, _ = assistant
    media_id = graph.add_media(card_photo())
    graph.tampered.add(media_id)  # the download no longer matches the sha256 of the media metadata
    assert post(base, meta.notification(meta.messages_value(meta.image(SENDER, media_id)))).status_code == 200
    wait_until(lambda: stored(channel)[0].outcome == "media_failed")
    assert received == []
    assert "kirim ulang" in graph.sent_to(SENDER)[0]["text"]["body"]


def test_outside_the_registration_window_a_photo_is_neither_fetched_nor_checked_nor_kept(settings, sqlite_url,
                                                                                        tmp_path, assistant, graph):
    received, on_new_message = assistant
    channel = WhatsAppInput(settings, environ={"ANTREAN_DATABASE_URL": sqlite_url,
                                              "ANTREAN_CLOCK": "2026-12-01T10:30:00+07:00",  # Batam: 07:30-10:00
                                              "ANTREAN_MEDIA_DIR": str(tmp_path / "media"),
                                              "ANTREAN_SECRET_KEY": "x" * 40})
    law = "Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12"
    with served(channel, on_new_message) as base:
        media_id = graph.add_media(card_photo())
        assert post(base, meta.notification(meta.messages_value(meta.image(SENDER, media_id, caption=law)))
                    ).status_code == 200
        [message] = wait_until(lambda: list(received))
    assert message.text == law  # the details still reach the assistant, which explains the window
    photo = message.metadata["antrean_media"]
    assert (photo["ref"], photo["check"]["ok"], photo["check"]["problem"]) == (None, False, REGISTRATION_CLOSED)
    assert graph.calls.get("media_info", 0) == 0 and graph.calls.get("download", 0) == 0
    assert list((tmp_path / "media").rglob("*.jpg")) == []
