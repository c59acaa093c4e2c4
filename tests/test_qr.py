"""No QR decoder is installed, so the ticket is checked structurally: every module of the image must
match the matrix that ``qrcode`` computes for the same data at error-correction level M. The format
information in that matrix encodes the level, so a wrong level or wrong data fails the comparison."""

from __future__ import annotations

import io

import pytest
import qrcode
import qrcode.constants
from PIL import Image, ImageFont

from antrean.media.ticket import _drawable, booking_qr_png

CODE = "ABCD-EFGH-JKMN"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def expected_matrix(data: str, level: int = qrcode.constants.ERROR_CORRECT_M) -> list[list[bool]]:
    qr = qrcode.QRCode(error_correction=level, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.get_matrix()


def sampled_modules(image: Image.Image, modules: int) -> list[list[bool]]:
    """Dark/light at the centre of each module of the square QR at the top of the image."""
    box = image.width / modules
    gray = image.convert("L")
    return [
        [gray.getpixel((int((column + 0.5) * box), int((row + 0.5) * box))) < 128 for column in range(modules)]
        for row in range(modules)
    ]


def open_png(data: bytes) -> Image.Image:
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image


def test_the_ticket_is_a_png_whose_modules_match_the_qr_for_the_code():
    image = open_png(booking_qr_png(CODE))
    matrix = expected_matrix(CODE)

    assert image.mode == "L"
    assert image.width == image.height
    assert image.width % len(matrix) == 0
    assert image.width // len(matrix) >= 8  # large enough for a door scanner reading a phone screen
    assert sampled_modules(image, len(matrix)) == matrix


def test_every_pixel_of_a_module_has_the_module_colour():
    image = open_png(booking_qr_png(CODE))
    matrix = expected_matrix(CODE)
    box = image.width // len(matrix)
    pixels = image.load()

    for row, modules in enumerate(matrix):
        for column, dark in enumerate(modules):
            corners = [
                pixels[column * box + dx, row * box + dy] for dx in (0, box - 1) for dy in (0, box - 1)
            ]
            assert all((value == 0) == dark for value in corners), (row, column)


def test_the_structural_check_would_catch_other_data_or_another_error_correction_level():
    image = open_png(booking_qr_png(CODE))
    matrix = expected_matrix(CODE)

    other_data = expected_matrix("ABCD-EFGH-JKMP")
    other_level = expected_matrix(CODE, qrcode.constants.ERROR_CORRECT_L)
    assert len(other_data) == len(other_level) == len(matrix)
    assert sampled_modules(image, len(matrix)) != other_data
    assert sampled_modules(image, len(matrix)) != other_level


def test_captions_go_below_an_unchanged_qr():
    plain = open_png(booking_qr_png(CODE))
    caption = ["Kode booking: " + CODE, "Kantor Imigrasi Batam", "Senin, 2 Desember 2026"]
    captioned = open_png(booking_qr_png(CODE, caption))
    matrix = expected_matrix(CODE)

    assert captioned.width == plain.width
    assert captioned.height > plain.height
    qr_part = captioned.crop((0, 0, plain.width, plain.width))
    assert sampled_modules(qr_part, len(matrix)) == matrix
    caption_part = captioned.crop((0, plain.height, captioned.width, captioned.height))
    assert caption_part.getextrema()[0] < 128  # some text was drawn


def test_a_caption_longer_than_the_ticket_wraps_instead_of_overflowing():
    one_line = open_png(booking_qr_png(CODE, ["Sesi pagi"]))
    long_text = "Harap datang 15 menit sebelum sesi dan membawa e-KTP asli " * 3
    long_line = open_png(booking_qr_png(CODE, [long_text]))

    assert long_line.width == one_line.width
    assert long_line.height > one_line.height
    # Wrapped text leaves the margins blank on both sides.
    for x in (0, 1, long_line.width - 2, long_line.width - 1):
        column = [long_line.getpixel((x, y)) for y in range(long_line.width, long_line.height)]
        assert min(column) == 255


def test_an_empty_caption_list_gives_the_plain_qr():
    assert booking_qr_png(CODE, []) == booking_qr_png(CODE)


def test_an_empty_code_is_refused():
    with pytest.raises(ValueError):
        booking_qr_png("")


def test_characters_a_font_cannot_draw_get_plain_stand_ins_instead_of_empty_boxes():
    builtin = ImageFont.load_default(size=18)  # has no accented letters or en dashes

    assert _drawable("José Álvarez, 08.00–10.00 → ok", builtin) == "Jose Alvarez, 08.00-10.00 ? ok"
