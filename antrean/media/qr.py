"""The QR ticket an applicant shows at the office door: the booking code as a QR, optional captions."""

from __future__ import annotations

import functools
import io
import unicodedata

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont

# 12 px modules keep the smallest (version 1) code around 350 px wide, which door scanners read
# from a phone screen at arm's length; the 4-module quiet zone is what the QR standard requires.
BOX_SIZE = 12
BORDER = 4
CAPTION_FONT_SIZE = 18
CAPTION_MARGIN = 12
CAPTION_LINE_SPACING = 6


def _qr_image(code: str) -> Image.Image:
    # Medium error correction survives a cracked screen or a smudged print-out of about 15 %.
    # The code is encoded exactly as given; upper-case codes with dashes fit QR's compact
    # alphanumeric mode, which keeps the symbol at version 1.
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=BOX_SIZE, border=BORDER)
    qr.add_data(code)
    qr.make(fit=True)
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("L")


_Font = ImageFont.ImageFont | ImageFont.FreeTypeFont
# Stand-ins for characters a font may lack, so a caption never shows an empty box.
_PUNCTUATION_FALLBACK = str.maketrans(
    {"–": "-", "—": "-", "‐": "-", "‑": "-", "’": "'", "‘": "'", "“": '"', "”": '"'}
)


@functools.cache
def _caption_font() -> _Font:
    # Pillow's built-in font has no accented letters (José, Ñ) or typographic dashes; DejaVu Sans,
    # present on most Linux servers, has them. The built-in font is the fallback elsewhere.
    try:
        return ImageFont.truetype("DejaVuSans.ttf", CAPTION_FONT_SIZE)
    except OSError:
        return ImageFont.load_default(size=CAPTION_FONT_SIZE)


def _drawable(text: str, font: _Font) -> str:
    """``text`` with each character the font cannot draw replaced by a plain stand-in."""
    missing = bytes(font.getmask("\U0010fffd"))  # a private-use code point: the font's empty box

    def has_glyph(ch: str) -> bool:
        return ch == " " or bytes(font.getmask(ch)) != missing

    out = []
    for ch in text:
        if not has_glyph(ch):
            plain = unicodedata.normalize("NFKD", ch.translate(_PUNCTUATION_FALLBACK))
            plain = "".join(c for c in plain if not unicodedata.combining(c))
            ch = plain if plain and all(has_glyph(c) for c in plain) else "?"
        out.append(ch)
    return "".join(out)


def _wrap(text: str, font: _Font, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        # A single word wider than the ticket (a long address token) is cut rather than overflowing.
        while font.getlength(word) > width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and font.getlength(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines


def booking_qr_png(code: str, caption_lines: list[str] | None = None) -> bytes:
    """A grayscale PNG: the QR for ``code`` on top, then each caption line wrapped and centred."""
    if not code:
        raise ValueError("code must not be empty")
    qr_image = _qr_image(code)
    size = qr_image.width
    image = qr_image
    if caption_lines:
        font = _caption_font()
        width = size - 2 * CAPTION_MARGIN
        lines = [line for text in caption_lines for line in _wrap(_drawable(text, font), font, width)]
        ascent, descent = font.getmetrics()
        line_height = ascent + descent + CAPTION_LINE_SPACING
        image = Image.new("L", (size, size + len(lines) * line_height + CAPTION_MARGIN), 255)
        image.paste(qr_image, (0, 0))
        draw = ImageDraw.Draw(image)
        for index, line in enumerate(lines):
            # The QR's own quiet zone already separates it from the first line.
            draw.text((size / 2, size + index * line_height), line, fill=0, font=font, anchor="ma")

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
