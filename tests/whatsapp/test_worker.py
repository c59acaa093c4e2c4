"""The worker against a real inbox database and the Graph API stand-in, with an echo assistant
standing in for Rasa: per-sender order, resuming after a crash without losing or repeating
anything, flood control, numbered menus."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from antrean.media.photo_store import MediaStore
from antrean.runtime.settings import WhatsAppSettings
from antrean.whatsapp.graph import GraphClient
from antrean.whatsapp.inbox import ALREADY_HANDLED, FLOODED
from antrean.whatsapp.outbound import Deliverer
from antrean.whatsapp.payloads import parse_webhook
from antrean.whatsapp.worker import FLOOD_NOTICE, MediaFetcher, Worker
from tests.whatsapp import meta

pytestmark = pytest.mark.integration


def store(inbox, *messages):
    inbox.store(parse_webhook(meta.encode(meta.notification(meta.messages_value(*messages)))))


def make_worker(inbox, settings, graph_client, handle, tmp_path, **options):
    return Worker(inbox, Deliverer(inbox, graph_client, lambda code: None), handle, settings,
                  media=MediaFetcher(graph_client), media_store=lambda: MediaStore(tmp_path / "media"),
                  poll_seconds=0.1, **options)


async def run_until(worker, condition, timeout=60.0):
    worker.start()
    deadline = time.monotonic() + timeout
    try:
        while not await asyncio.to_thread(condition):
            assert time.monotonic() < deadline, "worker did not finish in time"
            await asyncio.sleep(0.05)
    finally:
        await worker.stop(grace_seconds=0)


def all_processed(inbox):
    return lambda: inbox.counts()["pending"] == 0


def echo(seen):
    async def handle(message):
        seen.append((message.sender_id, message.text))
        await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")
    return handle


def test_each_sender_is_answered_in_arrival_order_while_senders_run_side_by_side(inbox, settings, graph, tmp_path):
    senders = [f"62812000{i:03d}" for i in range(6)]
    for round_ in range(4):
        store(inbox, *[meta.text(s, f"{s}-{round_}") for s in senders])
    seen = []
    client = GraphClient(settings)

    async def main():
        await run_until(make_worker(inbox, settings, client, echo(seen), tmp_path), all_processed(inbox))
        await client.aclose()

    asyncio.run(main())
    for sender in senders:
        assert [t for s, t in seen if s == sender] == [f"{sender}-{r}" for r in range(4)]
        assert [m["text"]["body"] for m in graph.sent_to(sender)] == [f"echo: {sender}-{r}" for r in range(4)]


def test_after_a_crash_mid_turn_every_message_is_answered_exactly_once(inbox, settings, graph, tmp_path):
    sender = "6281200099"
    store(inbox, meta.text(sender, "satu"), meta.text(sender, "dua"), meta.text(sender, "tiga"))
    crash = asyncio.Event

    async def first_life():
        stuck = crash()

        async def handle(message):
            await message.output_channel.send_text_message(sender, f"{message.text}: jawaban 1")
            if message.text == "dua":
                await stuck.wait()  # the server dies here, after the first reply of "dua"
            await message.output_channel.send_text_message(sender, f"{message.text}: jawaban 2")

        client = GraphClient(settings)
        await run_until(make_worker(inbox, settings, client, handle, tmp_path),
                        lambda: len(graph.sent_to(sender)) == 3)
        await client.aclose()

    async def second_life():
        seen = []

        async def handle(message):
            seen.append(message.text)
            await message.output_channel.send_text_message(sender, f"{message.text}: jawaban 1")
            await message.output_channel.send_text_message(sender, f"{message.text}: jawaban 2")

        client = GraphClient(settings)
        await run_until(make_worker(inbox, settings, client, handle, tmp_path), all_processed(inbox))
        await client.aclose()
        return seen

    asyncio.run(first_life())
    assert inbox.counts()["pending"] == 2
    assert asyncio.run(second_life()) == ["dua", "tiga"]
    assert [m["text"]["body"] for m in graph.sent_to(sender)] == [
        "satu: jawaban 1", "satu: jawaban 2", "dua: jawaban 1", "dua: jawaban 2", "tiga: jawaban 1", "tiga: jawaban 2"]


def test_a_turn_rasa_already_saved_is_not_fed_again_after_a_restart(inbox, settings, graph, tmp_path):
    sender = "6281200098"
    store(inbox, meta.text(sender, "halo"))
    [message] = inbox.pending_for(sender)
    inbox.count_attempt(message.id)  # fed before the crash; the tracker holds it, the inbox was not marked
    seen = []

    async def tracker_has(sender_id, wa_message_id):
        return wa_message_id == message.wa_message_id

    async def main():
        client = GraphClient(settings)
        await run_until(make_worker(inbox, settings, client, echo(seen), tmp_path, already_handled=tracker_has),
                        all_processed(inbox))
        await client.aclose()

    asyncio.run(main())
    assert seen == [] and graph.sent_to(sender) == []
    assert inbox.pending_for(sender) == [] and inbox.flood_position(message, 60)[1] is None
    with inbox.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT outcome FROM whatsapp_inbox").scalar_one() == ALREADY_HANDLED


def test_a_sender_beyond_the_flood_limit_gets_one_notice_and_the_extra_messages_are_kept(inbox, graph, tmp_path):
    settings = WhatsAppSettings(meta.VERIFY_TOKEN, meta.APP_SECRET, graph.token, graph.url, graph.version,
                                flood_max_messages=3, flood_window_seconds=60)
    sender = "6281200097"
    store(inbox, *[meta.text(sender, f"pesan {i}") for i in range(7)])
    seen = []

    async def main():
        client = GraphClient(settings)
        await run_until(make_worker(inbox, settings, client, echo(seen), tmp_path), all_processed(inbox))
        await client.aclose()

    asyncio.run(main())
    assert [t for _, t in seen] == ["pesan 0", "pesan 1", "pesan 2"]
    bodies = [m["text"]["body"] for m in graph.sent_to(sender)]
    assert bodies.count(FLOOD_NOTICE) == 1 and len(bodies) == 4
    with inbox.engine.connect() as connection:
        outcomes = connection.exec_driver_sql("SELECT outcome FROM whatsapp_inbox ORDER BY id").scalars().all()
    assert outcomes.count(FLOODED) == 4 and inbox.counts()["messages"] == 7


def test_a_number_answering_a_numbered_menu_becomes_that_choice(inbox, settings, graph, tmp_path):
    sender = "6281200096"
    store(inbox, meta.text(sender, "kantor"))
    offices = [{"title": f"Kantor Imigrasi Kelas I Nomor {i}", "payload": f'/inform{{"office":"o{i}"}}'}
               for i in range(1, 13)]
    seen = []

    async def handle(message):
        seen.append(message.text)
        if message.text == "kantor":
            await message.output_channel.send_text_with_buttons(sender, "Pilih kantor:", offices)

    async def main():
        client = GraphClient(settings)
        worker = make_worker(inbox, settings, client, handle, tmp_path)
        await run_until(worker, all_processed(inbox))
        store(inbox, meta.text(sender, "2"))
        await run_until(make_worker(inbox, settings, client, handle, tmp_path), all_processed(inbox))
        await client.aclose()

    asyncio.run(main())
    [menu] = graph.sent_to(sender)
    assert "2. Kantor Imigrasi Kelas I Nomor 2" in menu["text"]["body"]
    assert seen == ["kantor", '/inform{"office":"o2"}']


def test_in_sandbox_mode_replies_are_recorded_and_nothing_is_sent(inbox, sandbox_settings, graph, tmp_path):
    sender = "6281200095"
    store(inbox, meta.text(sender, "halo"), meta.image(sender, "12345"))
    seen = []

    async def main():
        await run_until(make_worker(inbox, sandbox_settings, None, echo(seen), tmp_path), all_processed(inbox))

    asyncio.run(main())
    assert seen == [(sender, "halo")]
    recorded = inbox.replies_to(sender)
    assert [r["status"] for r in recorded] == ["sandbox", "sandbox"]
    assert recorded[0]["payload"]["text"]["body"] == "echo: halo"
    assert "kirim ulang" in recorded[1]["payload"]["text"]["body"]
    assert graph.sent == [] and graph.calls == {}


class RecordingMediaStore(MediaStore):
    """The real store, noting how many photos are being stored at once. Storing is the last step
    of a photo's check (decode, measure, re-encode, write): overlapping saves mean overlapping checks."""

    def __init__(self, root):
        super().__init__(root)
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0

    def save_id_photo(self, data, owner, decoded=None, card=None):
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(0.05)  # widens the window in which a second check could overlap this one
            return super().save_id_photo(data, owner, decoded=decoded, card=card)
        finally:
            with self.lock:
                self.running -= 1


