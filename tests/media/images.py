"""In-memory test photos: an e-KTP-like card (light-blue card, portrait, lines of text) on a table,
and the ways applicants' photos go wrong (dark, glare, blur, odd formats, hostile headers)."""

from __future__ import annotations

import functools
import io
import struct
import zlib

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FIELDS = ("Nama", "Tempat/Tgl Lahir", "Jenis Kelamin", "Alamat", "RT/RW", "Kel/Desa", "Kecamatan", "Agama",
          "Status Perkawinan", "Pekerjaan", "Kewarganegaraan", "Berlaku Hingga")


def _font(size: int, bold: bool = False):
    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


@functools.cache
def _card(width: int, height: int, card_frac: float, table: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (width, height), table)
    draw = ImageDraw.Draw(image)
    card_w = int(width * card_frac)
    card_h = int(card_w * 54 / 85.6)  # the ID-1 card format
    if card_h > height * 0.9:
        card_h = int(height * 0.9)
        card_w = int(card_h * 85.6 / 54)
    x0, y0 = (width - card_w) // 2, (height - card_h) // 2
    draw.rounded_rectangle([x0, y0, x0 + card_w, y0 + card_h], radius=card_w // 30, fill=(170, 205, 230))
    u = card_w / 856
    draw.text((x0 + 200 * u, y0 + 20 * u), "PROVINSI KEPULAUAN RIAU", font=_font(int(28 * u), True), fill=(20,) * 3)
    draw.text((x0 + 30 * u, y0 + 100 * u), "NIK : 2171031708900001", font=_font(int(34 * u), True), fill=(10,) * 3)
    for i, label in enumerate(FIELDS):
        y = y0 + (150 + i * 30) * u
        draw.text((x0 + 30 * u, y), label, font=_font(int(20 * u)), fill=(30,) * 3)
        draw.text((x0 + 230 * u, y), ": BUDI SANTOSO JL RAYA 12", font=_font(int(20 * u)), fill=(30,) * 3)
    px, py = x0 + 640 * u, y0 + 130 * u
    draw.rectangle([px, py, px + 180 * u, py + 230 * u], fill=(200, 40, 40))
    draw.ellipse([px + 45 * u, py + 30 * u, px + 135 * u, py + 130 * u], fill=(190, 150, 120))
    return image


def card(size: tuple[int, int] = (1600, 1200), card_frac: float = 0.8, table=(110, 85, 60)) -> Image.Image:
    return _card(size[0], size[1], card_frac, table).copy()


def blurred(image: Image.Image, radius: float = 5) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def scaled(image: Image.Image, factor: float) -> Image.Image:
    """Every channel multiplied (x0.15: a photo in a dark room; x3.5: blown out to mostly white)."""
    return Image.eval(image, lambda value: min(255, int(value * factor)))


def encode(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    if fmt == "JPEG":
        options.setdefault("quality", 80)
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png_with_header_size(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR is rewritten to claim ``width`` x ``height`` (with a correct
    CRC), the shape of a decompression bomb: the header lies, the pixel data is tiny."""
    data = bytearray(encode(Image.new("L", (8, 8), 128), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)
