"""The booking ticket an applicant shows at the office door: its reference, its captions, its image.

Rasa carries an image as a URL (a bot message's `image`), so the ticket travels as its reference:
the REST channel's URL `<public URL>/webhooks/antrean/tiket/<code>.png`, which serves the PNG. The
custom actions build it (`reference`); the WhatsApp channel recognises it to draw and upload the
image instead of sending a link, and the conversation review to know a conversation ended booked
(`code_in_reference`). The image is the booking code as a QR with captions below it (queue number,
day, session, office: `caption_lines`), the same on every channel (`ticket_png`). Applicants also
type the code printed under it to ask about a booking (`codes_in_text`)."""

from __future__ import annotations

import functools
import io
import re
import unicodedata
from urllib.parse import urlparse

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy.engine import Engine

from antrean.booking import replies, store
from antrean.booking.codes import BookingCodes
from antrean.booking.model import Booking
from antrean.booking.offices import Office

# Where the REST channel (its name is "antrean") serves the ticket: `/tiket/<code>.png` under its
# webhook prefix.
CHANNEL_PREFIX = "/webhooks/antrean"
ROUTE = "/tiket/<filename>"
SUFFIX = ".png"
# The caption of the image message on WhatsApp (the captions inside the image are caption_lines).
MESSAGE_CAPTION = "Tiket antrean Anda. Tunjukkan kode QR ini kepada petugas di kantor imigrasi."

# A booking code in a reference: 6 to 20 letters, digits and dashes, starting and ending with a
# letter or digit (whether it is well-formed and authentic is for whoever looks it up to check).
# Typed in a message, a code is three groups of four of the alphabet's characters (a 0 or a 1 ends a
# candidate), separated by a dash, a space or nothing; a lookahead lets candidates overlap: in
# "saya 7N7N-M628-VA9Y" the words before the code must not swallow its first group.
_IN_REFERENCE = "[0-9A-Za-z][0-9A-Za-z-]{4,18}[0-9A-Za-z]"
_TYPED = "[2-9A-Za-z]{4}"
_REFERENCE_PATH = re.compile(rf"(?:/.*)?{CHANNEL_PREFIX}/tiket/({_IN_REFERENCE}){re.escape(SUFFIX)}")
_TYPED_CODE = re.compile(rf"(?=\b({_TYPED}[\s-]?{_TYPED}[\s-]?{_TYPED})\b)")
# What may wrap a URL in a sentence: "(…)", "<…>", quotes, a final full stop or comma.
_WRAPPING = "()<>[]\"'.,;:!"


def reference(code: str, public_url: str) -> str:
    """The ticket's URL on the REST channel of the server reachable at ``public_url``."""
    return f"{public_url.rstrip('/')}{CHANNEL_PREFIX}/tiket/{code}{SUFFIX}"


def code_in_reference(text: str) -> str | None:
    """The booking code (upper case) of a ticket reference in ``text``, alone or among other words;
    None when there is none. Only our own route counts: any scheme but http(s), another path, a
    longer file name or a query after it is someone else's image."""
    for word in (text or "").split():
        parsed = urlparse(word.strip(_WRAPPING))
        if parsed.scheme not in ("", "http", "https") or parsed.query or parsed.fragment:
            continue
        match = _REFERENCE_PATH.fullmatch(parsed.path)
        if match:
            return match.group(1).upper()
    return None


def code_of_filename(filename: str) -> str | None:
    """`<code>.png` as the REST route receives it → the code as typed (checked by the caller)."""
    return filename.removesuffix(SUFFIX) if filename.endswith(SUFFIX) else None


def codes_in_text(text: str | None) -> list[str]:
    """Every well-formed booking code typed in a message, normalised (XXXX-XXXX-XXXX), in order.
    Whether one is authentic is for BookingCodes.is_authentic, with the secret, to say."""
    found: list[str] = []
    for match in _TYPED_CODE.finditer(text or ""):
        code = BookingCodes.normalise(match.group(1))
        if code and code not in found:
            found.append(code)
    return found


def caption_lines(booking: Booking, office: Office) -> list[str]:
    """What the image says under the QR: queue number, day, session with its time zone, office."""
    return [booking.queue_label(office.queue_prefix), replies.day_name(booking.day),
            f"Sesi {replies.clock_time(booking.session_start)} {replies.zone_label(office)}", office.short_name]


def ticket_png(booking: Booking, office: Office) -> bytes:
    return booking_qr_png(booking.code, caption_lines(booking, office))


def ticket_png_from_database(engine: Engine, offices: dict[str, Office], code: str) -> bytes | None:
    """The ticket of an existing booking, read straight from the bookings table (no booking service
    needed): for a code taken from our own reference, so it is looked up as it stands, normalised
    but not checked against the secret. None when there is no such booking."""
    normalised = BookingCodes.normalise(code)
    if normalised is None:
        return None
    with engine.connect() as connection:
        booking = store.by_code(connection, normalised)
    if booking is None or booking.office_id not in offices:
        return None
    return ticket_png(booking, offices[booking.office_id])


# --- the image -------------------------------------------------------------------------------------

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