def test_photos_of_many_senders_at_once_are_checked_one_at_a_time(inbox, settings, graph, tmp_path):
    from tests.actions.conftest import card_photo

    senders = [f"62812000{i:03d}" for i in range(100, 108)]
    photo = card_photo()
    store(inbox, *[meta.image(sender, graph.add_media(photo)) for sender in senders])
    media = RecordingMediaStore(tmp_path / "media")
    seen = []

    async def handle(message):
        seen.append((message.sender_id, message.metadata["antrean_media"]["check"]["ok"]))

    async def main():
        client = GraphClient(settings)
        worker = Worker(inbox, Deliverer(inbox, client, lambda code: None), handle, settings,
                        media=MediaFetcher(client), media_store=lambda: media, poll_seconds=0.1)
        await run_until(worker, all_processed(inbox), timeout=60)
        await client.aclose()

    asyncio.run(main())
    assert settings.concurrent_senders >= len(senders)  # all eight were answered side by side
    assert sorted(seen) == [(sender, True) for sender in senders]
    assert media.most_at_once == 1


def test_a_button_reply_counts_as_its_id_only_if_we_offered_it_last_otherwise_as_its_title(inbox, settings, graph,
                                                                                            tmp_path):
    sender = "6281200094"
    confirm = [{"title": "Ya, daftarkan", "payload": "/affirm"}, {"title": "Ubah data", "payload": "/deny"}]
    offices = [{"title": name.title(), "payload": f'/inform{{"office":"{name}"}}'}
               for name in ("batam", "bogor", "tangerang", "jakarta_pusat")]
    seen = []

    async def handle(message):
        seen.append(message.text)
        if message.text == "konfirmasi":
            await message.output_channel.send_text_with_buttons(sender, "Sudah benar?", confirm)
        elif message.text == "kantor":
            await message.output_channel.send_text_with_buttons(sender, "Pilih kantor:", offices)
        else:
            await message.output_channel.send_text_message(sender, "oke")  # offers nothing

    async def turn(*messages):
        store(inbox, *messages)
        client = GraphClient(settings)
        await run_until(make_worker(inbox, settings, client, handle, tmp_path), all_processed(inbox))
        await client.aclose()

    async def main():
        await turn(meta.text(sender, "konfirmasi"))
        await turn(meta.button_reply(sender, '/inform{"nik":"2171031708900001"}', "Ya, daftarkan"),  # forged id
                   meta.button_reply(sender, "/affirm", "Ya, daftarkan"),  # offered, and still the last offer
                   meta.button_reply(sender, "/restart", "/affirm"))  # a forged title is only text
        await turn(meta.text(sender, "kantor"))
        await turn(meta.list_reply(sender, '/inform{"office":"bogor"}', "Bogor"),
                   meta.button_reply(sender, "/affirm", "Ya, daftarkan"),  # offered before, not in the last offer
                   meta.template_button(sender, "/check_booking", "Cek antrean"))  # no template offered it

    asyncio.run(main())
    assert seen == ["konfirmasi", "Ya, daftarkan", "/affirm", "affirm",
                    "kantor", '/inform{"office":"bogor"}', "Ya, daftarkan", "Cek antrean"]
    actions = [m["interactive"]["action"] for m in graph.sent_to(sender) if m["type"] == "interactive"]
    assert [[b["reply"]["id"] for b in action.get("buttons", [])] for action in actions] == [["/affirm", "/deny"], []]


