"""Replying to a handoff request from the console: through WhatsApp (sandbox → outbox; live → Graph
API, here the stand-in) within the 24-hour window, refused with an explanation outside it; recorded
for REST senders; the request is marked answered and the reply audited."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select

from antrean.booking.store import to_db_time
from antrean.handoff import service as handoff
from antrean.identity import mask_nik
from antrean.whatsapp.inbox import Inbox
from antrean.whatsapp.payloads import parse_webhook
from antrean.whatsapp.schema import whatsapp_outbox
from tests.builders import make_nik
from tests.whatsapp import meta
from tests.whatsapp.standin import GraphStandIn

pytestmark = pytest.mark.integration

WA_ID = "6281234567890"
NIK = make_nik(date(1990, 8, 17))


def applicant_wrote(console, wa_id: str, text: str, ago: timedelta) -> int:
    """A WhatsApp message stored by the channel `ago` before the console's clock, and the handoff it opened."""
    body = meta.encode(meta.notification(meta.messages_value(meta.text(wa_id, text))))
    Inbox(console.service.engine).store(parse_webhook(body), now=to_db_time(console.clock() - ago))
    return handoff.request_handoff(console.service.engine, wa_id, "batam", text, console.clock() - ago)


def outbox(console, wa_id: str) -> list:
    with console.service.engine.connect() as connection:
        return connection.execute(select(whatsapp_outbox).where(whatsapp_outbox.c.wa_id == wa_id)).all()


def sandboxed(console) -> None:
    for key in ("ANTREAN_WA_ACCESS_TOKEN", "ANTREAN_WA_GRAPH_URL"):
        console.app.ctx.config.environ.pop(key, None)


def test_the_conversation_page_shows_the_transcript_masked_and_a_reply_form(console):
    sandboxed(console)
    request_id = applicant_wrote(console, WA_ID, "saya mau bicara dengan petugas", timedelta(hours=1))
    client = console.as_role("reviewer")
    page = client.get(f"/bantuan/{request_id}")
    assert page.status_code == 200
    assert "saya mau bicara dengan petugas" in page.text and "6281*****7890" in page.text
    assert WA_ID not in page.text
    assert f'action="/bantuan/{request_id}/balas"' in page.text
    assert "Mode sandbox" in page.text
    assert f'href="/bantuan/{request_id}"' in client.get("/bantuan").text


def test_a_whatsapp_reply_in_sandbox_mode_is_recorded_in_the_outbox_and_the_request_answered(console_on_both):
    console = console_on_both
    sandboxed(console)
    request_id = applicant_wrote(console, WA_ID, "halo, ada orang?", timedelta(hours=2))
    client = console.as_role("reviewer")
    client.get(f"/bantuan/{request_id}")
    response = client.post(f"/bantuan/{request_id}/balas", {"pesan": "Halo Bapak, saya Siti dari kantor imigrasi."})
    assert response.status_code == 302 and response.headers["location"] == "/bantuan"
    assert "mode sandbox" in client.get("/bantuan").text
    [row] = outbox(console, WA_ID)
    assert (row.status, row.phone_number_id, row.inbox_id) == ("sandbox", meta.BATAM_NUMBER_ID, None)
    assert "saya Siti" in row.payload
    assert handoff.open_requests(console.service.engine) == []
    [entry] = console.audit.recent(action="handoff.replied")
    assert (entry.actor, entry.target, entry.detail) == ("reviewer", str(request_id),
                                                          {"channel": "whatsapp", "status": "sandbox"})
    page = client.get(f"/bantuan/{request_id}").text
    assert "Petugas" in page and "saya Siti" in page


def test_a_live_reply_goes_through_the_graph_api(console):
    graph = GraphStandIn().start()
    try:
        console.app.ctx.config.environ.update({"ANTREAN_WA_ACCESS_TOKEN": graph.token,
                                               "ANTREAN_WA_GRAPH_URL": graph.url,
                                               "ANTREAN_WA_GRAPH_VERSION": graph.version})
        request_id = applicant_wrote(console, WA_ID, "tolong dibantu", timedelta(hours=23, minutes=50))
        client = console.as_role("counter")
        client.get(f"/bantuan/{request_id}")
        response = client.post(f"/bantuan/{request_id}/balas", {"pesan": "Baik, kami bantu."})
        assert "terkirim lewat WhatsApp" in client.get(response.headers["location"]).text
        [sent] = graph.sent_to(WA_ID)
        assert sent["text"]["body"] == "Baik, kami bantu." and sent["phone_number_id"] == meta.BATAM_NUMBER_ID
        [row] = outbox(console, WA_ID)
        assert row.status == "sent" and row.wa_outgoing_id
    finally:
        graph.stop()


