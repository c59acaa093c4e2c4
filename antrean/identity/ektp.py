"""Reading an e-KTP photo: NIK, name, place and date of birth, and sex, with a confidence each.

The photo arrives upright (EXIF rotation is applied when it is checked, antrean.media.photos). Then:

1. **Find the card.** On a copy at most ``FIND_SIDE`` px wide, the card is the largest connected
   region of light-blue pixels (blue clearly above red: an e-KTP's background, not a wooden, grey,
   white or dark table), holes (text, portrait) filled; its four corners are the region's extreme
   points along the diagonals.
2. **Straighten and crop first.** Only the band holding the four fields (NIK, Nama, Tempat/Tgl
   Lahir, Jenis Kelamin; left of the portrait) is mapped, through the perspective transform given by
   the corners, onto a small upright image in card units (``SCALE`` px per unit, the card being 856
   units wide): the text is then ~20 px high whatever the photo's resolution, and everything else
   on the card is never looked at.
3. **Grey, contrast, threshold.** The red channel (the blue background and its guilloche are light
   in it, the black print dark), stretched (autocontrast), then a local threshold (darker than the
   neighbourhood's mean by a margin), so uneven light across the card does not matter.
4. **Lines and columns.** The text lines are found from the rows' ink; each is matched to the field
   expected near it. On each line the colon column is found from the columns' ink, and only what
   follows it, up to its last ink, is read (for the sex, up to the wide gap before the blood group).
5. **Tesseract** (``tesseract-ocr-ind``, through tesserocr: the model stays loaded, each field is a
   rectangle of one image) reads each value as a single line with the characters the field allows
   (digits for the NIK; letters and a little punctuation for the name; …), with a time limit. The
   NIK is read a second time from a second thresholding, and must come out the same.

A NIK counts as *trusted* only if it is read with confidence, is structurally valid (region code
from the Kemendagri table, a real date) and agrees with the birth date and sex read from the same
card (``CardReading.trusted_nik``). Even then the applicant confirms it in the registration's
summary before anything is booked. Values here are personal data: ``CardReading``'s repr masks
them, and nothing in this module logs them.

Without tesserocr or the Indonesian language data, ``reader()`` is None and the assistant asks for
the NIK as before (``status()`` says why; logged once at start-up by the caller)."""

from __future__ import annotations

import difflib
import functools
import itertools
import logging
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

from PIL import Image, ImageFilter, ImageOps

from antrean.identity.errors import IdentityError
from antrean.identity.nik import check_nik_against, mask_nik, parse_nik

logger = logging.getLogger(__name__)

ENABLED_ENV = "ANTREAN_EKTP_READING"  # "0" turns reading off (antrean.runtime.settings)
TESSDATA_ENV = "ANTREAN_TESSDATA"  # a tessdata folder holding ind.traineddata
TESSDATA_DIRS = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata",
                 "/usr/share/tessdata", "/usr/local/share/tessdata")
LANGUAGE = "ind"

# Card geometry in card units (the card is 856 x 540 units, ISO/IEC 7810 ID-1).
CARD_UNITS = (856.0, 540.0)
# The band that is straightened: left of the portrait, from the NIK line to the sex line.
BAND = (0.0, 80.0, 630.0, 245.0)  # left, top, right, bottom
# Where each field's line is expected (centre, in card units) and the tolerance for finding it.
LINE_CENTRES = {"nik": 110.0, "name": 161.0, "birth": 190.0, "sex": 219.0}
LINE_TOLERANCE = 11.0
# Where the colon is expected on each line (x in card units): the NIK's large print has its own.
COLON_X = {"nik": 153.0, "name": 216.0, "birth": 216.0, "sex": 216.0}
SCALE = 1.6  # output px per card unit: 19-unit field text becomes ~22 px high
FIND_SIDE = 360  # px, the copy the card is looked for in
TIME_LIMIT_MS = 400  # per field: a photo that is not a card cannot keep the thread busy
# Ink is darker than its neighbourhood's mean by this much (0-255, after stretching); the NIK's
# second reading uses the lower margin (thicker strokes).
INK_MARGIN = 28
SECOND_MARGIN = 14

WHITELISTS = {
    "nik": "0123456789",
    "name": "ABCDEFGHIJKLMNOPQRSTUVWXYZ .,'-",
    "birth": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.-/",
    "sex": "ABCDEFGHIJKLMNOPQRSTUVWXYZ-",
}
# Below these Tesseract confidences (0-100) a value is not used at all.
NIK_MIN_CONFIDENCE = 60.0
FIELD_MIN_CONFIDENCE = 60.0