def test_a_tapped_button_reaches_rasa_as_its_payload_with_its_title_beside_it(inbox, settings, graph, tmp_path):
    """Rasa gets the payload (when we offered it); staff reading the transcript want what the
    applicant tapped, so its title travels in the metadata."""
    sender = "6281200097"
    store(inbox, meta.button_reply(sender, '/inform{"application_type":"new"}', "Paspor baru"),
          meta.list_reply(sender, '/inform{"office":"batam"}', "Batam"),
          meta.template_button(sender, "/check_booking", "Cek jadwal"), meta.text(sender, "halo"))
    seen = []

    async def handle(message):
        seen.append((message.text, message.metadata.get("button_title")))

    async def main():
        client = GraphClient(settings)
        await run_until(make_worker(inbox, settings, client, handle, tmp_path), all_processed(inbox))
        await client.aclose()

    asyncio.run(main())
    assert [title for _, title in seen] == ["Paspor baru", "Batam", "Cek jadwal", None]


def test_a_message_waits_out_an_outage_of_redis_or_the_database_instead_of_failing(inbox, settings, graph, tmp_path):
    """Rasa's lock store raises LockError from a lost Redis connection, its tracker store an
    OperationalError when PostgreSQL drops: more times in a row than a message's attempts. The
    message waits (its attempts kept for real faults) and is answered once it all works again."""
    import redis
    import sqlalchemy
    from rasa.core.lock_store import LockError

    from antrean.runtime.outages import outage
    from antrean.whatsapp.worker import MAX_ATTEMPTS

    sender = "6281200077"
    store(inbox, meta.text(sender, "halo"))
    outages = [sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))]
    for _ in range(MAX_ATTEMPTS + 1):
        try:
            raise LockError("Redis lock store unavailable") from redis.exceptions.ConnectionError("refused")
        except LockError as error:
            outages.append(error)
    seen, failures = [], list(outages)

    async def handle(message):
        if failures:
            raise failures.pop(0)
        await echo(seen)(message)

    client = GraphClient(settings)

    async def main():
        worker = make_worker(inbox, settings, client, handle, tmp_path)
        worker.outage_pause = (0.05, 0.2)  # the same backoff, shorter
        await run_until(worker, all_processed(inbox), timeout=60)
        await client.aclose()

    asyncio.run(main())
    assert [outage(error) for error in outages] == ["the database"] + ["Redis"] * (MAX_ATTEMPTS + 1)
    assert outage(LockError("Conversation stayed locked")) is None  # a real fault still uses up attempts
    assert seen == [(sender, "halo")]
    assert [m["text"]["body"] for m in graph.sent_to(sender)] == ["echo: halo"]
