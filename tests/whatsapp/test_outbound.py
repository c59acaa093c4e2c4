"""Rasa's bot messages as WhatsApp messages (WhatsApp's limits), and the Graph API client's
retries, against the stand-in."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import select

from antrean.media import ticket
from antrean.media.ticket import code_in_reference
from antrean.runtime.db import make_engine
from antrean.whatsapp.graph import GraphClient, GraphError
from antrean.whatsapp.inbox import SENT, Inbox
from antrean.whatsapp.outbound import Deliverer, choice_messages, split_text
from antrean.whatsapp.schema import whatsapp_outbox
from tests.conftest import PostgresSwitch


def buttons(*titles):
    return [{"title": t, "payload": f"/choose{{\"n\":{i}}}"} for i, t in enumerate(titles)]


def test_a_long_text_is_split_at_paragraphs_below_4096_characters():
    paragraph = "Dokumen yang perlu dibawa: e-KTP asli, Kartu Keluarga asli. " * 30
    pieces = split_text("\n\n".join([paragraph] * 4))
    assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == ("\n\n".join([paragraph] * 4)).replace(
        " ", "").replace("\n", "")


def test_up_to_three_short_choices_become_reply_buttons_whose_ids_are_the_payloads():
    [(message, menu)] = choice_messages("Permohonan paspor apa?", buttons("Paspor baru", "Perpanjang paspor"))
    assert menu is None and message["interactive"]["type"] == "button"
    assert [b["reply"] for b in message["interactive"]["action"]["buttons"]] == [
        {"id": '/choose{"n":0}', "title": "Paspor baru"}, {"id": '/choose{"n":1}', "title": "Perpanjang paspor"}]


def test_more_choices_or_longer_titles_become_a_list_and_beyond_that_numbered_text():
    [(listed, _)] = choice_messages("Pilih kantor:", buttons("Batam", "Jakarta Pusat", "Bogor", "Tangerang"))
    assert listed["interactive"]["type"] == "list"
    assert len(listed["interactive"]["action"]["sections"][0]["rows"]) == 4
    [(long_titles, _)] = choice_messages("Pilih:", buttons("Kantor Imigrasi Batam", "Bogor"))
    assert long_titles["interactive"]["type"] == "list"
    [(numbered, menu)] = choice_messages("Pilih:", buttons(*[f"Pilihan {i}" for i in range(11)]))
    assert numbered["type"] == "text" and "11. Pilihan 10" in numbered["text"]["body"]
    assert menu == [f'/choose{{"n":{i}}}' for i in range(11)]


def test_a_body_too_long_for_an_interactive_message_goes_first_as_text():
    messages = choice_messages("x" * 1500, buttons("Ya", "Tidak"))
    assert [m["type"] for m, _ in messages] == ["text", "interactive"]
    assert messages[1][0]["interactive"]["body"]["text"] == "Silakan pilih salah satu:"


def test_only_our_own_ticket_urls_are_rendered_locally():
    assert code_in_reference("https://antrean.example/webhooks/antrean/tiket/ABCD-EFGH-JKLM.png") == "ABCD-EFGH-JKLM"
    assert code_in_reference("https://elsewhere.example/images/tiket.png") is None


def test_rate_limits_and_server_errors_are_retried_and_other_errors_are_not(settings, graph):
    slept = []

    async def no_wait(seconds):
        slept.append(seconds)

    async def main():
        client = GraphClient(settings, sleep=no_wait)
        graph.fail("messages", 429, 130429, times=2)
        graph.fail("messages", 500, times=1)
        wamid = await client.send_message("106540352242922", {"to": "6281", "type": "text", "text": {"body": "a"}})
        assert wamid.startswith("wamid.") and len(slept) == 3 and slept[0] < slept[1] < slept[2]
        graph.fail("messages", 400, 131047)  # outside the 24-hour window: a template is needed
        with pytest.raises(GraphError) as refused:
            await client.send_message("106540352242922", {"to": "6281", "type": "text", "text": {"body": "b"}})
        assert refused.value.code == 131047 and len(slept) == 3
        await client.aclose()

    asyncio.run(main())
    assert [m["text"]["body"] for m in graph.sent] == ["a"]


def test_error_logs_carry_neither_the_token_nor_the_number(settings, graph, caplog):
    async def main():
        client = GraphClient(settings, max_attempts=1)
        graph.fail("messages", 400, 100)
        with pytest.raises(GraphError):
            await client.send_message("106540352242922", {"to": "6281299990001", "type": "text",
                                                          "text": {"body": "NIK 2171031708900001"}})
        await client.aclose()

    asyncio.run(main())
    logged = caplog.text
    assert "error code 100" in logged
    assert graph.token not in logged and "6281299990001" not in logged and "2171031708900001" not in logged


def test_replies_to_simulator_numbers_are_only_recorded_even_with_an_access_token(graph, settings, inbox):
    from antrean.whatsapp.outbound import Deliverer
    from antrean.whatsapp.sandbox import simulator_number

    async def scenario():
        client = GraphClient(settings)
        deliverer = Deliverer(inbox, client, render_ticket=lambda code: None)
        try:
            await deliverer.deliver((None, 1), "106540352242922", simulator_number(7, 1),
                                    {"type": "text", "text": {"body": "Halo"}})
            await deliverer.deliver_image((None, 2), "106540352242922", simulator_number(7, 1),
                                          "http://127.0.0.1:5005/webhooks/antrean/tiket/ABCD-EFGH-JKMN.png")
        finally:
            await client.aclose()

    asyncio.run(scenario())
    assert graph.sent == [] and graph.uploads == []
    replies = inbox.replies_to(simulator_number(7, 1))
    assert [r["status"] for r in replies] == ["sandbox", "sandbox"]
    assert replies[1]["payload"]["image"]["link"].endswith("/tiket/ABCD-EFGH-JKMN.png")


def test_whatsapp_uploads_the_drawn_ticket_for_a_reference_and_links_anything_else(graph, settings, inbox):
    from antrean.whatsapp.outbound import Deliverer

    code = "7N7N-M628-VA9Y"
    drawn = []

    def render(asked: str) -> bytes:
        drawn.append(asked)
        return ticket.booking_qr_png(asked)

    async def scenario():
        client = GraphClient(settings)
        deliverer = Deliverer(inbox, client, render_ticket=render)
        try:
            await deliverer.deliver_image((None, 1), "106540352242922", "6281234567890",
                                          ticket.reference(code, "https://imigrasi.example/antrean"))
            await deliverer.deliver_image((None, 2), "106540352242922", "6281234567890",
                                          "https://elsewhere.example/images/tiket.png")
        finally:
            await client.aclose()

    asyncio.run(scenario())
    assert drawn == [code]
    [upload] = graph.uploads
    assert upload.data == ticket.booking_qr_png(code)
    ours, theirs = [m["image"] for m in graph.sent_to("6281234567890")]
    assert ours == {"caption": ticket.MESSAGE_CAPTION, "id": upload.media_id}
    assert theirs == {"link": "https://elsewhere.example/images/tiket.png"}


def deliver_one_reply(settings, inbox, client_class, wa_id: str, body: str):
    """Delivers one text reply through `inbox` (PostgreSQL) and returns its outbox row."""
    async def main():
        client = client_class(settings)
        deliverer = Deliverer(inbox, client, render_ticket=lambda code: None)
        await deliverer.deliver((None, 1), "106540352242922", wa_id, {"type": "text", "text": {"body": body}})
        await client.aclose()

    asyncio.run(main())
    with inbox.engine.connect() as connection:
        [row] = connection.execute(select(whatsapp_outbox.c.status, whatsapp_outbox.c.wa_outgoing_id)).all()
    return row


@pytest.mark.integration
def test_a_reply_sent_as_the_database_goes_away_is_written_down_when_it_is_back(settings, graph, postgres_server_url,
                                                                               postgres_database):
    """The reply reached Meta; PostgreSQL then went away before its result was written. The send is
    not failed (its turn would be replayed and the reply skipped as claimed, its row left "sending"
    without Meta's id): the result waits for the database, and the reply goes out once."""
    switch = PostgresSwitch(postgres_server_url, postgres_database)
    engine = make_engine(postgres_database)

    class DatabaseGoneAfterTheSend(GraphClient):
        async def send_message(self, phone_number_id, payload):
            wamid = await super().send_message(phone_number_id, payload)
            switch.close()
            asyncio.get_running_loop().call_later(1.5, switch.open)
            return wamid

    try:
        row = deliver_one_reply(settings, Inbox(engine), DatabaseGoneAfterTheSend, "6281234500001",
                                "Nomor antrean Anda A-001")
    finally:
        switch.dispose()
        engine.dispose()
    assert [m["text"]["body"] for m in graph.sent] == ["Nomor antrean Anda A-001"]
    assert row.status == SENT and row.wa_outgoing_id == graph.sent[0]["wamid"]


@pytest.mark.integration
def test_a_reply_claimed_as_the_database_goes_away_is_still_sent_once(settings, graph, postgres_server_url,
                                                                     postgres_database):
    """Once claimed, a reply is never sent by a replayed turn: nothing read from the database may
    stand between the claim and the send (the address was read there, and an outage lost the reply)."""
    switch = PostgresSwitch(postgres_server_url, postgres_database)
    engine = make_engine(postgres_database)

    class DatabaseGoneAfterTheClaim(Inbox):
        def claim_reply(self, *args, **kwargs):
            claimed = super().claim_reply(*args, **kwargs)
            switch.close()
            threading.Timer(1.5, switch.open).start()
            return claimed

    try:
        row = deliver_one_reply(settings, DatabaseGoneAfterTheClaim(engine), GraphClient, "6281234500002",
                                "Pilih hari kedatangan")
    finally:
        switch.dispose()
        engine.dispose()
    assert [m["text"]["body"] for m in graph.sent] == ["Pilih hari kedatangan"]
    assert row.status == SENT and row.wa_outgoing_id == graph.sent[0]["wamid"]
