"""How a photo travels from a channel (WhatsApp) to Rasa and on to the actions, defined once.

A channel that receives an image calls ``ingest_photo`` and sends Rasa a user message whose text is
``photo_message_text(caption)`` and whose metadata is ``photo_metadata(ref, check)``::

    {"antrean_media": {"ref": "photo:<32 hex>" | None, "kind": "image",
                       "check": {"ok": bool, "problem": code | None, "tip_id": str | None,
                                 "width": int, "height": int}}}

Actions read it back with ``media_from_metadata``, which accepts anything (metadata comes over the
network and from older channel versions) and returns None when there is no usable photo info.

Channels check photos on ``photo_checker()``, one thread per process: one photo at a time, first
come first served (decoding takes tens of milliseconds of CPU and tens of megabytes of memory)."""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from antrean.media.photo_store import MediaStore, is_photo_ref
from antrean.media.photos import PhotoCheck, inspect_id_photo

SEND_PHOTO_TEXT = "/send_photo"
METADATA_KEY = "antrean_media"
KIND_IMAGE = "image"
# Not a check's verdict: outside the registration window no registration could use an ID photo,
# so the channel neither checks nor keeps it (data minimisation) and says so with this code.
REGISTRATION_CLOSED = "registration_closed"
NOT_KEPT_TIP = "Foto e-KTP Anda tidak kami simpan karena pendaftaran sedang ditutup."

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaInfo:
    ref: str | None  # None when the photo failed its check and was not kept
    kind: str
    ok: bool  # True only together with a well-formed ref, so an action may rely on ref when ok
    problem: str | None
    tip_id: str | None  # the Indonesian tip to show the applicant when not ok
    width: int
    height: int


def photo_message_text(caption: str | None) -> str:
    """The user-message text for a photo: its caption, or ``/send_photo`` without one."""
    text = caption.strip() if isinstance(caption, str) else ""
    # Rasa treats a message starting with "/" as an intent given directly, bypassing the NLU; a
    # caption such as "/affirm" must not be able to steer the dialogue that way.
    text = text.lstrip("/").strip()
    return text or SEND_PHOTO_TEXT


def photo_metadata(ref: str | None, check: PhotoCheck) -> dict:
    """The metadata of the user message for one photo. A photo that passed must have been stored
    and one that failed must not have been (a bad photo is not kept), so mixing them is a bug."""
    if check.ok and not is_photo_ref(ref):
        raise ValueError("a photo that passed its check needs the reference it was stored under")
    if not check.ok and ref is not None:
        raise ValueError("a photo that failed its check must not be stored")
    return {
        METADATA_KEY: {
            "ref": ref,
            "kind": KIND_IMAGE,
            "check": {
                "ok": check.ok,
                "problem": check.problem,
                "tip_id": check.tip_id,
                "width": check.width,
                "height": check.height,
            },
        }
    }


def not_kept_metadata() -> dict:
    """The metadata of a photo received while registration is closed: neither checked nor kept."""
    return photo_metadata(None, PhotoCheck(ok=False, problem=REGISTRATION_CLOSED, tip_id=NOT_KEPT_TIP))


def media_from_metadata(metadata: dict | None) -> MediaInfo | None:
    """The photo info in a user message's metadata, or None if there is none worth reading."""
    if not isinstance(metadata, dict):
        return None
    media = metadata.get(METADATA_KEY)
    if not isinstance(media, dict) or media.get("kind") != KIND_IMAGE:
        return None
    ref = media.get("ref") if is_photo_ref(media.get("ref")) else None
    check = media.get("check")
    check = check if isinstance(check, dict) else {}
    return MediaInfo(
        ref=ref,
        kind=KIND_IMAGE,
        ok=check.get("ok") is True and ref is not None,
        problem=_text(check.get("problem")),
        tip_id=_text(check.get("tip_id")),
        width=_size(check.get("width")),
        height=_size(check.get("height")),
    )


def ingest_photo(store: MediaStore, data: bytes, owner: str) -> tuple[str | None, PhotoCheck]:
    """Check a received photo and store it only if it passed (data minimisation: a photo the
    applicant must retake anyway is never written to disk), with what could be read from it as an
    e-KTP (antrean.identity.ektp; nothing when reading is unavailable). Storage errors (a full
    disk) raise. Runs on the process's photo thread (``photo_checker``), never on an event loop."""
    check, decoded = inspect_id_photo(data)
    if not check.ok:
        return None, check
    return store.save_id_photo(data, owner, decoded=decoded, card=_read_card(decoded)), check


def _read_card(decoded) -> dict | None:
    from antrean.identity import ektp

    try:
        reading = ektp.read_card(decoded)
    except Exception as error:  # a reading that fails must never cost the applicant their photo
        logger.warning("e-KTP reading failed (%s); the applicant will be asked for the NIK", type(error).__name__)
        return None
    return reading.as_dict() if reading is not None else None


_photo_checkers: dict[int, ThreadPoolExecutor] = {}


def photo_checker() -> ThreadPoolExecutor:
    """This process's photo thread. Checked side by side on the same cores, a burst of photos would
    all finish late and hold every decoded photo in memory at once (a WhatsApp worker answers up to
    32 senders at a time); one after another, each applicant gets an answer as soon as their own
    photo is done and memory holds one photo; Tesseract's model for reading the e-KTP is loaded
    once, for this thread. (Per process: a forked Rasa worker must not reuse its parent's threads.)"""
    checker = _photo_checkers.get(os.getpid())
    if checker is None:
        checker = _photo_checkers[os.getpid()] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="photos")
    return checker


async def ingest_photo_in_turn(store: MediaStore, data: bytes, owner: str) -> tuple[str | None, PhotoCheck]:
    """``ingest_photo`` on this process's photo thread, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(photo_checker(), ingest_photo, store, data, owner)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _size(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