def test_a_refusal_by_whatsapp_is_explained_and_the_request_stays_open(console):
    graph = GraphStandIn().start()
    try:
        console.app.ctx.config.environ.update({"ANTREAN_WA_ACCESS_TOKEN": graph.token,
                                               "ANTREAN_WA_GRAPH_URL": graph.url,
                                               "ANTREAN_WA_GRAPH_VERSION": graph.version})
        request_id = applicant_wrote(console, WA_ID, "halo", timedelta(hours=1))
        graph.fail("messages", 400, 131047)
        client = console.as_role("reviewer")
        client.get(f"/bantuan/{request_id}")
        response = client.post(f"/bantuan/{request_id}/balas", {"pesan": "Halo"})
        assert "lebih dari 24 jam" in client.get(response.headers["location"]).text
        assert len(handoff.open_requests(console.service.engine)) == 1
        assert console.audit.recent(action="handoff.reply_failed")[0].detail == {"error_code": 131047}
    finally:
        graph.stop()


def test_outside_the_24_hour_window_the_console_refuses_and_says_why(console):
    sandboxed(console)
    request_id = applicant_wrote(console, WA_ID, "halo?", timedelta(hours=24, minutes=5))
    client = console.as_role("reviewer")
    page = client.get(f"/bantuan/{request_id}").text
    assert "Di luar jendela 24 jam WhatsApp" in page and "disabled" in page
    response = client.post(f"/bantuan/{request_id}/balas", {"pesan": "Maaf baru sempat membalas."})
    after = client.get(response.headers["location"]).text
    assert "Balasan tidak dikirim" in after and "pesan templat" in after
    assert outbox(console, WA_ID) == []
    assert len(handoff.open_requests(console.service.engine)) == 1
    assert console.audit.recent(action="handoff.replied") == []


def test_a_rest_sender_gets_the_reply_recorded_for_its_client(console):
    request_id = handoff.request_handoff(console.service.engine, "app-7f3a9c", "batam", "perlu bantuan",
                                         console.clock())
    client = console.as_role("admin")
    client.get(f"/bantuan/{request_id}")
    response = client.post(f"/bantuan/{request_id}/balas", {"pesan": "Silakan datang ke loket informasi."})
    assert "aplikasi pemohon mengambilnya" in client.get(response.headers["location"]).text
    [reply] = handoff.replies_for(console.service.engine, "app-7f3a9c")
    assert reply["text"] == "Silakan datang ke loket informasi."
    assert handoff.replies_for(console.service.engine, "app-7f3a9c", after_id=reply["id"]) == []
    assert handoff.open_requests(console.service.engine) == []


def test_an_empty_or_too_long_reply_is_refused(console):
    request_id = handoff.request_handoff(console.service.engine, "app-1", "batam", "halo", console.clock())
    client = console.as_role("admin")
    client.get(f"/bantuan/{request_id}")
    assert "Tulis balasannya dulu" in client.follow(client.post(f"/bantuan/{request_id}/balas", {"pesan": " "})).text
    too_long = client.follow(client.post(f"/bantuan/{request_id}/balas", {"pesan": "x" * 4097}))
    assert "terlalu panjang" in too_long.text
    assert handoff.replies_for(console.service.engine, "app-1") == []


def test_staff_of_another_office_cannot_open_or_answer_the_conversation(console):
    request_id = handoff.request_handoff(console.service.engine, "app-2", "batam", "halo", console.clock())
    console.add_user("loket.bogor", "counter", office_id="bogor")
    client = console.client()
    client.follow(client.login("loket.bogor", console.passwords["loket.bogor"]))
    assert client.get(f"/bantuan/{request_id}").status_code == 403
    assert client.post(f"/bantuan/{request_id}/balas", {"pesan": "hai"}).status_code == 403
    assert console.as_role("admin").get("/bantuan/999999").status_code == 404


