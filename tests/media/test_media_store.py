from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from PIL import ExifTags, Image, ImageCms

from antrean.media import photo_store as store_module
from antrean.media.photo_store import DEFAULT_ROOT, MediaStore, is_photo_ref
from antrean.media.photos import PhotoRejected
from tests.media.images import card, encode

OWNER = "6281234567890"
OTHER = "6285298765432"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone(timedelta(hours=7)))


class Clock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def store(tmp_path, clock):
    return MediaStore(tmp_path / "media", clock=clock)


@pytest.fixture(scope="module")
def photo():
    return encode(card())


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def all_files(root):
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_a_saved_photo_can_be_read_back_under_an_opaque_reference(store, photo):
    ref = store.save_id_photo(photo, OWNER)

    assert is_photo_ref(ref)
    assert OWNER not in ref
    stored = Image.open(io.BytesIO(store.open(ref)))
    assert (stored.format, stored.mode, stored.size) == ("JPEG", "RGB", (1600, 1200))
    assert store.path(ref).read_bytes() == store.open(ref)


def test_every_photo_gets_its_own_unguessable_name_without_the_owner_in_any_file(store, photo):
    refs = {store.save_id_photo(photo, OWNER) for _ in range(3)}

    assert len(refs) == 3
    for path in all_files(store.root):
        assert OWNER not in path.name
        assert OWNER.encode() not in path.read_bytes()


def test_the_owner_is_kept_only_as_a_keyed_hash(tmp_path, photo):
    first, second = MediaStore(tmp_path / "a"), MediaStore(tmp_path / "b")
    hashes = []
    for media in (first, second):
        ref = media.save_id_photo(photo, OWNER)
        hashes.append(json.loads(media.path(ref).with_suffix(".json").read_text())["owner"])

    # A plain SHA-256 of a phone number could be reversed by trying every number.
    assert hashlib.sha256(OWNER.encode()).hexdigest() not in hashes
    assert hashes[0] != hashes[1]
    assert all(len(value) == 64 for value in hashes)


def test_the_stored_photo_keeps_no_exif_gps_icc_xmp_or_comment(store):
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SAMSUNG-SECRET-MAKE"
    exif[ExifTags.Base.Model] = "SM-SECRET-MODEL"
    exif[ExifTags.Base.Orientation] = 1
    exif[ExifTags.IFD.GPSInfo] = {1: "S", 2: (1.0, 8.0, 30.0), 3: "E", 4: (104.0, 1.0, 2.0)}
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>SECRET-XMP</x:xmpmeta>"
    original = encode(card(), exif=exif, icc_profile=icc, comment=b"SECRET-COMMENT", xmp=xmp)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the input has it all

    data = store.open(store.save_id_photo(original, OWNER))

    stored = Image.open(io.BytesIO(data))
    assert dict(stored.getexif()) == {}
    assert stored.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
    assert not {"exif", "icc_profile", "comment", "xmp"} & set(stored.info)
    for marker in (b"Exif\x00\x00", b"ICC_PROFILE", b"http://ns.adobe.com/xap/", b"SECRET", b"SAMSUNG"):
        assert marker not in data


def test_the_stored_photo_is_turned_upright_per_its_exif_orientation(store):
    image = card()
    image.paste((0, 255, 0), (0, 0, 200, 200))  # a green mark in the stored top-left corner
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # to be shown rotated 90 degrees clockwise

    stored = Image.open(io.BytesIO(store.open(store.save_id_photo(encode(image, exif=exif), OWNER))))

    assert stored.size == (1200, 1600)
    red, green, blue = stored.getpixel((1100, 100))  # the mark is now top-right
    assert green > 200 and red < 60 and blue < 60


def test_a_transparent_png_is_stored_as_rgb_over_white(store):
    image = Image.new("RGBA", (1600, 1200), (0, 0, 0, 0))
    image.paste(card().crop((160, 160, 1440, 1040)), (160, 160))

    stored = Image.open(io.BytesIO(store.open(store.save_id_photo(encode(image, "PNG"), OWNER))))

    assert stored.mode == "RGB"
    assert min(stored.getpixel((20, 20))) > 245


