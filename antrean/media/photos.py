"""Checks an applicant's e-KTP / birth-certificate photo before it is kept, so a bad photo is caught
while the applicant is still in the chat, with a tip in Indonesian on how to retake it.

The checks run in a fixed order and stop at the first problem, because a later measurement means
nothing once an earlier one failed (a blur score of a black photo, say):

1. ``too_large``: more than 5 MB, refused before any parsing.
2. ``not_an_image`` / ``unsupported_format``: only JPEG, PNG and WebP are parsed at all; other
   formats are recognised by their magic bytes alone, so hostile input never reaches the parsers of
   formats we do not accept.
3. ``too_many_pixels``: more than 16 megapixels according to the header, before any pixel is decoded.
4. ``too_small``: the longer side under 640 px or the shorter under 400 px.
5. ``too_dark``, ``too_bright``, ``blurry``: measured on a greyscale copy at most 1000 px on its
   longer side (see the thresholds below).

Thresholds were set on synthetic e-KTP-like photos (a light-blue card with a portrait and lines of
text 2.3-4 % of the card's width high, on a wooden-table background, saved as JPEG quality 75 as
WhatsApp does), at 800x600, 1600x1200, 1200x1600 and 4000x3000, with the card 30-90 % of the frame
width, each plain, with sensor-like Gaussian noise (sigma 6 and 14), blurred (GaussianBlur radius
2-6), darkened and brightened. The numbers quoted next to each threshold come from that experiment."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageFilter, ImageOps, ImageStat

MAX_BYTES = 5 * 1024 * 1024
# What a phone photo of a card needs: phones save 12-16 MP by default (4000x3000, 4032x3024,
# 4080x3072; 16 MP sensors 4608x3456 = 15.9 MP; their 24-200 MP modes are opt-in or, like the
# iPhone's 24 MP default, scaled down by WhatsApp when sent as a photo), WhatsApp's "HD" photos stay
# within 4096 px (4096x3072 = 12.6 MP), and of all that the check measures a 1000 px copy and the
# store keeps at most 3000 px (STORE_MAX_SIDE). A check's memory grows with the pixels (peak RSS
# measured: 12 MP JPEG +92 MB, 15.9 MP +122 MB, a 39.9 MP PNG of 126 KB +304 MB), so the limit is
# the largest ordinary photo and no more; a larger file is a document-mode original, a scan, or a
# decompression bomb (a few kilobytes of PNG that inflate to gigabytes of pixels), and its sender
# is asked for a normal photo.
MAX_PIXELS = 16_000_000
# Below 640x400 even a card filling the frame has its smallest text (the field values) under about
# 15 px high, which JPEG compression makes hard to read. The rule is on the longer/shorter side so
# a card photographed upright (portrait) passes too.
MIN_LONG_SIDE = 640
MIN_SHORT_SIDE = 400

# Measuring on a copy of fixed maximum size makes the thresholds independent of the camera's
# resolution and keeps the filters cheap; decoding the JPEG is most of the time a check takes.
MEASURE_SIDE = 1000

# Too dark: the mean luma is low AND even the brightest 1 % of the photo is dim. The second condition
# keeps a well-exposed card on a dark table (bright card, black surroundings) from being refused.
# Measured: darkened x0.15 the photos have mean 14-22 and 99th percentile 29-33; x0.3 (text barely
# separable from the card) mean 28-44, p99 59-65; x0.5 (dim but legible) mean 46-74, p99 98-106;
# a bright card on a near-black table mean 29-127 but p99 197-208. p99 < 90 splits x0.3 from x0.5.
DARK_MEAN = 50
DARK_HIGHLIGHTS = 90
# Too bright: washed out overall, or most of the frame blown out to pure white (flash glare, sun),
# where nothing can be read any more. Measured: brightened x3.5 ("mostly white") mean 241-249 and
# 49-72 % of pixels at >= 250; a well-exposed card on a white table mean 191-222 with nothing
# clipped; brightened x2.2, the card's light background clipped but its black text intact, mean
# 196-221 and at most 56 % clipped (a card filling the frame); a 70 % white haze mean 206-223.
# Mean 230 sits between 223 and 241; the clipped share 0.6 just above the 56 % of a legible photo.
BRIGHT_MEAN = 230
BRIGHT_CLIPPED_SHARE = 0.6
WHITE_CLIP_LEVEL = 250
BLACK_CLIP_LEVEL = 5

# Sharpness: variance of a Laplacian over the measuring copy, after a 3x3 median filter (which
# removes sensor noise but keeps the edges of letters), taken in the 10 % most detailed tiles of an
# 8x8 grid, because the card may fill only part of the frame and a plain table has no edges at all.
# Measured (for photos up to 1600 px, the size WhatsApp sends by default): sharp photos score
# 418-2330 (418 is a small card, 30 % of a portrait frame's width; a card filling the frame scores
# over 1900), noise does not change that by more than 10 %; blurred with radius 4-6 they score
# 27-74, with heavy noise (sigma 14) on top 90-270. 200 sits between 74 and 418 with a factor of
# 2-2.7 on both sides. Radius 2 on a 1600 px photo (42-246) is borderline, as it is to the eye.
# A 4000 px photo blurred by 4 px is only ~1 px blurred at 1000 px and scores 109-491: mostly
# accepted, which is right, since its text is readable at full size.
SHARPNESS_MIN = 200
_SHARPNESS_GRID = 8
_SHARPNESS_TOP_SHARE = 0.10
_LAPLACIAN = ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=1, offset=128)

TOO_LARGE = "too_large"
NOT_AN_IMAGE = "not_an_image"
UNSUPPORTED_FORMAT = "unsupported_format"
TOO_MANY_PIXELS = "too_many_pixels"
TOO_SMALL = "too_small"
TOO_DARK = "too_dark"
TOO_BRIGHT = "too_bright"
BLURRY = "blurry"

TIPS = {
    TOO_LARGE: "Ukuran foto terlalu besar (maks. 5 MB). Kirim ulang sebagai foto biasa, bukan dokumen.",
    NOT_AN_IMAGE: "Maaf, file tersebut tidak dapat dibuka sebagai foto. Mohon kirim ulang foto e-KTP Anda.",
    UNSUPPORTED_FORMAT: "Maaf, format file ini belum dapat kami terima. Mohon kirim sebagai foto biasa "
    "(JPG, PNG, atau WebP), bukan PDF atau dokumen.",
    TOO_MANY_PIXELS: "Maaf, resolusi foto terlalu besar. Mohon kirim ulang sebagai foto biasa, bukan dokumen.",
    TOO_SMALL: "Foto terlalu kecil untuk dibaca. Mohon foto ulang dari dekat sehingga e-KTP memenuhi layar.",
    TOO_DARK: "Foto terlalu gelap, coba di tempat yang lebih terang.",
    TOO_BRIGHT: "Foto terlalu terang atau silau; hindari lampu kilat dan pantulan cahaya.",
    BLURRY: "Foto kurang tajam; pegang HP dengan stabil dan pastikan tulisan di e-KTP terbaca.",
}

# Pillow format id -> the name we report. MPO is how Pillow reads the JPEGs of many Samsung and
# iPhone cameras (a JPEG with a multi-picture index); it is an ordinary JPEG to everyone else.
_ACCEPTED = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}
_PARSERS = ("JPEG", "PNG", "WEBP")
_UNSUPPORTED_MAGIC = (b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"%PDF", b"\x00\x00\x01\x00")
_UNSUPPORTED_FTYP = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")


@dataclass(frozen=True)
class PhotoCheck:
    ok: bool
    problem: str | None = None
    tip_id: str | None = None  # the tip in Indonesian, for the applicant
    width: int = 0  # after EXIF rotation; 0 when the photo could not be read
    height: int = 0
    format: str | None = None  # "JPEG", "PNG" or "WEBP"
    brightness: float | None = None  # mean luma, 0-255
    highlights: float | None = None  # 99th percentile of luma
    contrast: float | None = None  # standard deviation of luma
    clipped_white: float | None = None  # share of pixels at >= 250
    clipped_black: float | None = None  # share of pixels at <= 5
    sharpness: float | None = None  # see SHARPNESS_MIN


class PhotoRejected(ValueError):
    """The bytes cannot be decoded safely as an accepted photo; ``problem`` is the check code."""

    def __init__(self, problem: str, *, width: int = 0, height: int = 0, format: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.width = width
        self.height = height
        self.format = format


def check_id_photo(data: bytes) -> PhotoCheck:
    """Whether ``data`` is a usable photo of an identity document; never raises on bad input."""
    return inspect_id_photo(data)[0]


def inspect_id_photo(data: bytes) -> tuple[PhotoCheck, Image.Image | None]:
    """``check_id_photo``, also giving the decoded upright photo when it passed, so that storing
    it (``MediaStore.save_id_photo(..., decoded=)``) does not decode the file a second time."""
    try:
        image, fmt = _decode_upright(data)
    except PhotoRejected as rejected:
        return _refused(rejected.problem, width=rejected.width, height=rejected.height, format=rejected.format), None
    width, height = image.size
    try:
        gray = _measuring_copy(image)
    except Exception:  # an odd mode Pillow cannot convert: as unreadable as a broken file
        return _refused(NOT_AN_IMAGE, width=width, height=height, format=fmt), None

    measured = _exposure(gray)
    if measured["brightness"] < DARK_MEAN and measured["highlights"] < DARK_HIGHLIGHTS:
        return _refused(TOO_DARK, width=width, height=height, format=fmt, **measured), None
    if measured["brightness"] > BRIGHT_MEAN or measured["clipped_white"] > BRIGHT_CLIPPED_SHARE:
        return _refused(TOO_BRIGHT, width=width, height=height, format=fmt, **measured), None
    sharpness = _sharpness(gray)
    if sharpness < SHARPNESS_MIN:
        return _refused(BLURRY, width=width, height=height, format=fmt, sharpness=sharpness, **measured), None
    return PhotoCheck(ok=True, width=width, height=height, format=fmt, sharpness=sharpness, **measured), image


def upright_rgb(data: bytes) -> Image.Image:
    """The photo decoded with the same guards as ``check_id_photo``, turned upright per its EXIF
    orientation and flattened to RGB (transparency over white). Raises ``PhotoRejected``."""
    image, fmt = _decode_upright(data)
    return flattened_rgb(image, fmt)


def flattened_rgb(image: Image.Image, fmt: str | None = None) -> Image.Image:
    """A decoded photo as RGB (transparency over white), always a new image. Raises ``PhotoRejected``."""
    try:
        return _flatten(image)
    except Exception as error:
        raise PhotoRejected(NOT_AN_IMAGE, width=image.width, height=image.height, format=fmt) from error


def _refused(problem: str, **fields) -> PhotoCheck:
    return PhotoCheck(ok=False, problem=problem, tip_id=TIPS[problem], **fields)


def _decode_upright(data: bytes) -> tuple[Image.Image, str]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PhotoRejected(NOT_AN_IMAGE)
    if len(data) > MAX_BYTES:
        raise PhotoRejected(TOO_LARGE)
    data = bytes(data)
    # Pillow's own bomb limit (Image.MAX_IMAGE_PIXELS, ~89 MP: a warning, an error above twice that)
    # is process-wide and shared with the rest of Antrean, so it is left alone; our stricter limit
    # is applied below from the header. Its DecompressionBombError (a header claiming > 179 MP) is
    # just another way of saying too many pixels. Its warning (89-179 MP) is allowed to reach the
    # log: such an upload is refused anyway and is worth noticing.
    try:
        # verify() checks a file's structure (PNG chunk CRCs) without decoding pixels, and leaves
        # the image unusable, hence the second open.
        with Image.open(io.BytesIO(data), formats=_PARSERS) as probe:
            probe.verify()
        image = Image.open(io.BytesIO(data), formats=_PARSERS)
    except Image.DecompressionBombError:
        raise PhotoRejected(TOO_MANY_PIXELS) from None
    except Exception:  # malformed input from the internet: Pillow's parsers raise many types
        raise PhotoRejected(_sniff(data)) from None

    fmt = _ACCEPTED.get(image.format or "")
    if fmt is None:
        raise PhotoRejected(UNSUPPORTED_FORMAT)
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise PhotoRejected(TOO_MANY_PIXELS, width=width, height=height, format=fmt)
    # Rotation does not change which side is longer, so this too is decided before decoding.
    if max(width, height) < MIN_LONG_SIDE or min(width, height) < MIN_SHORT_SIDE:
        width, height = _header_upright_size(image)
        raise PhotoRejected(TOO_SMALL, width=width, height=height, format=fmt)
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except Exception:  # truncated or corrupt pixel data
        raise PhotoRejected(NOT_AN_IMAGE, width=width, height=height, format=fmt) from None
    return upright, fmt


def _header_upright_size(image: Image.Image) -> tuple[int, int]:
    """The size after EXIF rotation, read without decoding pixels where the EXIF is in the header."""
    width, height = image.size
    if "exif" not in image.info:  # PNG's getexif() would decode the whole image to look further
        return width, height
    try:
        orientation = image.getexif().get(0x0112)
    except Exception:
        return width, height
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _sniff(data: bytes) -> str:
    """For bytes none of our parsers accepted: a known other format, or not an image at all."""
    if data.startswith(_UNSUPPORTED_MAGIC) or (data[4:8] == b"ftyp" and data[8:12] in _UNSUPPORTED_FTYP):
        return UNSUPPORTED_FORMAT
    return NOT_AN_IMAGE


def _flatten(image: Image.Image) -> Image.Image:
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        # 16-bit greyscale PNG: scale to 8 bits instead of clipping everything above 255 to white.
        image = image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _measuring_copy(image: Image.Image) -> Image.Image:
    # An RGB photo (nearly all of them) goes straight to grey: flattening it would only copy it.
    gray = image.convert("L") if image.mode == "RGB" else _flatten(image).convert("L")
    gray.thumbnail((MEASURE_SIDE, MEASURE_SIDE), Image.Resampling.LANCZOS)
    return gray


def _exposure(gray: Image.Image) -> dict[str, float]:
    histogram = gray.histogram()
    total = sum(histogram)
    stat = ImageStat.Stat(gray)
    return {
        "brightness": round(stat.mean[0], 1),
        "highlights": float(_percentile(histogram, total, 0.99)),
        "contrast": round(stat.stddev[0], 1),
        "clipped_white": round(sum(histogram[WHITE_CLIP_LEVEL:]) / total, 3),
        "clipped_black": round(sum(histogram[: BLACK_CLIP_LEVEL + 1]) / total, 3),
    }


def _percentile(histogram: list[int], total: int, share: float) -> int:
    running = 0
    for level, count in enumerate(histogram):
        running += count
        if running >= share * total:
            return level
    return len(histogram) - 1


def _sharpness(gray: Image.Image) -> float:
    # numpy (Rasa's dependency, already in every process that checks photos) is imported here and
    # not at the top, so that loading this package stays as light as the test below it requires.
    import numpy as np

    edges = _laplacian(_median3(np.asarray(gray))).astype(np.float64)
    grid = _SHARPNESS_GRID
    tile_h, tile_w = max(1, edges.shape[0] // grid), max(1, edges.shape[1] // grid)
    # One variance per tile of the grid, all at once (population variance, as ImageStat gives).
    tiles = edges[: tile_h * grid, : tile_w * grid].reshape(grid, tile_h, grid, tile_w)
    variances = np.sort(tiles.var(axis=(1, 3)).ravel())[::-1]
    top = variances[: max(1, round(variances.size * _SHARPNESS_TOP_SHARE))]
    return round(float(top.mean()), 1)


# Devillard's 19-exchange network for the median of nine values ("Fast median search", 1998).
_MEDIAN9_EXCHANGES = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8),
                      (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def _laplacian(pixels):
    """Pillow's ``filter(_LAPLACIAN)`` on a numpy array, pixel for pixel: the 4-neighbour Laplacian
    plus 128, clipped to 0-255, with the border pixels left as they were (as Pillow leaves them)."""
    import numpy as np

    wide = pixels.astype(np.int16)
    edges = pixels.copy()
    inner = wide[:-2, 1:-1] + wide[2:, 1:-1] + wide[1:-1, :-2] + wide[1:-1, 2:] - 4 * wide[1:-1, 1:-1] + 128
    edges[1:-1, 1:-1] = np.clip(inner, 0, 255)
    return edges


def _median3(pixels):
    """The same pixels as Pillow's ``MedianFilter(3)`` (edges repeated outward), computed as a
    sorting network over the nine shifted copies of the image (a numpy array): ~7x faster than
    Pillow's generic rank filter, which was the largest part of a photo check."""
    import numpy as np

    padded = np.pad(pixels, 1, mode="edge")
    height, width = pixels.shape
    values = [padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3)]
    for low, high in _MEDIAN9_EXCHANGES:
        values[low], values[high] = np.minimum(values[low], values[high]), np.maximum(values[low], values[high])
    return np.ascontiguousarray(values[4])