_DATE = re.compile(r"(\d{1,2})\s*[-./]\s*(\d{1,2})\s*[-./]\s*(\d{4})")
# What Tesseract confuses with digits when it reads a date's letters as such.
_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "D": "0", "Q": "0", "I": "1", "L": "1", "T": "1", "Z": "2", "S": "5",
                                   "B": "8", "G": "6", "A": "4"})


@dataclass(frozen=True, repr=False)
class CardReading:
    """What was read from one photo. Confidences are Tesseract's (0-100); a value is None when it
    was not found or read below ``FIELD_MIN_CONFIDENCE`` (the NIK: ``NIK_MIN_CONFIDENCE``)."""

    card_found: bool
    nik: str | None = None
    nik_confidence: float = 0.0
    name: str | None = None
    name_confidence: float = 0.0
    birth_place: str | None = None
    birth_date: date | None = None
    birth_confidence: float = 0.0
    sex: str | None = None  # "L" or "P"
    seconds: float = 0.0  # CPU seconds the reading took

    def trusted_nik(self, today: date) -> str | None:
        """The NIK if it can be shown to the applicant as read: confident, structurally valid, and
        agreeing with the birth date (and the sex, when read) printed on the same card."""
        if self.nik is None or self.birth_date is None or self.nik_confidence < NIK_MIN_CONFIDENCE:
            return None
        try:
            check_nik_against(parse_nik(self.nik, today), self.birth_date, self.sex)
        except (IdentityError, ValueError):
            return None
        return self.nik

    def as_dict(self) -> dict:
        values = asdict(self)
        values["birth_date"] = self.birth_date.isoformat() if self.birth_date else None
        return values

    @classmethod
    def from_dict(cls, values: object) -> CardReading | None:
        """Back from ``as_dict`` (stored beside the photo); None for anything malformed."""
        if not isinstance(values, dict) or not isinstance(values.get("card_found"), bool):
            return None
        try:
            birth = values.get("birth_date")
            return cls(card_found=values["card_found"], nik=_str(values.get("nik")),
                       nik_confidence=float(values.get("nik_confidence") or 0), name=_str(values.get("name")),
                       name_confidence=float(values.get("name_confidence") or 0),
                       birth_place=_str(values.get("birth_place")),
                       birth_date=date.fromisoformat(birth) if isinstance(birth, str) else None,
                       birth_confidence=float(values.get("birth_confidence") or 0),
                       sex=values.get("sex") if values.get("sex") in ("L", "P") else None,
                       seconds=float(values.get("seconds") or 0))
        except (TypeError, ValueError):
            return None

    def __repr__(self) -> str:
        shown = mask_nik(self.nik) if self.nik else None
        return (f"CardReading(card_found={self.card_found}, nik={shown!r}, nik_confidence={self.nik_confidence:.0f}, "
                f"name={'…' if self.name else None}, birth_date={'…' if self.birth_date else None}, "
                f"sex={'…' if self.sex else None})")

    __str__ = __repr__


NOT_A_CARD = CardReading(card_found=False)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# --- availability ------------------------------------------------------------------------------------

def _settings():
    # Read where used, not at import: the identity checks stay importable without the runtime.
    from antrean.runtime.settings import current

    return current().reading


def enabled() -> bool:
    return _settings().enabled


def tessdata_dir() -> Path | None:
    """The folder holding ind.traineddata: ANTREAN_TESSDATA, else Debian's (and other usual) places."""
    configured = _settings().tessdata
    for folder in [configured] if configured else [Path(f) for f in TESSDATA_DIRS]:
        if (folder / f"{LANGUAGE}.traineddata").is_file():
            return folder
    return None


@functools.cache
def status() -> tuple[bool, str]:
    """(available, why): whether e-KTP photos are read in this process, in words for the log."""
    if not enabled():
        return False, f"e-KTP reading is off ({ENABLED_ENV}=0): applicants are asked for their NIK"
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return False, "e-KTP reading is off: the tesserocr package is not installed; applicants are asked for their NIK"
    folder = tessdata_dir()
    if folder is None:
        return False, ("e-KTP reading is off: Tesseract's Indonesian data (ind.traineddata, Debian package "
                       "tesseract-ocr-ind) was not found; applicants are asked for their NIK")
    return True, f"e-KTP photos are read with Tesseract ({folder}/{LANGUAGE}.traineddata)"


_local = threading.local()


