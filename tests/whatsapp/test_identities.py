"""WhatsApp users as Meta names them since 2026 — phone only, phone and business-scoped user ID
(BSUID), BSUID and username without a phone — and the system messages when a number or BSUID
changes: each user keeps one sender key, so their conversation goes on; replies are addressed with
`to` or `recipient` as Meta requires; one malformed message never holds back its batch."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from antrean.whatsapp.identities import Identity
from antrean.whatsapp.payloads import NUMBER_CHANGED, USER_ID_CHANGED, Sender, parse_webhook
from antrean.whatsapp.schema import whatsapp_identities, whatsapp_inbox
from tests.whatsapp import meta
from tests.whatsapp.test_webhook_contract import post, stored, wait_until

PHONE = "6281234567101"
BSUID = "ID.1502576394655843"
NEW_BSUID = "ID.8830021947716530"


def parsed(*messages, usernames=None):
    return parse_webhook(meta.encode(meta.notification(meta.messages_value(*messages, usernames=usernames))))


def store(inbox, *messages, usernames=None) -> int:
    return inbox.store(parsed(*messages, usernames=usernames))


def senders(inbox) -> list[str]:
    with inbox.engine.connect() as connection:
        return list(connection.execute(select(whatsapp_inbox.c.wa_id).where(whatsapp_inbox.c.kind != "system")
                                       .order_by(whatsapp_inbox.c.id)).scalars())


def identities(inbox) -> list[tuple]:
    with inbox.engine.connect() as connection:
        return [(r.sender, r.phone, r.user_id, r.username) for r in connection.execute(
            select(whatsapp_identities).order_by(whatsapp_identities.c.sender))]


# --- reading Meta's shapes ------------------------------------------------------------------------

def test_the_three_shapes_of_a_sender_are_read_from_the_message_and_its_contact():
    shapes = [parsed(meta.text(PHONE, "lama")),
              parsed(meta.by_user(meta.text(PHONE, "dengan bsuid"), BSUID)),
              parsed(meta.by_user(meta.text("6281234567102", "tanpa nomor"), NEW_BSUID, phone=False),
                     usernames={NEW_BSUID: "putri.ayu"})]
    assert [m.sender for webhook in shapes for m in webhook.messages] == [
        Sender(phone=PHONE),
        Sender(phone=PHONE, user_id=BSUID),
        Sender(user_id=NEW_BSUID, username="putri.ayu"),
    ]
    assert all(webhook.rejected == [] for webhook in shapes)


def test_a_bsuid_only_in_the_contact_array_is_still_the_senders():
    value = meta.messages_value(meta.text(PHONE, "halo"))
    value["contacts"][0]["user_id"] = BSUID
    value["contacts"][0]["parent_user_id"] = "ID.ENT.11815799212886844830"
    [message] = parse_webhook(meta.encode(meta.notification(value))).messages
    assert message.sender == Sender(phone=PHONE, user_id=BSUID, parent_user_id="ID.ENT.11815799212886844830")


def test_system_messages_about_a_changed_id_or_number_are_identity_changes_not_turns():
    webhook = parsed(meta.user_id_changed(BSUID, NEW_BSUID),
                     meta.number_changed(PHONE, "6281234567199", BSUID, NEW_BSUID))
    assert webhook.messages == [] and webhook.rejected == []
    by_id, by_number = webhook.identity_changes
    assert by_id.kind == USER_ID_CHANGED and by_id.previous.user_id == BSUID and by_id.current.user_id == NEW_BSUID
    assert by_number.kind == NUMBER_CHANGED and by_number.previous == Sender(phone=PHONE, user_id=BSUID)
    assert by_number.current == Sender(phone="6281234567199", user_id=NEW_BSUID)


@pytest.mark.parametrize("spoil", [
    lambda m: m.pop("from"),  # neither phone nor BSUID
    lambda m: m.update({"from": "not-a-number"}),
    lambda m: m.update({"from_user_id": "1502576394655843"}),  # no country prefix: not Meta's format
    lambda m: m.update({"from_user_id": "ID." + "9" * 129}),  # longer than Meta's 128 characters
    lambda m: m.pop("id"),
])
def test_one_malformed_message_is_set_aside_and_the_rest_of_its_batch_kept(spoil):
    bad = meta.text("6281234567103", "rusak")
    spoil(bad)
    value = meta.messages_value(meta.text(PHONE, "satu"), meta.text(PHONE, "dua"))
    value["messages"].insert(1, bad)
    value["contacts"].append({"profile": {"name": "Lain"}, "wa_id": "6281234567103"})
    webhook = parse_webhook(meta.encode(meta.notification(value, meta.statuses_value(meta.status("wamid.x", "read")))))
    assert [m.payload["text"]["body"] for m in webhook.messages] == ["satu", "dua"]
    assert len(webhook.statuses) == 1
    [rejected] = webhook.rejected
    assert rejected.where == "entry[0].changes[0].messages[1]" and "6281234567103" not in rejected.reason


def test_a_status_of_a_message_sent_to_a_bsuid_is_read_without_a_phone_number():
    webhook = parse_webhook(meta.encode(meta.notification(meta.statuses_value(
        meta.status("wamid.bsuid1", "delivered", recipient=None, recipient_user_id=BSUID)))))
    [status] = webhook.statuses
    assert (status.wa_outgoing_id, status.status) == ("wamid.bsuid1", "delivered")


# --- one sender key per user ----------------------------------------------------------------------

def test_a_user_known_by_number_keeps_their_key_as_whatsapp_adds_a_bsuid_then_hides_the_number(inbox):
    store(inbox, meta.text(PHONE, "halo"))
    store(inbox, meta.by_user(meta.text(PHONE, "mau daftar"), BSUID))
    store(inbox, meta.by_user(meta.text(PHONE, "ini username saya"), BSUID, phone=False), usernames={BSUID: "budi"})
    assert senders(inbox) == [PHONE, PHONE, PHONE]
    assert identities(inbox) == [(PHONE, PHONE, BSUID, "budi")]
    assert inbox.address_of(PHONE) == {"to": PHONE}  # Meta's advice: the number while we have one


def test_a_user_first_seen_without_a_number_is_filed_under_the_bsuid_and_later_gains_the_number(inbox):
    store(inbox, meta.by_user(meta.text(PHONE, "halo"), BSUID, phone=False), usernames={BSUID: "@putri"})
    assert inbox.address_of(BSUID) == {"recipient": BSUID}
    store(inbox, meta.by_user(meta.text(PHONE, "nomor saya sekarang terlihat"), BSUID))
    assert senders(inbox) == [BSUID, BSUID]
    assert identities(inbox) == [(BSUID, PHONE, BSUID, "@putri")]
    assert inbox.address_of(BSUID) == {"to": PHONE}


def test_a_changed_bsuid_continues_the_same_conversation(inbox):
    store(inbox, meta.by_user(meta.text(PHONE, "halo"), BSUID, phone=False))
    assert inbox.store(parsed(meta.user_id_changed(BSUID, NEW_BSUID))) == 0  # nothing to answer
    store(inbox, meta.by_user(meta.text(PHONE, "lanjut"), NEW_BSUID, phone=False))
    assert senders(inbox) == [BSUID, BSUID]
    assert identities(inbox) == [(BSUID, None, NEW_BSUID, None)]
    assert inbox.address_of(BSUID) == {"recipient": NEW_BSUID}
    [system] = [row for row in stored_rows(inbox) if row.kind == "system"]
    assert system.processed_at is not None and system.outcome == "identity_changed"


def test_a_changed_number_moves_the_number_and_the_new_bsuid_to_the_same_sender(inbox):
    store(inbox, meta.by_user(meta.text(PHONE, "halo"), BSUID))
    inbox.store(parsed(meta.number_changed(PHONE, "6281234567199", BSUID, NEW_BSUID)))
    store(inbox, meta.by_user(meta.text("6281234567199", "nomor baru"), NEW_BSUID))
    assert senders(inbox) == [BSUID, BSUID]
    assert identities(inbox) == [(BSUID, "6281234567199", NEW_BSUID, None)]


def test_a_recycled_number_with_another_bsuid_is_a_new_person(inbox):
    store(inbox, meta.by_user(meta.text(PHONE, "pemilik lama"), BSUID))
    store(inbox, meta.by_user(meta.text(PHONE, "pemilik baru"), NEW_BSUID))
    assert senders(inbox) == [BSUID, NEW_BSUID]
    assert identities(inbox) == [(BSUID, None, BSUID, None), (NEW_BSUID, PHONE, NEW_BSUID, None)]


def test_a_retried_delivery_of_the_identity_change_changes_nothing(inbox):
    store(inbox, meta.by_user(meta.text(PHONE, "halo"), BSUID, phone=False))
    change = parsed(meta.user_id_changed(BSUID, NEW_BSUID))
    inbox.store(change)
    inbox.store(change)
    assert identities(inbox) == [(BSUID, None, NEW_BSUID, None)]
    assert len([row for row in stored_rows(inbox) if row.kind == "system"]) == 1


def test_the_console_label_is_the_username_or_the_masked_number():
    assert Identity("x", PHONE, BSUID, None, "budi").label == "@budi"
    assert Identity("x", PHONE, BSUID, None, None).label == "6281*****7101"
    assert Identity("x", None, BSUID, None, None).label == "ID.15************43"


def stored_rows(inbox):
    with inbox.engine.connect() as connection:
        return list(connection.execute(select(whatsapp_inbox).order_by(whatsapp_inbox.c.id)))


# --- through the real receiver and worker, replies through the Graph API stand-in -----------------

@pytest.mark.integration
def test_a_batch_of_every_shape_is_stored_answered_and_addressed_as_meta_requires(webhook, assistant, graph):
    base, channel = webhook
    received, _ = assistant
    bad = meta.text("6281234567103", "rusak")
    bad["from_user_id"] = "bukan-bsuid"
    document = meta.notification(meta.messages_value(
        meta.text("6281234567104", "nomor saja"),
        meta.by_user(meta.text(PHONE, "nomor dan bsuid"), BSUID),
        bad,
        meta.by_user(meta.text("6281234567105", "username saja"), NEW_BSUID, phone=False),
        usernames={NEW_BSUID: "siti.a"}))
    reply = post(base, document)
    assert reply.status_code == 200 and reply.json() == {"status": "ok", "set_aside": 1}
    assert [(r.wa_id, r.phone, r.user_id, r.username) for r in stored(channel)] == [
        ("6281234567104", "6281234567104", None, None), (BSUID, PHONE, BSUID, None),
        (NEW_BSUID, None, NEW_BSUID, "siti.a")]
    wait_until(lambda: len(received) == 3)
    assert {m.sender_id: m.text for m in received} == {
        "6281234567104": "nomor saja", BSUID: "nomor dan bsuid", NEW_BSUID: "username saja"}
    wait_until(lambda: len(graph.sent) == 3)
    assert [m["text"]["body"] for m in graph.sent_to("6281234567104")] == ["echo: nomor saja"]
    assert [m["text"]["body"] for m in graph.sent_to(PHONE)] == ["echo: nomor dan bsuid"]
    [to_bsuid] = graph.sent_to(NEW_BSUID)
    assert "to" not in to_bsuid and to_bsuid["recipient"] == NEW_BSUID
    assert to_bsuid["text"]["body"] == "echo: username saja"
    # Delivery statuses of the BSUID send carry no phone number and still find the message.
    statuses = meta.statuses_value(meta.status(to_bsuid["wamid"], "delivered", recipient=None,
                                               recipient_user_id=NEW_BSUID))
    assert post(base, meta.notification(statuses)).status_code == 200
    assert channel.runtime.inbox.statuses_of(to_bsuid["wamid"]) == ["delivered"]


@pytest.mark.integration
def test_a_user_who_hides_their_number_mid_conversation_stays_in_the_same_conversation(webhook, assistant, graph):
    base, _ = webhook
    received, _ = assistant
    assert post(base, meta.notification(meta.messages_value(meta.text(PHONE, "halo")))).status_code == 200
    wait_until(lambda: len(received) == 1)
    shapes = [meta.by_user(meta.text(PHONE, "mau daftar"), BSUID),
              meta.by_user(meta.text(PHONE, "Budi#17-08-1990#Batam"), BSUID, phone=False),
              meta.user_id_changed(BSUID, NEW_BSUID),
              meta.by_user(meta.text(PHONE, "ya"), NEW_BSUID, phone=False)]
    for message in shapes:
        assert post(base, meta.notification(meta.messages_value(message, usernames={BSUID: "budi"}))).status_code == 200
    wait_until(lambda: len(received) == 4)
    assert {m.sender_id for m in received} == {PHONE}
    assert [m.text for m in received] == ["halo", "mau daftar", "Budi#17-08-1990#Batam", "ya"]
    wait_until(lambda: len(graph.sent) == 4)
    assert all(m.get("to") == PHONE for m in graph.sent)  # the number, as long as we know it


@pytest.mark.integration
def test_a_delivery_with_nothing_readable_is_refused_and_nothing_is_stored(webhook):
    base, channel = webhook
    bad = meta.text(PHONE, "rusak")
    del bad["from"]
    assert post(base, meta.notification(meta.messages_value(bad))).status_code == 400
    assert stored(channel) == []


@pytest.mark.integration
def test_two_receivers_storing_a_new_users_first_messages_at_once_file_them_under_one_sender(database_url):
    import threading

    from antrean.runtime.db import make_engine
    from antrean.whatsapp.inbox import Inbox

    engine = make_engine(database_url)
    inbox = Inbox(engine)
    start = threading.Barrier(4)
    errors = []

    def receive(n):
        start.wait()
        try:
            for round_ in range(5):
                inbox.store(parsed(meta.by_user(meta.text(PHONE, f"{n}-{round_}"), BSUID, phone=round_ % 2 == 0)))
        except Exception as error:  # a lost race must not fail a delivery
            errors.append(error)

    threads = [threading.Thread(target=receive, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert set(senders(inbox)) == {BSUID} and len(senders(inbox)) == 20
        assert identities(inbox) == [(BSUID, PHONE, BSUID, None)]
    finally:
        engine.dispose()