def test_a_very_large_photo_is_stored_at_most_3000_pixels_wide(store):
    ref = store.save_id_photo(encode(card((4000, 3000))), OWNER)

    assert Image.open(store.path(ref)).size == (3000, 2250)


def test_files_are_0600_and_directories_0700_whatever_the_umask(store, photo):
    store.root.mkdir(mode=0o755)
    old = os.umask(0)
    try:
        ref = store.save_id_photo(photo, OWNER)
    finally:
        os.umask(old)

    path = store.path(ref)
    assert mode(store.root) == mode(path.parent) == 0o700
    assert mode(path) == mode(path.with_suffix(".json")) == mode(store.root / ".owner-key") == 0o600


def test_a_successful_save_leaves_no_temporary_files(store, photo):
    ref = store.save_id_photo(photo, OWNER)

    names = {path.name for path in all_files(store.root)}
    name = ref.removeprefix("photo:")
    assert names == {".owner-key", f"{name}.jpg", f"{name}.json"}


def test_a_failed_write_leaves_neither_the_photo_nor_its_sidecar_nor_a_temporary_file(store, photo, monkeypatch):
    def failing_replace(source, target):
        if str(target).endswith(".jpg"):
            raise OSError(28, "No space left on device")
        return os.rename(source, target)

    monkeypatch.setattr(store_module.os, "replace", failing_replace)

    with pytest.raises(OSError, match="No space"):
        store.save_id_photo(photo, OWNER)
    assert [path.name for path in all_files(store.root)] == [".owner-key"]


def test_bytes_that_are_not_a_photo_are_refused_and_nothing_is_written(store):
    with pytest.raises(PhotoRejected) as refused:
        store.save_id_photo(b"not a photo", OWNER)

    assert refused.value.problem == "not_an_image"
    assert all(path.name == ".owner-key" for path in all_files(store.root))


@pytest.mark.parametrize("owner", ["", "   ", None])
def test_a_photo_needs_an_owner(store, photo, owner):
    with pytest.raises(ValueError):
        store.save_id_photo(photo, owner)


@pytest.mark.parametrize(
    "ref",
    [
        "photo:../../etc/passwd",
        "photo:/etc/passwd",
        "photo:" + "a" * 31,
        "photo:" + "a" * 33,
        "photo:" + "A" * 32,
        "photo:" + "a" * 32 + "\n",
        "photo:" + "a" * 30 + "/..",
        "photo:" + "a" * 32 + "/../../x",
        "../" + "a" * 32,
        "a" * 32,
        "",
        None,
        b"photo:" + b"a" * 32,
    ],
)
def test_anything_but_a_well_formed_reference_is_rejected(store, ref):
    for operation in (store.path, store.open, store.delete):
        with pytest.raises(ValueError):
            operation(ref)


def test_a_deleted_photo_is_gone_with_its_sidecar(store, photo):
    ref = store.save_id_photo(photo, OWNER)
    path = store.path(ref)

    assert store.delete(ref) is True
    assert not path.exists() and not path.with_suffix(".json").exists()
    assert store.delete(ref) is False
    with pytest.raises(FileNotFoundError):
        store.open(ref)


def test_all_photos_of_one_applicant_can_be_deleted_and_others_are_kept(store, tmp_path, photo):
    mine = [store.save_id_photo(photo, OWNER) for _ in range(2)]
    theirs = store.save_id_photo(photo, OTHER)

    # Another process (a new store on the same folder) finds them through the persisted key.
    assert MediaStore(store.root).delete_owned_by(f" {OWNER} ") == 2

    assert not any(store.path(ref).exists() or store.path(ref).with_suffix(".json").exists() for ref in mine)
    assert store.open(theirs)
    assert store.delete_owned_by(OWNER) == 0


def test_photos_older_than_the_retention_period_are_purged(store, clock, photo):
    old = store.save_id_photo(photo, OWNER)
    clock.moment = T0 + timedelta(days=20)
    recent = store.save_id_photo(photo, OWNER)

    assert store.purge_older_than(30, now=T0 + timedelta(days=31)) == 1

    assert not store.path(old).exists() and not store.path(old).with_suffix(".json").exists()
    assert store.path(recent).exists()
    clock.moment = T0 + timedelta(days=51)
    assert store.purge_older_than(30) == 1  # now defaults to the store's clock
    assert not store.path(recent).exists()


