from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antrean.media.contract import (
    SEND_PHOTO_TEXT,
    MediaInfo,
    ingest_photo,
    media_from_metadata,
    photo_message_text,
    photo_metadata,
)
from antrean.media.photo_store import MediaStore
from antrean.media.photos import TIPS, PhotoCheck, check_id_photo
from tests.media.images import card, encode, scaled

OWNER = "6281234567890"
GOOD_REF = "photo:" + "0123456789abcdef" * 2


@pytest.fixture
def store(tmp_path):
    return MediaStore(tmp_path / "media")


def stored_photos(media: MediaStore) -> list:
    return sorted(media.root.rglob("*.jpg")) if media.root.exists() else []


def test_the_photo_intent_text_is_the_one_the_nlu_knows():
    assert SEND_PHOTO_TEXT == "/send_photo"


@pytest.mark.parametrize(
    ("caption", "text"),
    [
        (None, "/send_photo"),
        ("", "/send_photo"),
        ("  \n ", "/send_photo"),
        (" ini KTP anak saya ", "ini KTP anak saya"),
        ("/affirm", "affirm"),  # a caption cannot trigger an intent directly
        ("//", "/send_photo"),
        (42, "/send_photo"),
    ],
)
def test_the_message_text_is_the_caption_or_else_send_photo(caption, text):
    assert photo_message_text(caption) == text


def test_a_good_photo_is_stored_and_its_metadata_round_trips_through_json(store):
    ref, check = ingest_photo(store, encode(card()), OWNER)

    metadata = json.loads(json.dumps(photo_metadata(ref, check)))

    assert metadata == {
        "antrean_media": {
            "ref": ref,
            "kind": "image",
            "check": {"ok": True, "problem": None, "tip_id": None, "width": 1600, "height": 1200},
        }
    }
    assert media_from_metadata(metadata) == MediaInfo(
        ref=ref, kind="image", ok=True, problem=None, tip_id=None, width=1600, height=1200
    )
    assert store.open(ref)


def test_a_bad_photo_is_not_kept_and_its_metadata_carries_the_tip(store):
    ref, check = ingest_photo(store, encode(scaled(card(), 0.15)), OWNER)

    assert (ref, check.problem) == (None, "too_dark")
    assert stored_photos(store) == []
    info = media_from_metadata(photo_metadata(ref, check))
    assert info == MediaInfo(
        ref=None, kind="image", ok=False, problem="too_dark", tip_id=TIPS["too_dark"], width=1600, height=1200
    )


def test_metadata_that_mixes_a_passed_check_and_no_reference_is_a_bug():
    passed = check_id_photo(encode(card()))
    failed = PhotoCheck(ok=False, problem="blurry", tip_id=TIPS["blurry"])

    with pytest.raises(ValueError):
        photo_metadata(None, passed)
    with pytest.raises(ValueError):
        photo_metadata("photo:../../etc/passwd", passed)
    with pytest.raises(ValueError):
        photo_metadata(GOOD_REF, failed)


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        [],
        "photo:x",
        {},
        {"other": 1},
        {"antrean_media": None},
        {"antrean_media": GOOD_REF},
        {"antrean_media": {"ref": GOOD_REF, "kind": "audio", "check": {"ok": True}}},
        {"antrean_media": {"ref": GOOD_REF, "check": {"ok": True}}},
    ],
)
def test_metadata_without_photo_info_gives_none(metadata):
    assert media_from_metadata(metadata) is None


@pytest.mark.parametrize(
    "media",
    [
        {"ref": "photo:../../etc/passwd", "kind": "image", "check": {"ok": True, "width": 1600, "height": 1200}},
        {"ref": GOOD_REF, "kind": "image", "check": {"ok": "true"}},
        {"ref": GOOD_REF, "kind": "image", "check": {"ok": 1}},
        {"ref": GOOD_REF, "kind": "image", "check": "ok"},
        {"ref": GOOD_REF, "kind": "image"},
        {"ref": None, "kind": "image", "check": {"ok": True}},
    ],
)
def test_a_photo_counts_as_ok_only_with_a_real_true_and_a_well_formed_reference(media):
    info = media_from_metadata({"antrean_media": media})

    assert info is not None
    assert info.ok is False
    assert info.ref in (None, GOOD_REF)


def test_garbage_fields_are_dropped_rather_than_trusted():
    info = media_from_metadata(
        {"antrean_media": {"ref": GOOD_REF, "kind": "image", "check": {
            "ok": True, "problem": 7, "tip_id": ["x"], "width": True, "height": -5}}}
    )

    assert info == MediaInfo(ref=GOOD_REF, kind="image", ok=True, problem=None, tip_id=None, width=0, height=0)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
_media_like = st.fixed_dictionaries(
    {"antrean_media": st.fixed_dictionaries({"kind": st.just("image")}, optional={
        "ref": st.one_of(st.just(GOOD_REF), _json), "check": st.one_of(_json, st.dictionaries(
            st.sampled_from(["ok", "problem", "tip_id", "width", "height"]), _json))})}
)


@given(st.one_of(_json, _media_like))
def test_reading_any_json_like_metadata_never_raises(metadata):
    info = media_from_metadata(metadata)

    assert info is None or isinstance(info, MediaInfo)
    if info is not None and info.ok:
        assert info.ref == GOOD_REF
