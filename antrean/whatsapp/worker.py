"""The worker: feeds stored inbox messages to Rasa, one sender at a time in arrival order, many
senders at once.

Crash safety. A message is marked processed only after Rasa handled it, so whatever was stored but
not processed when the server stopped is handled after it starts again: none is lost. Before a
message is fed again (it has attempts but no processed_at), the sender's Rasa tracker is asked
whether it already holds the message (Rasa saves the tracker at the end of a turn): if so the turn
finished and only the bookkeeping was lost. If not, the turn runs again and its replies, numbered
per inbox message in the outbox, are sent only where they had not been: none is answered twice.

Several workers. Each Rasa process runs one worker; they may share one inbox. A worker drains a
sender only while it holds the sender's lease (Inbox.claim_sender), renews its leases every third of
the lease time, and stops draining a sender whose lease it lost. A crashed worker's leases run out
and another worker (or the restarted one) carries on from the first unprocessed message.

Outages. While PostgreSQL or Redis (Rasa's lock store) is unreachable a message waits with its
sender's lease kept and is tried again with backoff: it does not use up the attempts after which
the applicant is asked to send it again (`make drill`, docs/deploying.md "Failure drills")."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

from rasa.core.channels.channel import UserMessage

from antrean.booking.offices import PRACTICE_METADATA_KEY
from antrean.media.contract import ingest_photo_in_turn, not_kept_metadata, photo_message_text, photo_metadata
from antrean.media.photo_store import MediaStore
from antrean.media.photos import MAX_BYTES, TIPS, TOO_LARGE, PhotoCheck
from antrean.runtime.outages import outage
from antrean.runtime.settings import WhatsAppSettings
from antrean.whatsapp import inbox as outcomes
from antrean.whatsapp.graph import GraphClient, GraphError
from antrean.whatsapp.inbox import Inbox, StoredMessage
from antrean.whatsapp.outbound import Deliverer, WhatsAppOutput, offered_choices
from antrean.whatsapp.payloads import BUTTON_TITLE_KEY, NotAPhoto, PhotoInput, TextInput, Unsupported, interpret
from antrean.whatsapp.simulated import SIMULATOR_MEDIA_PREFIX, is_simulator_number

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
MAX_ATTEMPTS = 3
ASK_TEXT_OR_PHOTO = ("Mohon maaf, kami hanya dapat membaca pesan teks atau foto. "
                     "Mohon kirim teks atau foto e-KTP Anda. Terima kasih.")
ASK_PHOTO_NOT_FILE = ("Terima kasih. Mohon maaf, berkas ini belum dapat kami periksa. "
                      "Mohon kirim sebagai foto biasa (bukan PDF atau dokumen). Terima kasih.")
ASK_PHOTO_AGAIN = "Mohon maaf, foto Anda belum dapat kami terima. Mohon kirim ulang fotonya. Terima kasih."
FLOOD_NOTICE = ("Mohon maaf, pesan Anda terlalu banyak dalam waktu singkat. Mohon tunggu sebentar dan "
                "tidak mengirim pesan berulang-ulang; setelah itu silakan kirim kembali pesan Anda. Terima kasih.")
SORRY_TRY_AGAIN = "Mohon maaf, sedang ada gangguan. Silakan kirim kembali pesan Anda beberapa saat lagi."
MENU_ANSWER = re.compile(r"^\s*(\d{1,2})\s*\.?\s*$")

Handler = Callable[[UserMessage], Awaitable[object]]


class MessageAlreadyHandled(Exception):
    """Raised from inside a Rasa turn whose message the conversation already holds: a server whose
    lease ran out mid-turn fed it too (antrean/assistant/message_once.py)."""


class MediaUnavailable(RuntimeError):
    pass


class MediaFetcher:
    """GET /{media-id} → url, then GET url (both with the bearer token); checks size, type and hash."""

    def __init__(self, graph: GraphClient | None, simulator_media=None):
        self.graph = graph
        self.simulator_media = simulator_media  # antrean.whatsapp.sandbox.SimulatorMedia

    async def fetch(self, photo: PhotoInput) -> bytes | None:
        """The photo's bytes, or None when it is larger than photos may be (the check says so)."""
        if self.simulator_media is not None and photo.media_id.startswith(SIMULATOR_MEDIA_PREFIX):
            # Uploaded in the console's simulator: kept in our own database, not at Meta.
            data = await asyncio.to_thread(self.simulator_media.take, photo.media_id)
            if data is None:
                raise MediaUnavailable("simulator upload not found")
            return None if len(data) > MAX_BYTES else data
        if self.graph is None:
            raise MediaUnavailable("sandbox mode has no access token to fetch media")
        for round_ in (1, 2):  # a media URL lives ~5 minutes: an expired one is asked for again once
            try:
                info = await self.graph.media_info(photo.media_id)
                size = _int(info.get("file_size"))
                if size is not None and size > MAX_BYTES:
                    return None
                data, _ = await self.graph.download(info["url"], MAX_BYTES)
            except GraphError as error:
                if "too large" in error.operation:
                    return None
                if round_ == 1 and error.status in (401, 403, 404, 410):
                    continue
                raise MediaUnavailable(str(error)) from error
            expected = info.get("sha256") or photo.sha256
            if isinstance(expected, str) and expected and not _hash_matches(data, expected):
                raise MediaUnavailable("media hash does not match")
            if size is not None and size != len(data):
                raise MediaUnavailable("media size does not match")
            return data
        raise MediaUnavailable("media URL expired twice")