def test_retention_follows_the_recorded_time_not_the_file_time(store, photo):
    ref = store.save_id_photo(photo, OWNER)
    long_ago = (T0 - timedelta(days=400)).timestamp()
    os.utime(store.path(ref), (long_ago, long_ago))  # e.g. restored from a backup

    assert store.purge_older_than(30, now=T0 + timedelta(days=1)) == 0
    assert store.path(ref).exists()


def test_purging_clears_abandoned_temporary_files_and_orphan_sidecars_but_not_fresh_ones(store, photo):
    ref = store.save_id_photo(photo, OWNER)
    shard = store.path(ref).parent
    stale_temp, fresh_temp = shard / ".tmp-crashed", shard / ".tmp-writing"
    orphan, young_orphan = shard / ("b" * 32 + ".json"), shard / ("c" * 32 + ".json")
    for path in (stale_temp, fresh_temp, orphan, young_orphan):
        path.write_bytes(b"{}")
    now = T0 + timedelta(days=2)
    two_hours_ago = (now - timedelta(hours=2)).timestamp()
    os.utime(stale_temp, (two_hours_ago, two_hours_ago))
    os.utime(orphan, (two_hours_ago, two_hours_ago))
    for path in (fresh_temp, young_orphan):
        os.utime(path, (now.timestamp(), now.timestamp()))

    assert store.purge_older_than(30, now=now) == 0

    assert not stale_temp.exists() and not orphan.exists()
    assert fresh_temp.exists() and young_orphan.exists() and store.path(ref).exists()


def test_purging_an_empty_or_missing_store_removes_nothing(tmp_path):
    assert MediaStore(tmp_path / "never-created").purge_older_than(0, now=T0) == 0


@pytest.mark.parametrize(("days", "now"), [(-1, T0), (30, datetime(2026, 12, 1))])
def test_purging_refuses_a_negative_period_or_a_time_without_zone(store, days, now):
    with pytest.raises(ValueError):
        store.purge_older_than(days, now=now)


def test_the_default_root_is_var_media_of_the_repository():
    from antrean.runtime.db import VAR_DIR

    assert DEFAULT_ROOT == VAR_DIR / "media"
    assert MediaStore().root == DEFAULT_ROOT


def test_the_media_modules_load_without_rasa_or_sqlalchemy():
    code = (
        "import sys, antrean.media.contract, antrean.media.photos, antrean.media.photo_store; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'rasa', 'sqlalchemy', 'numpy'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=store_module.DEFAULT_ROOT.parents[1])

    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("orientation", [1, 6])
def test_storing_the_image_the_check_decoded_gives_the_same_file_as_decoding_again(store, orientation):
    from antrean.media.photos import inspect_id_photo

    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    out = io.BytesIO()
    card().save(out, "JPEG", quality=80, exif=exif.tobytes())
    data = out.getvalue()
    check, decoded = inspect_id_photo(data)
    assert check.ok and decoded is not None

    assert store_module._clean_jpeg(data, decoded) == store_module._clean_jpeg(data)
    assert store.open(store.save_id_photo(data, "6281234", decoded=decoded)) == store_module._clean_jpeg(data)


def test_what_was_read_from_a_card_lives_and_dies_with_its_photo(tmp_path):
    from tests.media.images import card, encode

    store = MediaStore(tmp_path / "media")
    data = encode(card())
    ref = store.save_id_photo(data, "6281234567890", card={"card_found": True, "nik": "2171031708900001"})
    assert store.card_reading(ref)["nik"] == "2171031708900001"
    assert oct(store.path(ref).with_suffix(".json").stat().st_mode & 0o777) == "0o600"
    store.forget_card(ref)
    assert store.card_reading(ref) is None and store.path(ref).exists()
    assert store.refs_owned_by("6281234567890") == [ref]  # the sidecar still names its owner

    again = store.save_id_photo(data, "6281234567890", card={"card_found": True, "nik": "2171031708900001"})
    assert store.delete_owned_by("6281234567890") == 2
    assert store.card_reading(again) is None
    assert not list((tmp_path / "media").glob("*/*.json"))
