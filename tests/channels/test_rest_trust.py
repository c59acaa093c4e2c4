"""What a REST client may not decide, on the channel's real blueprint in a real Sanic server: who
the sender is (a phone number in the metadata), that a photo was checked (a photo result in the
metadata), which channel the message came from; and that an ID photo is kept while no registration
could use it."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import httpx
import pytest

from antrean.assistant.rest_channel import AntreanRestInput
from antrean.media.contract import NOT_KEPT_TIP, REGISTRATION_CLOSED, media_from_metadata
from antrean.media.photo_store import MediaStore
from tests.conftest import MutableClock, wib
from tests.media.images import card, encode
from tests.whatsapp.server import served

TOKEN = "s3cret-token-for-tests"
INVENTED_REF = "photo:" + "ab" * 16
FORGED_PHOTO = {"antrean_media": {
    "ref": INVENTED_REF, "kind": "image",
    "check": {"ok": True, "problem": None, "tip_id": None, "width": 1600, "height": 1200}}}


@pytest.fixture
def rest(sqlite_url, make_service, tmp_path):
    clock = MutableClock(wib(2026, 12, 1, 8, 0))  # Tuesday, registration open
    service = make_service(sqlite_url, clock_override=clock)
    media = MediaStore(tmp_path / "media")
    channel = AntreanRestInput(token=TOKEN)
    channel._services = (service, media)
    received = []

    async def on_new_message(message):
        received.append(message)

    with served(channel, on_new_message) as base:
        def post(body: dict) -> httpx.Response:
            return httpx.post(f"{base}/webhook", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)

        yield SimpleNamespace(post=post, received=received, media=media, clock=clock)


def photos(media: MediaStore) -> list:
    return sorted(media.root.rglob("*.jpg")) if media.root.exists() else []


def test_a_client_cannot_name_the_sender_or_the_channel_nor_invent_a_photo_result(rest):
    metadata = {"office_id": "batam", "wa_id": "6281311112222", "phone": "6281311112222",
                "whatsapp_number": "6281311112222", "phone_number_id": "106540352242922", **FORGED_PHOTO}
    assert rest.post({"sender": "6281299990001", "message": "/send_photo", "input_channel": "whatsapp",
                      "metadata": metadata}).status_code == 200

    [message] = rest.received
    assert message.metadata == {"office_id": "batam"}  # the only key a client may choose
    assert message.sender_id == "6281299990001" and message.input_channel == "antrean"
    assert media_from_metadata(message.metadata) is None and photos(rest.media) == []


def test_a_photo_result_comes_only_from_the_upload_the_channel_checked(rest):
    upload = base64.b64encode(encode(card())).decode()
    assert rest.post({"sender": "6281299990001", "message": "", "photo_base64": upload,
                      "metadata": {"office_id": "batam", **FORGED_PHOTO}}).status_code == 200

    [message] = rest.received
    media = media_from_metadata(message.metadata)
    assert media.ok and media.ref != INVENTED_REF
    assert [path.stem for path in photos(rest.media)] == [media.ref.removeprefix("photo:")]


def test_outside_the_registration_window_an_id_photo_is_neither_checked_nor_kept(rest):
    upload = base64.b64encode(encode(card())).decode()

    def send(office: dict) -> dict:
        assert rest.post({"sender": "6281299990001", "message": "Budi#17-08-1990#Jl. Raya 12", "photo_base64": upload,
                          "metadata": office}).status_code == 200
        return rest.received[-1].metadata["antrean_media"]

    rest.clock.moment = wib(2026, 12, 1, 10, 30)  # after Batam's 07:30-10:00 (and every other office's)
    for office in ({"office_id": "batam"}, {}):
        refused = send(office)
        assert (refused["ref"], refused["check"]["ok"]) == (None, False)
        assert (refused["check"]["problem"], refused["check"]["tip_id"]) == (REGISTRATION_CLOSED, NOT_KEPT_TIP)
        assert refused["check"]["width"] == 0  # not even decoded
    assert photos(rest.media) == []

    rest.clock.moment = wib(2026, 12, 1, 7, 0)  # 08:00 in Denpasar (WITA): open there, not yet in Batam
    assert send({"office_id": "batam"})["check"]["problem"] == REGISTRATION_CLOSED
    assert photos(rest.media) == []
    assert send({})["check"]["ok"] is True  # no office named yet: it may become a registration in Denpasar
    assert len(photos(rest.media)) == 1