class Worker:
    # While PostgreSQL or Redis is unreachable: the first pause before trying a message again, and
    # the longest (doubling in between).
    outage_pause = (1.0, 10.0)

    def __init__(self, inbox: Inbox, deliverer: Deliverer, handle: Handler, settings: WhatsAppSettings, *,
                 media: MediaFetcher, media_store: Callable[[], MediaStore],
                 ready: Callable[[], bool] = lambda: True,
                 already_handled: Callable[[str, str], Awaitable[bool]] | None = None,
                 registration_open: Callable[[str], bool] = lambda phone_number_id: True,
                 poll_seconds: float | None = None, worker_id: str | None = None):
        self.inbox = inbox
        self.deliverer = deliverer
        self.handle = handle
        self.settings = settings
        self.media = media
        self.media_store = media_store
        self.ready = ready
        self.already_handled = already_handled
        self.registration_open = registration_open  # by the business number written to (its office)
        self.poll_seconds = poll_seconds or settings.poll_interval
        self.worker_id = (worker_id or settings.worker_id
                          or f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
        self.lost: set[str] = set()  # senders whose lease ran out under us: stop after the current turn
        self.active: dict[str, asyncio.Task] = {}
        self.resting: dict[str, float] = {}  # sender -> monotonic time before which not to retry
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._renewer: asyncio.Task | None = None
        self._next_purge = 0.0

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())
        self._renewer = asyncio.get_running_loop().create_task(self.renew_leases())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop taking new work, let turns in progress finish for a moment, then cancel them (an
        interrupted turn is resumed at the next start)."""
        self._stopping = True
        self._wake.set()
        if self._task:
            await asyncio.wait([self._task], timeout=1)
        pending = list(self.active.values())
        if pending:
            _, unfinished = await asyncio.wait(pending, timeout=grace_seconds)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        if self._renewer:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.dispatch()
            except Exception as error:  # the database may be briefly unavailable; keep the loop alive
                unreachable = outage(error)
                if unreachable:  # one line per poll while it lasts, not a traceback each time
                    logger.warning("WhatsApp worker could not read the inbox: %s unreachable", unreachable)
                else:
                    logger.exception("WhatsApp worker could not read the inbox")
            await self.purge_when_due()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    async def dispatch(self) -> None:
        free = self.settings.concurrent_senders - len(self.active)
        if free <= 0 or not self.ready():
            return
        now = time.monotonic()
        self.resting = {s: t for s, t in self.resting.items() if t > now}
        senders = await asyncio.to_thread(self.inbox.pending_senders, free, {*self.active, *self.resting},
                                          self.worker_id)
        for sender in senders:
            if not await asyncio.to_thread(self.inbox.claim_sender, sender, self.worker_id,
                                           self.settings.lease_seconds):
                continue  # another worker took it between the query and the claim
            self.lost.discard(sender)
            self.active[sender] = asyncio.get_running_loop().create_task(self.drain(sender))

    async def drain(self, sender: str) -> None:
        try:
            while not self._stopping:
                # Read after the lease was taken: whatever the previous holder finished is excluded.
                batch = await asyncio.to_thread(self.inbox.pending_for, sender)
                if not batch:
                    return
                for message in batch:
                    if self._stopping or sender in self.lost:
                        return
                    if not await self.process_safely(message):
                        return
        finally:
            self.active.pop(sender, None)
            if sender not in self.lost:
                with contextlib.suppress(Exception):  # if this fails the lease just runs out
                    await asyncio.to_thread(self.inbox.release_sender, sender, self.worker_id)
            self._wake.set()  # the sender may have written again meanwhile

    async def renew_leases(self) -> None:
        """Keeps the leases of the senders being drained alive (a Rasa turn can take long on a busy
        machine); a lease found taken over marks its sender lost."""
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            senders = set(self.active)
            try:
                held = await asyncio.to_thread(self.inbox.renew_leases, senders, self.worker_id,
                                               self.settings.lease_seconds)
            except Exception:
                logger.warning("WhatsApp worker could not renew its leases", exc_info=True)
                continue
            for sender in (senders - held) & set(self.active):  # a finished drain released its own
                logger.warning("WhatsApp worker lost a sender's lease; another worker carries on")
                self.lost.add(sender)

    async def purge_when_due(self) -> None:
        """Retention, hourly: processed messages and replies older than retention_days go."""
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + 3600
        try:
            removed = await asyncio.to_thread(self.inbox.purge, self.settings.retention_days)
        except Exception:
            logger.exception("WhatsApp retention purge failed")
            return
        if any(removed.values()):
            logger.info("WhatsApp retention: removed %(messages)d messages, %(replies)d replies, "
                        "%(statuses)d statuses", removed)

    async def process_safely(self, message: StoredMessage) -> bool:
        # While PostgreSQL or Redis is unreachable the message waits here, its sender's lease kept:
        # an outage is no fault of the message, so it neither uses up its attempts (which end in
        # "please send again") nor goes to another worker that would fail the same way at once.
        pause, outage_tries = self.outage_pause[0], 0
        while True:
            try:
                await self.process(message)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as error:
                unreachable = outage(error)
                if unreachable and not self._stopping and message.wa_id not in self.lost:
                    logger.warning("WhatsApp message %s waits %.0f s: %s unreachable", message.id, pause,
                                   unreachable)
                    await asyncio.sleep(pause)
                    pause, outage_tries = min(pause * 2, self.outage_pause[1]), outage_tries + 1
                    # Its turn may have been saved before the outage hit: the next try asks the tracker.
                    message = dataclasses.replace(message, attempts=message.attempts + 1)
                    continue
                return await self._failed(message, error, message.attempts - outage_tries)

    async def _failed(self, message: StoredMessage, error: Exception, attempts: int) -> bool:
        logger.error("WhatsApp message %s could not be processed (attempt %d): %s", message.id,
                     attempts + 1, error.__class__.__name__)
        logger.debug("processing error", exc_info=True)
        if attempts + 1 >= MAX_ATTEMPTS:
            out = WhatsAppOutput(self.deliverer, message.phone_number_id, message.id)
            out.seq = 100  # after whatever the failed turns may have sent
            await out.send_text_message(message.wa_id, SORRY_TRY_AGAIN)
            await asyncio.to_thread(self.inbox.finish, message.id, outcomes.FAILED)
            return True
        self.resting[message.wa_id] = time.monotonic() + 5 * (attempts + 1)
        return False

    # --- one message ----------------------------------------------------------------------------

    async def process(self, message: StoredMessage) -> None:
        if (message.attempts > 0 and self.already_handled is not None
                and await self.already_handled(message.wa_id, message.wa_message_id)):
            await asyncio.to_thread(self.inbox.finish, message.id, outcomes.ALREADY_HANDLED)
            return
        await asyncio.to_thread(self.inbox.count_attempt, message.id)
        out = WhatsAppOutput(self.deliverer, message.phone_number_id, message.id)
        try:
            outcome = await self.respond(message, out)
        except MessageAlreadyHandled:
            logger.info("WhatsApp message %s was handled by another worker meanwhile", message.id)
            outcome = outcomes.ALREADY_HANDLED
        await asyncio.to_thread(self.inbox.finish, message.id, outcome)

    async def respond(self, message: StoredMessage, out: WhatsAppOutput) -> str:
        count, previous = await asyncio.to_thread(self.inbox.flood_position, message,
                                                  self.settings.flood_window_seconds)
        if count > self.settings.flood_max_messages:
            if previous != outcomes.FLOODED:
                await out.send_text_message(message.wa_id, FLOOD_NOTICE)
            return outcomes.FLOODED
        what = interpret(message.kind, message.payload)
        if isinstance(what, Unsupported):
            await out.send_text_message(message.wa_id, ASK_TEXT_OR_PHOTO)
            return outcomes.UNSUPPORTED
        if isinstance(what, NotAPhoto):
            await out.send_text_message(message.wa_id, ASK_PHOTO_NOT_FILE)
            return outcomes.NOT_A_PHOTO
        metadata = {"phone_number_id": message.phone_number_id, "wa_id": message.wa_id,
                    "wa_message_id": message.wa_message_id}
        # The console's simulator trains staff: it books at the office's practice twin, never a real
        # seat, and a practice office takes registrations (and their photos) at any hour.
        practice = is_simulator_number(message.wa_id)
        if practice:
            metadata[PRACTICE_METADATA_KEY] = True
        if isinstance(what, TextInput):
            text = (await self.button_answer(message.wa_id, what) if what.from_button
                    else await self.menu_answer(message.wa_id, what.text))
            if what.from_button and what.title:  # staff reading the transcript want what was tapped
                metadata[BUTTON_TITLE_KEY] = what.title[:256]
        elif not practice and not await asyncio.to_thread(self.registration_open, message.phone_number_id):
            # No registration can use an ID photo now: not downloaded, checked or kept.
            metadata.update(not_kept_metadata())
            text = photo_message_text(what.caption)
        else:
            try:
                data = await self.media.fetch(what)
            except MediaUnavailable as error:
                logger.info("WhatsApp photo of message %s not fetched: %s", message.id, error)
                await out.send_text_message(message.wa_id, ASK_PHOTO_AGAIN)
                return outcomes.MEDIA_FAILED
            if data is None:
                metadata.update(photo_metadata(None, PhotoCheck(ok=False, problem=TOO_LARGE, tip_id=TIPS[TOO_LARGE])))
            else:
                ref, check = await ingest_photo_in_turn(self.media_store(), data, message.wa_id)
                metadata.update(photo_metadata(ref, check))
            text = photo_message_text(what.caption)
        while not self.ready():  # the model may still be loading after a restart
            await asyncio.sleep(0.5)
        await self.handle(UserMessage(text, out, sender_id=message.wa_id, input_channel=CHANNEL,
                                      message_id=message.wa_message_id, metadata=metadata))
        return outcomes.ANSWERED

    async def button_answer(self, wa_id: str, reply: TextInput) -> str:
        """A button's id goes to Rasa as it is (it may name an intent and entities, e.g.
        `/inform{"visit_date":"…"}`) only if our latest choices offered it to this sender; any other id
        (a stale button, or one a modified client made up) counts as the button's title typed."""
        offers = await asyncio.to_thread(self.inbox.last_offers, wa_id)
        offered = {choice_id for payload, menu in offers
                   for choice_id in [*(i for _, i in offered_choices(payload)), *(menu or [])]}
        if reply.text in offered:
            return reply.text
        logger.info("a button reply with an id we did not offer is taken as its title typed")
        return await self.menu_answer(wa_id, reply.title or "")

    async def menu_answer(self, wa_id: str, text: str) -> str:
        """A number answering our numbered menu becomes that choice's payload; any other text loses
        a leading "/" so that typed text cannot give Rasa an intent directly."""
        match = MENU_ANSWER.match(text)
        if match:
            menu = await asyncio.to_thread(self.inbox.last_menu, wa_id)
            if menu and 1 <= int(match.group(1)) <= len(menu):
                return menu[int(match.group(1)) - 1]
        return text.strip().lstrip("/").strip() or "?"


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _hash_matches(data: bytes, expected: str) -> bool:
    """Meta gives SHA-256 as hex in media metadata and as base64 in some webhook payloads."""
    digest = hashlib.sha256(data).digest()
    expected = expected.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", expected):
        return digest.hex() == expected.lower()
    try:
        return base64.b64decode(expected, validate=True) == digest
    except (binascii.Error, ValueError):
        return False
