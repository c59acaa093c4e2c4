"""A private on-disk store for applicants' identity-document photos.

Every photo is re-encoded before it is kept: EXIF-rotated, flattened to RGB and saved as a fresh
JPEG with no metadata at all. Phone photos carry GPS coordinates, the phone's make and serial-like
fields and editing software tags; none of that is needed to read an e-KTP, so none of it is kept.

Layout under the root (directories 0700, files 0600, set explicitly rather than trusting umask)::

    .owner-key          32 random bytes: the key for owner hashes (see below)
    3f/3f9c...e1.jpg    the photo; its name is 128 random bits, the first two hex digits a shard
    3f/3f9c...e1.json   sidecar: {"v": 1, "owner": <HMAC-SHA256 of the owner>, "created": <unix s>}

References handed to the rest of the system are ``photo:<32 hex digits>``: they never contain a
phone number or NIK, cannot be guessed, and cannot name a path outside the store.

The sidecar exists so personal data can be deleted by person (``delete_owned_by``) and by age
(``purge_older_than``). The owner is stored as an HMAC keyed with a per-store random key, not a
plain SHA-256: Indonesian mobile numbers are a space of ~10^10, so a plain hash found in a copied
sidecar or a backup listing could be reversed by trying them all. (Whoever can read the whole
store, key included, can also read the photos, so the key is no protection against that.) The
creation time is stored too because file times change when a store is copied or restored."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Callable, Collection, Iterator
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image

from antrean.media.photos import flattened_rgb, upright_rgb

# Mirrors antrean.runtime.db.VAR_DIR; importing antrean.runtime.db would pull SQLAlchemy into the media core.
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "var" / "media"

REF_PREFIX = "photo:"
_NAME = re.compile(r"[0-9a-f]{32}")
_SHARD = re.compile(r"[0-9a-f]{2}")
_TEMP_PREFIX = ".tmp-"
_KEY_FILE = ".owner-key"
DIR_MODE = 0o700
FILE_MODE = 0o600
JPEG_QUALITY = 90
# An officer needs to read 8-point text on the card; 3000 px on the longer side is ample for that
# and keeps a full-resolution upload from becoming a file of many megabytes kept for weeks.
STORE_MAX_SIDE = 3000
# A temporary file this old is a crashed write; it may hold a photo, so purging removes it.
_STALE_TEMP_SECONDS = 3600


def is_photo_ref(value: object) -> bool:
    return isinstance(value, str) and value.startswith(REF_PREFIX) and bool(_NAME.fullmatch(value[len(REF_PREFIX) :]))


class MediaStore:
    def __init__(self, root: Path | str | None = None, *, clock: Callable[[], datetime] | None = None):
        self.root = Path(root) if root is not None else DEFAULT_ROOT
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._key: bytes | None = None

    # -- writing ---------------------------------------------------------------------------------

    def save_id_photo(self, data: bytes, owner: str, decoded: Image.Image | None = None,
                      card: dict | None = None) -> str:
        """Re-encode an already-checked photo without metadata, store it, return its reference.
        ``decoded``: the upright image the check decoded from ``data``, if at hand (saves decoding
        it again). ``card``: what was read from the e-KTP on it, kept in the sidecar so that it
        lives exactly as long as the photo it came from (``card_reading``, ``forget_card``).
        Raises ``PhotoRejected`` (a ValueError) if the bytes cannot be decoded safely."""
        owner_hash = self._owner_hash(owner)
        jpeg = _clean_jpeg(data, decoded)
        name = secrets.token_hex(16)
        shard = self._private_dir(self.root / name[:2])
        sidecar = {"v": 1, "owner": owner_hash, "created": int(self._clock().timestamp())}
        if card is not None:
            sidecar["card"] = card
        # Sidecar first: a crash between the two writes then leaves an orphan sidecar (purged
        # later), never a photo that delete_owned_by cannot find.
        _write_private(shard / f"{name}.json", json.dumps(sidecar).encode())
        try:
            _write_private(shard / f"{name}.jpg", jpeg)
        except BaseException:
            with contextlib.suppress(OSError):
                (shard / f"{name}.json").unlink()
            raise
        return REF_PREFIX + name

    # -- reading ---------------------------------------------------------------------------------

    def path(self, ref: str) -> Path:
        """Where the photo for ``ref`` lives (it may no longer exist). Raises ValueError for
        anything that is not a well-formed reference, which rules out path traversal."""
        if not is_photo_ref(ref):
            raise ValueError("not a photo reference")
        name = ref[len(REF_PREFIX) :]
        return self.root / name[:2] / f"{name}.jpg"

    def open(self, ref: str) -> bytes:
        """The stored JPEG; FileNotFoundError once deleted or purged."""
        return self.path(ref).read_bytes()

    def card_reading(self, ref: str) -> dict | None:
        """What was read from the e-KTP on this photo (``save_id_photo(card=)``), or None: not
        read, forgotten, or the photo is gone."""
        record = _read_sidecar(self.path(ref).with_suffix(".json"))
        card = record.get("card") if record else None
        return card if isinstance(card, dict) else None

    def forget_card(self, ref: str) -> None:
        """Drop what was read from the photo, keeping the photo: once the booking holds the NIK,
        nothing else read from the card is needed."""
        sidecar = self.path(ref).with_suffix(".json")
        record = _read_sidecar(sidecar)
        if record is not None and "card" in record:
            record.pop("card")
            _write_private(sidecar, json.dumps(record).encode())

    # -- deleting --------------------------------------------------------------------------------

    def delete(self, ref: str) -> bool:
        """Remove a photo and its sidecar; False if it was already gone."""
        photo = self.path(ref)
        return _remove_photo(photo)

    def delete_owned_by(self, owner: str) -> int:
        """Remove every photo of ``owner``; returns how many were removed."""
        owner_hash = self._owner_hash(owner)
        removed = 0
        for sidecar in self._sidecars():
            record = _read_sidecar(sidecar)
            if record is not None and record.get("owner") == owner_hash:
                removed += _remove_photo(sidecar.with_suffix(".jpg"))  # removes the sidecar too
        return removed

    def refs_owned_by(self, owner: str) -> list[str]:
        """References of the photos of ``owner`` still stored (for an erasure's dry run or an export)."""
        owner_hash = self._owner_hash(owner)
        refs = []
        for sidecar in self._sidecars():
            record = _read_sidecar(sidecar)
            if record is not None and record.get("owner") == owner_hash and sidecar.with_suffix(".jpg").exists():
                refs.append(REF_PREFIX + sidecar.stem)
        return refs

    def purge_older_than(self, days: int, now: datetime | None = None, keep: Collection[str] = (),
                         apply: bool = True) -> int:
        """Remove photos stored more than ``days`` days before ``now`` (an aware datetime; default
        the store's clock), plus orphan sidecars and abandoned temporary files. Returns how many
        photos were removed. ``keep``: references spared whatever their age (photos of bookings
        whose appointment is still within the retention period); ``apply=False`` only counts."""
        if days < 0:
            raise ValueError("days must not be negative")
        now = now or self._clock()
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        cutoff = now.timestamp() - days * 86400
        # Leftovers of a crash: temporary files (which may hold a photo) and sidecars without their
        # photo. Younger than an hour they may belong to a save in progress (the sidecar is written
        # before the photo), so they are left for the next purge.
        leftover_cutoff = now.timestamp() - _STALE_TEMP_SECONDS
        kept = {ref[len(REF_PREFIX):] for ref in keep if isinstance(ref, str) and ref.startswith(REF_PREFIX)}
        removed = 0
        for shard in self._shards():
            for entry in list(shard.iterdir()):
                if entry.name.startswith(_TEMP_PREFIX):
                    leftover = True
                elif not _NAME.fullmatch(entry.stem):
                    continue
                elif entry.suffix == ".jpg":
                    if entry.stem not in kept and self._created(entry) < cutoff:
                        removed += _remove_photo(entry) if apply else 1
                    continue
                else:
                    leftover = entry.suffix == ".json" and not entry.with_suffix(".jpg").exists()
                if leftover and apply and _mtime(entry) < leftover_cutoff:
                    _unlink(entry)
        return removed

    # -- internals -------------------------------------------------------------------------------

    def _created(self, photo: Path) -> float:
        record = _read_sidecar(photo.with_suffix(".json"))
        created = record.get("created") if record else None
        if isinstance(created, (int, float)) and not isinstance(created, bool):
            return float(created)
        return _mtime(photo)

    def _shards(self) -> Iterator[Path]:
        if not self.root.is_dir():
            return
        for entry in sorted(self.root.iterdir()):
            if _SHARD.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
                yield entry

    def _sidecars(self) -> Iterator[Path]:
        for shard in self._shards():
            for entry in sorted(shard.glob("*.json")):
                if _NAME.fullmatch(entry.stem):
                    yield entry

    def _private_dir(self, path: Path) -> Path:
        for directory in (self.root, path):
            directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            if stat.S_IMODE(directory.stat().st_mode) != DIR_MODE:
                os.chmod(directory, DIR_MODE)
        return path

    def _owner_hash(self, owner: str) -> str:
        if not isinstance(owner, str) or not owner.strip():
            raise ValueError("owner must be a non-empty string")
        return hmac.new(self._owner_key(), owner.strip().encode(), hashlib.sha256).hexdigest()

    def _owner_key(self) -> bytes:
        if self._key is None:
            self._private_dir(self.root)
            path = self.root / _KEY_FILE
            if not path.exists():
                # Written under a temporary name and linked into place: link() fails if another
                # process got there first, and then everyone uses that process's key.
                fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self.root)
                try:
                    os.fchmod(fd, FILE_MODE)
                    os.write(fd, secrets.token_bytes(32))
                    os.fsync(fd)
                    os.close(fd)
                    fd = -1
                    with contextlib.suppress(FileExistsError):
                        os.link(temp, path)
                finally:
                    if fd >= 0:
                        os.close(fd)
                    _unlink(Path(temp))
            key = path.read_bytes()
            if len(key) != 32:
                raise RuntimeError(f"the media store's owner key {path} is damaged")
            self._key = key
        return self._key


def _clean_jpeg(data: bytes, decoded: Image.Image | None = None) -> bytes:
    image = upright_rgb(data) if decoded is None else flattened_rgb(decoded)
    image.thumbnail((STORE_MAX_SIDE, STORE_MAX_SIDE), Image.Resampling.LANCZOS)
    # Pillow's JPEG writer copies a comment, the DPI and an ICC profile (and, in some versions,
    # more) from .info of the image it saves; the copy above inherited the upload's .info.
    image.info = {}
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 so that readers see either nothing or all of it."""
    fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            # mkstemp already uses 0600; set it anyway so the guarantee does not rest on a detail.
            os.fchmod(file.fileno(), FILE_MODE)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        _unlink(Path(temp))
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable on a crash; not possible on every platform, hence optional.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_photo(photo: Path) -> bool:
    existed = _unlink(photo)
    _unlink(photo.with_suffix(".json"))
    return existed


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _read_sidecar(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
