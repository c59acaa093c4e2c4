from __future__ import annotations

import dataclasses
import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageFile, ImageFilter, ImageStat

from antrean.media import photos
from antrean.media.photos import TIPS, PhotoCheck, check_id_photo
from tests.media.images import blurred, card, encode, png_with_header_size, scaled

ALL_CODES = set(TIPS)


@pytest.fixture
def no_pixel_decoding(monkeypatch):
    """Records (and blocks) every attempt to decode pixels; the test asserts the list stays empty.
    Recording matters: the check catches exceptions from Pillow, so a raise alone could be hidden."""
    decoded = []

    def refuse(self):
        decoded.append(self.size)
        raise OSError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    return decoded


@pytest.mark.parametrize(("fmt", "options"), [("JPEG", {}), ("PNG", {}), ("WEBP", {"quality": 90})])
def test_a_sharp_well_lit_card_photo_is_accepted_as_jpeg_png_and_webp(fmt, options):
    check = check_id_photo(encode(card(), fmt, **options))

    assert check == dataclasses.replace(check, ok=True, problem=None, tip_id=None, width=1600, height=1200, format=fmt)
    assert 100 < check.brightness < 200
    assert check.highlights > 150
    assert check.contrast > 30
    assert check.clipped_white < 0.01
    assert check.sharpness > 4 * photos.SHARPNESS_MIN