def test_staff_of_another_office_cannot_mark_the_request_answered(console):
    request_id = handoff.request_handoff(console.service.engine, "app-3", "jakarta_pusat", "halo", console.clock())
    console.add_user("loket.batam", "counter", office_id="batam")
    client = console.client()
    client.follow(client.login("loket.batam", console.passwords["loket.batam"]))
    assert client.post(f"/bantuan/{request_id}/dijawab").status_code == 403
    assert [r["id"] for r in handoff.open_requests(console.service.engine)] == [request_id]
    assert console.audit.recent(action="handoff.answered") == []
    assert client.post("/bantuan/999999/dijawab").status_code == 404


def test_the_rest_channel_hands_the_recorded_replies_to_its_client(console, monkeypatch):
    from antrean.assistant.rest_channel import AntreanRestInput

    handoff.request_handoff(console.service.engine, "app-9", "batam", "halo", console.clock())
    [request] = handoff.open_requests(console.service.engine)
    handoff.record_reply(console.service.engine, request["id"], "app-9", "rest", "Halo dari petugas", "recorded",
                         None, "admin", console.clock())
    channel = AntreanRestInput()
    channel._services = (console.service, None)
    from tests.whatsapp.server import served

    with served(channel, on_new_message=None) as base:
        body = httpx.get(f"{base}/balasan/app-9").json()
        assert [r["text"] for r in body["replies"]] == ["Halo dari petugas"]
        later = httpx.get(f"{base}/balasan/app-9", params={"setelah": body["replies"][0]["id"]})
        assert later.json() == {"replies": []}


def test_reviewers_get_a_link_to_the_full_transcript(console):
    from tests.console.reviewdata import add_conversation

    add_conversation(console.service.engine, sender_id=WA_ID, messages=[("mau bicara dengan petugas", "human_handoff",
                                                                         0.9)])
    request_id = applicant_wrote(console, WA_ID, "mau bicara dengan petugas", timedelta(minutes=5))
    assert "/percakapan/" in console.as_role("reviewer").get(f"/bantuan/{request_id}").text
    assert "/percakapan/" not in console.as_role("counter").get(f"/bantuan/{request_id}").text


def assistant_wrote(console, wa_id: str, text: str) -> None:
    """A reply of the assistant with buttons, recorded in the outbox as the WhatsApp channel does."""
    payload = {"type": "interactive", "interactive": {"type": "button", "body": {"text": text}, "action": {
        "buttons": [{"type": "reply", "reply": {"id": "/affirm", "title": "Ya, daftarkan"}}]}}}
    Inbox(console.service.engine).claim_reply(None, 1, meta.BATAM_NUMBER_ID, wa_id, "interactive", payload, "sandbox")


def test_help_pages_mask_niks_unless_revealed_by_staff_with_the_right_and_audited(console):
    sandboxed(console)
    request_id = applicant_wrote(console, WA_ID, f"Budi Santoso#17-08-1990#Jl. Melati 5#{NIK}", timedelta(minutes=9))
    assistant_wrote(console, WA_ID, f"*Periksa data pendaftaran:*\nNama: Budi Santoso\nNIK: {NIK}\n\nSudah benar?")
    reviewer = console.as_role("reviewer")
    queue, page = reviewer.get("/bantuan").text, reviewer.get(f"/bantuan/{request_id}").text
    assert NIK not in queue and mask_nik(NIK) in queue
    assert NIK not in page and page.count(mask_nik(NIK)) == 2  # the applicant's text and the assistant's summary
    assert f"/bantuan/{request_id}/buka" not in page
    assert reviewer.post(f"/bantuan/{request_id}/buka").status_code == 403
    assert console.audit.recent(action="personal_data.viewed") == []

    counter = console.as_role("counter")  # may reveal personal data, but only on purpose
    page = counter.get(f"/bantuan/{request_id}").text
    assert NIK not in page and f'action="/bantuan/{request_id}/buka"' in page
    revealed = counter.post(f"/bantuan/{request_id}/buka")
    assert revealed.status_code == 200
    assert revealed.text.count(NIK) == 2 and WA_ID in revealed.text
    [entry] = console.audit.recent(action="personal_data.viewed")
    assert (entry.actor, entry.target, entry.office_id) == ("counter", f"bantuan:{request_id}", "batam")