def reader() -> CardReader | None:
    """This thread's reader, or None when reading is unavailable (see ``status``). Tesseract's API
    object is not thread-safe, so each thread that reads has its own (in practice: one, the
    process's photo thread)."""
    if not status()[0]:
        return None
    existing = getattr(_local, "reader", None)
    if existing is None or existing.pid != os.getpid():
        existing = _local.reader = CardReader(tessdata_dir())
    return existing


def read_card(image: Image.Image) -> CardReading | None:
    """Read an upright photo with this thread's reader; None when reading is unavailable."""
    current = reader()
    return current.read(image) if current is not None else None


# --- the reader ----------------------------------------------------------------------------------------

class CardReader:
    def __init__(self, folder: Path | None):
        import tesserocr

        self.pid = os.getpid()
        self._psm = tesserocr.PSM.SINGLE_LINE
        # Dictionaries only hurt here: names, numbers and codes are not Indonesian words.
        # No second pass on inverted text either (white on black does not occur on the card).
        self.api = tesserocr.PyTessBaseAPI(path=f"{folder}/", lang=LANGUAGE, psm=self._psm,
                                           oem=tesserocr.OEM.LSTM_ONLY,
                                           variables={"load_system_dawg": "0", "load_freq_dawg": "0",
                                                      "tessedit_do_invert": "0"})

    def read(self, image: Image.Image) -> CardReading:
        started = time.process_time()
        corners = find_card(image)
        if corners is None:
            return NOT_A_CARD
        band = straighten(image, corners)
        ink = threshold(band)
        lines = find_lines(ink)
        values: dict[str, tuple[str, float]] = {}
        self.api.SetImage(ink)
        spans = {}
        for field, (top, bottom) in lines.items():
            left = value_start(ink, field, top, bottom)
            spans[field] = (left, value_end(ink, field, top, bottom, left))
            values[field] = self._read_line(field, spans[field][0], top, spans[field][1], bottom)
        reading = interpret(values)
        if reading.nik is not None:
            # A second look at the NIK, thresholded closer to the background (thicker strokes): a
            # digit misread in one image is rarely misread the same way in the other, and a NIK has
            # no check digit to catch it. (On the 114 photos of seeds 7 and 1 this second view let
            # one wrong NIK through where the unthresholded band let two, and none at all four.)
            self.api.SetImage(threshold(band, margin=SECOND_MARGIN))
            top, bottom = lines["nik"]
            again, _ = self._read_line("nik", spans["nik"][0], top, spans["nik"][1], bottom)
            if re.sub(r"\D", "", again) != reading.nik:
                reading = replace(reading, nik_confidence=0.0)
        return replace(reading, seconds=round(time.process_time() - started, 4))

    def _read_line(self, field: str, left: int, top: int, right: int, bottom: int) -> tuple[str, float]:
        """The line's text without stray marks (a colon's dot, a speck), and a confidence: the
        lowest of its characters' for the NIK (one wrong digit is a wrong NIK), their mean for
        the others. Tesseract's word confidences are not used: with a character whitelist the
        LSTM engine reports 0 for words whose every character it is sure of."""
        import tesserocr

        pad = max(2, (bottom - top) // 5)
        self.api.SetVariable("tessedit_char_whitelist", WHITELISTS[field])
        self.api.SetRectangle(max(0, left - pad), max(0, top - pad), right - left + 2 * pad, bottom - top + 2 * pad)
        if not self.api.Recognize(timeout=TIME_LIMIT_MS):
            return "", 0.0
        words: list[list[tuple[str, float]]] = []
        level, word_level = tesserocr.RIL.SYMBOL, tesserocr.RIL.WORD
        iterator = self.api.GetIterator()
        for symbol in tesserocr.iterate_level(iterator, level):
            try:
                character = symbol.GetUTF8Text(level) or ""
            except RuntimeError:  # tesserocr's way of saying "no text here"
                continue
            if not words or symbol.IsAtBeginningOf(word_level):
                words.append([])
            words[-1].append((character, symbol.Confidence(level)))
        kept = [word for word in words if any(ch.isalnum() for ch, _ in word)]
        if not kept:
            return "", 0.0
        text = " ".join("".join(ch for ch, _ in word) for word in kept)
        confidences = [confidence for word in kept for _, confidence in word]
        return text, float(min(confidences) if field == "nik" else sum(confidences) / len(confidences))


# --- geometry and pixels (pure functions, tested on their own) -----------------------------------------

def find_card(image: Image.Image) -> list[tuple[float, float]] | None:
    """The card's corners in the photo's pixels (top-left, top-right, bottom-right, bottom-left), or
    None when no card-like region covers at least a tenth of the photo."""
    import numpy as np
    from scipy import ndimage

    small = image.convert("RGB")
    small.thumbnail((FIND_SIDE, FIND_SIDE), Image.Resampling.BILINEAR)
    factor = image.width / small.width
    pixels = np.asarray(small, dtype=np.int16)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    bluish = (blue - red > 22) & (blue > 90) & (green > red)
    bluish = ndimage.binary_opening(bluish, iterations=1)
    labels, count = ndimage.label(bluish)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    biggest = int(np.argmax(sizes)) + 1
    region = ndimage.binary_fill_holes(ndimage.binary_closing(labels == biggest, iterations=3))
    if region.sum() < 0.1 * region.size:
        return None
    ys, xs = np.nonzero(region)
    xs = xs.astype(np.float64) + 0.5
    ys = ys.astype(np.float64) + 0.5
    corners = []
    for score in (-xs - ys, xs - ys, xs + ys, -xs + ys):
        i = int(np.argmax(score))
        corners.append((float(xs[i] * factor), float(ys[i] * factor)))
    width = _distance(corners[0], corners[1]) + _distance(corners[3], corners[2])
    height = _distance(corners[0], corners[3]) + _distance(corners[1], corners[2])
    # A card lying sideways (portrait) or a region that is no card at all is not read.
    if height == 0 or not 1.2 < width / height < 2.1:
        return None
    return corners


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5


def straighten(image: Image.Image, corners: list[tuple[float, float]]) -> Image.Image:
    """The fields' band of the card, upright, in the red channel, SCALE px per card unit."""
    left, top, right, bottom = BAND
    size = (round((right - left) * SCALE), round((bottom - top) * SCALE))
    unit_w, unit_h = CARD_UNITS
    # Output pixel -> card units -> photo pixel: a perspective map fixed by the four corners.
    card_to_photo = homography([(0, 0), (unit_w, 0), (unit_w, unit_h), (0, unit_h)], corners)
    import numpy as np

    shift = np.array([[1 / SCALE, 0, left], [0, 1 / SCALE, top], [0, 0, 1]])
    matrix = card_to_photo @ shift
    matrix = matrix / matrix[2, 2]
    coefficients = tuple(matrix.ravel()[:8])
    channel = image.getchannel("R") if image.mode == "RGB" else image.convert("L")
    return channel.transform(size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR)


def homography(source: list[tuple[float, float]], target: list[tuple[float, float]]):
    """The 3x3 matrix (numpy) mapping each of four source points onto its target point."""
    import numpy as np

    rows, values = [], []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values.extend((u, v))
    h = np.linalg.solve(np.array(rows, dtype=float), np.array(values, dtype=float))
    return np.append(h, 1.0).reshape(3, 3)


def threshold(band: Image.Image, margin: int = INK_MARGIN) -> Image.Image:
    """Ink black on white: stretched, then darker than the local mean by a margin."""
    import numpy as np

    stretched = ImageOps.autocontrast(band, cutoff=1)
    local = np.asarray(stretched.filter(ImageFilter.BoxBlur(round(12 * SCALE))), dtype=np.int16)
    pixels = np.asarray(stretched, dtype=np.int16)
    ink = pixels < local - margin
    return Image.fromarray(np.where(ink, 0, 255).astype(np.uint8))


def _ink(image: Image.Image):
    import numpy as np

    return np.asarray(image) < 128


def find_lines(ink_image: Image.Image) -> dict[str, tuple[int, int]]:
    """Each field's line as (top, bottom) pixel rows of the band: the run of inked rows nearest the
    expected centre, or the expected position when none is near."""
    ink = _ink(ink_image)
    rows = ink[:, : round(560 * SCALE)].sum(axis=1)
    inked = rows > max(3, 0.01 * ink.shape[1])
    runs, start = [], None
    for y, on in enumerate([*inked, False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            if y - start >= 4 * SCALE:
                runs.append((start, y))
            start = None
    lines = {}
    band_top = BAND[1]
    for field, centre in LINE_CENTRES.items():
        expected = (centre - band_top) * SCALE
        near = [r for r in runs if abs((r[0] + r[1]) / 2 - expected) <= LINE_TOLERANCE * SCALE]
        half = (20.0 if field == "nik" else 12.0) * SCALE
        if near:
            top, bottom = min(near, key=lambda r: abs((r[0] + r[1]) / 2 - expected))
            # A run much taller than a line is two lines touching: keep the expected part.
            if bottom - top > 2.6 * half:
                top, bottom = int(expected - half), int(expected + half)
        else:
            top, bottom = int(expected - half), int(expected + half)
        lines[field] = (max(0, int(top)), min(ink.shape[0], int(bottom)))
    return lines


def value_start(ink_image: Image.Image, field: str, top: int, bottom: int) -> int:
    """The x where the field's value begins: right after the colon found near its expected column."""
    ink = _ink(ink_image)[top:bottom]
    columns = ink.sum(axis=0) > 0
    expected = COLON_X[field] * SCALE
    window = (int(expected - 22 * SCALE), int(expected + 22 * SCALE))
    height = max(1, bottom - top)
    best, start = None, None
    for x in range(max(0, window[0]), min(len(columns), window[1]) + 1):
        on = x < len(columns) and columns[x]
        if on and start is None:
            start = x
        elif not on and start is not None:
            width = x - start
            # A colon: a narrow blob, standing apart (white on both sides).
            if width <= 0.22 * height and (best is None or abs(start - expected) < abs(best[0] - expected)):
                best = (start, x)
            start = None
    if best is None:
        return int(expected + 6 * SCALE)
    return best[1] + 1


def value_end(ink_image: Image.Image, field: str, top: int, bottom: int, left: int) -> int:
    """Where the field's value ends: after its last ink, or for the sex, at the first wide gap
    (the blood group follows on the same line). Less blank and less text to read costs less."""
    ink = _ink(ink_image)[top:bottom, left:]
    columns = ink.sum(axis=0) > 0
    inked = columns.nonzero()[0]
    if inked.size == 0:
        return ink_image.width
    end = int(inked[-1]) + 1
    if field == "sex":
        wide = max(4, round(1.2 * (bottom - top)))
        gaps = [(int(a), int(b)) for a, b in itertools.pairwise(inked) if b - a > wide]
        if gaps:
            end = gaps[0][0] + 1
    return min(ink_image.width, left + end + round(4 * SCALE))


def interpret(values: dict[str, tuple[str, float]]) -> CardReading:
    """Raw line texts and confidences → checked values (pure; tested with texts alone)."""
    nik_text, nik_confidence = values.get("nik", ("", 0.0))
    digits = re.sub(r"\D", "", nik_text)
    nik = digits if len(digits) == 16 else None

    name_text, name_confidence = values.get("name", ("", 0.0))
    name = " ".join(re.sub(r"[^A-Z.'\- ]", " ", name_text.upper()).split()).strip(" .-'") or None
    if name_confidence < FIELD_MIN_CONFIDENCE or (name and sum(ch.isalpha() for ch in name) < 2):
        name = None

    birth_text, birth_confidence = values.get("birth", ("", 0.0))
    place, birth = parse_place_and_date(birth_text)
    if birth_confidence < FIELD_MIN_CONFIDENCE:
        place, birth = None, None

    sex_text, _ = values.get("sex", ("", 0.0))
    return CardReading(card_found=True, nik=nik, nik_confidence=nik_confidence if nik else 0.0, name=name,
                       name_confidence=name_confidence if name else 0.0, birth_place=place, birth_date=birth,
                       birth_confidence=birth_confidence if birth else 0.0, sex=sex_from(sex_text))


def parse_place_and_date(text: str) -> tuple[str | None, date | None]:
    """"BATAM, 17-08-1990" → ("BATAM", 1990-08-17); letters misread in the date part are mapped
    back to the digits they resemble."""
    head, _, tail = text.rpartition(",")
    date_part = (tail or text).upper().translate(_DIGIT_LOOKALIKES)
    match = _DATE.search(date_part)
    birth = None
    if match:
        try:
            birth = date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
        except ValueError:
            birth = None
    place = " ".join(re.sub(r"[^A-Z ]", " ", head.upper()).split()) or None
    return place, birth


def sex_from(text: str) -> str | None:
    """"LAKI-LAKI" → "L", "PEREMPUAN" → "P", tolerant of a misread letter or two."""
    words = re.findall(r"[A-Z]+", text.upper())
    if not words:
        return None
    first = words[0]
    male = difflib.SequenceMatcher(None, first[:4], "LAKI").ratio()
    female = difflib.SequenceMatcher(None, first[:9], "PEREMPUAN").ratio()
    if max(male, female) < 0.7 or male == female:
        return None
    return "L" if male > female else "P"