def test_the_check_result_cannot_be_changed_after_the_fact():
    check = check_id_photo(encode(card()))

    with pytest.raises(dataclasses.FrozenInstanceError):
        check.ok = False  # type: ignore[misc]


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_gif_bmp_and_tiff_are_refused_as_unsupported_formats(fmt):
    check = check_id_photo(encode(card((1000, 700)), fmt))  # small enough to stay under 5 MB uncompressed

    assert (check.ok, check.problem, check.tip_id) == (False, "unsupported_format", TIPS["unsupported_format"])
    assert check.format is None


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"],
    ids=["pdf", "heic"],
)
def test_pdf_and_heic_files_are_recognised_as_unsupported_not_as_garbage(data):
    assert check_id_photo(data).problem == "unsupported_format"


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, ini foto KTP saya", random.Random(7).randbytes(20_000), b"\xff\xd8\xff" + b"\x00" * 100],
    ids=["empty", "text", "random", "jpeg-magic-then-zeros"],
)
def test_bytes_that_are_no_image_are_refused_as_not_an_image(data):
    check = check_id_photo(data)

    assert (check.ok, check.problem, check.tip_id) == (False, "not_an_image", TIPS["not_an_image"])
    assert (check.width, check.height, check.brightness) == (0, 0, None)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_truncated_photo_is_refused_as_not_an_image_without_raising(fmt):
    data = encode(card(), fmt)

    check = check_id_photo(data[: len(data) // 2])

    assert (check.ok, check.problem) == (False, "not_an_image")


def test_a_png_with_a_damaged_chunk_is_refused_by_verification():
    data = bytearray(encode(card(), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 100] ^= 0xFF  # the chunk's CRC no longer matches

    assert check_id_photo(bytes(data)).problem == "not_an_image"


def test_more_than_five_megabytes_is_refused_before_anything_is_parsed(monkeypatch):
    data = encode(card())
    monkeypatch.setattr(photos.Image, "open", lambda *a, **k: pytest.fail("the file was parsed"))

    check = check_id_photo(data + b"\x00" * (photos.MAX_BYTES + 1 - len(data)))

    assert (check.ok, check.problem, check.tip_id) == (False, "too_large", TIPS["too_large"])
    assert check.tip_id == "Ukuran foto terlalu besar (maks. 5 MB). Kirim ulang sebagai foto biasa, bukan dokumen."


def test_exactly_five_megabytes_is_still_accepted():
    data = encode(card())
    padded = data + b"\x00" * (photos.MAX_BYTES - len(data))  # bytes after the JPEG's end marker

    assert len(padded) == photos.MAX_BYTES
    assert check_id_photo(padded).ok


def test_a_header_claiming_fifty_megapixels_is_refused_without_decoding_pixels(no_pixel_decoding):
    check = check_id_photo(png_with_header_size(8660, 5780))

    assert (check.ok, check.problem, check.tip_id) == (False, "too_many_pixels", TIPS["too_many_pixels"])
    assert (check.width, check.height, check.format) == (8660, 5780, "PNG")
    assert no_pixel_decoding == []


def test_a_real_solid_colour_png_of_48_megapixels_is_refused_without_decoding_pixels(no_pixel_decoding):
    data = encode(Image.new("L", (8000, 6000), 200), "PNG")
    assert len(data) < photos.MAX_BYTES  # a solid colour compresses to almost nothing

    assert check_id_photo(data).problem == "too_many_pixels"
    assert no_pixel_decoding == []


def test_a_header_beyond_pillows_own_bomb_limit_is_too_many_pixels_too():
    # 400 MP: Pillow itself raises DecompressionBombError while opening.
    assert check_id_photo(png_with_header_size(20_000, 20_000)).problem == "too_many_pixels"


def test_a_small_png_of_the_reviews_39_9_megapixels_is_refused_politely_without_decoding(no_pixel_decoding):
    # The outside review's file: 37 KB of PNG, 39.9 MP, which took a worker's memory up by 125 MB.
    data = encode(Image.new("RGB", (7300, 5460), (200, 210, 225)), "PNG")
    assert len(data) < 200_000

    check = check_id_photo(data)

    assert (check.ok, check.problem, (check.width, check.height)) == (False, "too_many_pixels", (7300, 5460))
    assert check.tip_id.startswith("Maaf, resolusi foto terlalu besar. Mohon kirim ulang sebagai foto biasa")
    assert no_pixel_decoding == []


def test_the_pixel_limit_admits_every_default_phone_photo_and_whatsapp_hd_and_nothing_much_larger():
    for width, height in [(4000, 3000), (4032, 3024), (4080, 3072), (4096, 3072), (4608, 3456), (3456, 4608)]:
        # The header is allowed; the pixel data (an 8x8 image's) then fails to decode.
        assert check_id_photo(png_with_header_size(width, height)).problem == "not_an_image", (width, height)
    assert photos.MAX_PIXELS == 16_000_000
    assert check_id_photo(png_with_header_size(4000, 4000)).problem == "not_an_image"  # exactly the limit
    for width, height in [(4001, 4000), (5712, 4284), (8000, 6000)]:  # just over; 24 MP; 48 MP
        assert check_id_photo(png_with_header_size(width, height)).problem == "too_many_pixels", (width, height)


def test_an_exif_rotated_portrait_photo_is_measured_after_rotation():
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored sideways; shown rotated 90 degrees clockwise
    data = encode(card((1600, 1200)), exif=exif)

    check = check_id_photo(data)

    assert check.ok
    assert (check.width, check.height) == (1200, 1600)


def test_a_card_photographed_upright_counts_as_large_enough():
    check = check_id_photo(encode(card((450, 700), card_frac=0.95)))

    assert check.problem != "too_small"
    assert (check.width, check.height) == (450, 700)


@pytest.mark.parametrize("size", [(639, 480), (1024, 399), (399, 1024), (480, 639)])
def test_a_photo_below_640_by_400_is_too_small(size):
    check = check_id_photo(encode(card(size)))

    assert (check.ok, check.problem, check.tip_id) == (False, "too_small", TIPS["too_small"])
    assert (check.width, check.height) == size


def test_a_too_small_photo_reports_its_size_after_exif_rotation_without_decoding(no_pixel_decoding):
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 8
    check = check_id_photo(encode(card((630, 420)), exif=exif))

    assert (check.problem, check.width, check.height) == ("too_small", 420, 630)
    assert no_pixel_decoding == []


def test_a_photo_taken_in_the_dark_is_too_dark():
    check = check_id_photo(encode(scaled(card(), 0.15)))

    assert (check.ok, check.problem) == (False, "too_dark")
    assert check.tip_id == "Foto terlalu gelap, coba di tempat yang lebih terang."
    assert check.brightness < photos.DARK_MEAN
    assert check.highlights < photos.DARK_HIGHLIGHTS


def test_a_dim_but_legible_photo_is_not_too_dark():
    assert check_id_photo(encode(scaled(card(), 0.5))).ok


def test_a_bright_card_on_a_black_table_is_not_too_dark():
    check = check_id_photo(encode(card(card_frac=0.45, table=(20, 18, 16))))

    assert check.ok
    assert check.brightness < photos.DARK_MEAN  # dark on average, yet the card itself is well lit


def test_a_photo_blown_out_to_mostly_white_is_too_bright():
    check = check_id_photo(encode(scaled(card(), 3.5)))

    assert (check.ok, check.problem) == (False, "too_bright")
    assert check.tip_id == "Foto terlalu terang atau silau; hindari lampu kilat dan pantulan cahaya."
    assert check.brightness > photos.BRIGHT_MEAN
    assert check.clipped_white > 0.5


def test_a_glare_spot_over_most_of_the_frame_is_too_bright_even_if_the_mean_is_moderate():
    image = card(table=(10, 10, 10))
    image.paste((255, 255, 255), (0, 0, 1600, 900))  # 75 % of the frame pure white

    check = check_id_photo(encode(image))

    assert check.problem == "too_bright"
    assert check.brightness < photos.BRIGHT_MEAN
    assert check.clipped_white > photos.BRIGHT_CLIPPED_SHARE


def test_a_card_on_a_white_table_is_not_too_bright():
    assert check_id_photo(encode(card(card_frac=0.45, table=(225, 225, 222)))).ok


@pytest.mark.parametrize("radius", [4, 5, 6])
def test_a_blurred_photo_is_blurry(radius):
    check = check_id_photo(encode(blurred(card(), radius)))

    assert (check.ok, check.problem) == (False, "blurry")
    assert check.tip_id == "Foto kurang tajam; pegang HP dengan stabil dan pastikan tulisan di e-KTP terbaca."
    assert check.sharpness < photos.SHARPNESS_MIN / 2


def test_sensor_noise_does_not_make_a_blurred_photo_pass_as_sharp():
    noise = Image.merge("RGB", [Image.effect_noise((1600, 1200), 6)] * 3)
    noisy = Image.blend(blurred(card(), 5), noise, 0.1)

    assert check_id_photo(encode(noisy)).problem == "blurry"


@pytest.mark.parametrize("size", [(800, 600), (1600, 1200), (3200, 2400)])
def test_sharpness_does_not_depend_on_the_camera_resolution(size):
    check = check_id_photo(encode(card(size)))

    assert check.ok
    assert 1500 < check.sharpness < 3000


@pytest.mark.parametrize("size", [(1000, 633), (640, 400), (9, 7), (1, 12)])
def test_the_fast_median_filter_gives_exactly_pillows_pixels(size):
    import numpy as np

    pixels = np.random.default_rng(sum(size)).integers(0, 256, size[::-1], dtype=np.uint8)
    expected = np.asarray(Image.fromarray(pixels).filter(ImageFilter.MedianFilter(3)))

    assert (photos._median3(pixels) == expected).all()


@pytest.mark.parametrize("size", [(1000, 633), (640, 400), (9, 7), (3, 3)])
def test_the_fast_laplacian_gives_exactly_pillows_pixels(size):
    import numpy as np

    pixels = np.random.default_rng(sum(size)).integers(0, 256, size[::-1], dtype=np.uint8)
    expected = np.asarray(Image.fromarray(pixels).filter(photos._LAPLACIAN))

    assert (photos._laplacian(pixels) == expected).all()


def _sharpness_with_pillow_only(gray: Image.Image) -> float:
    """The measurement as first written (Pillow filters, one ImageStat per tile): the reference the
    faster numpy version must agree with, so the thresholds measured with it still hold."""
    edges = gray.filter(ImageFilter.MedianFilter(3)).filter(photos._LAPLACIAN)
    grid = photos._SHARPNESS_GRID
    tile_w, tile_h = max(1, edges.width // grid), max(1, edges.height // grid)
    variances = sorted((ImageStat.Stat(edges.crop((x * tile_w, y * tile_h, (x + 1) * tile_w, (y + 1) * tile_h))).var[0]
                        for x in range(grid) for y in range(grid)), reverse=True)
    top = variances[: max(1, round(len(variances) * photos._SHARPNESS_TOP_SHARE))]
    return round(sum(top) / len(top), 1)


@pytest.mark.parametrize("photo", ["sharp", "blurred", "noisy", "small"])
def test_the_sharpness_score_is_the_one_the_thresholds_were_measured_with(photo):
    image = {"sharp": lambda: card(), "blurred": lambda: blurred(card(), 3), "small": lambda: card((800, 600)),
             "noisy": lambda: Image.blend(card(), Image.merge("RGB", [Image.effect_noise((1600, 1200), 14)] * 3), 0.3),
             }[photo]()
    gray = photos._measuring_copy(image)

    assert photos._sharpness(gray) == pytest.approx(_sharpness_with_pillow_only(gray), abs=0.1)


def test_a_transparent_png_is_measured_over_white_not_black():
    # Transparent pixels are usually stored as (0, 0, 0, 0): black once the alpha is dropped.
    image = Image.new("RGBA", (1600, 1200), (0, 0, 0, 0))
    image.paste(card().crop((160, 160, 1440, 1040)), (160, 160))  # opaque card, transparent rest

    check = check_id_photo(encode(image, "PNG"))

    assert check.ok
    assert check.clipped_black < 0.01


def test_a_16_bit_greyscale_png_is_scaled_rather_than_clipped_to_white():
    data = encode(card().convert("L").point(lambda value: value * 257, "I").convert("I;16"), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"

    check = check_id_photo(data)

    assert check.ok
    assert 100 < check.brightness < 200


def test_an_accepted_photo_has_no_tip_and_every_refusal_has_its_own_indonesian_tip():
    assert check_id_photo(encode(card())).tip_id is None
    assert len(set(TIPS.values())) == len(TIPS)
    assert all(("foto" in tip.lower()) or ("file" in tip.lower()) for tip in TIPS.values())


def _mutations(seed_data: bytes):
    return st.lists(
        st.tuples(st.integers(0, len(seed_data) - 1), st.integers(0, 255)), min_size=1, max_size=20
    ).map(lambda edits: _apply(seed_data, edits))


def _apply(data: bytes, edits) -> bytes:
    mutated = bytearray(data)
    for position, value in edits:
        mutated[position] = value
    return bytes(mutated)


_SMALL = card((700, 450))
_SEEDS = [encode(_SMALL, "JPEG"), encode(_SMALL, "PNG"), encode(_SMALL, "WEBP")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2000), *(_mutations(seed) for seed in _SEEDS)))
def test_damaged_or_arbitrary_bytes_never_raise_and_always_give_a_known_code(data):
    check = check_id_photo(data)

    assert isinstance(check, PhotoCheck)
    assert check.ok or check.problem in ALL_CODES
    assert check.ok == (check.problem is None) == (check.tip_id is None)
