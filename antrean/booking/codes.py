"""Booking codes: short, unambiguous when read aloud or typed, unguessable, verifiable offline.

A code is 9 random characters (31**9 ≈ 2**44.6) followed by 3 check characters taken from
HMAC-SHA256(secret, random part), shown as ``XXXX-XXXX-XXXX``. Door staff can reject a forged or
mistyped code without a database lookup; guessing a code that passes the check succeeds with
probability 1/31**3 per try, and guessing one that also exists in the database is hopeless.
The alphabet leaves out 0/O, 1/I/L, which applicants and staff confuse on screens and paper.

The secret should be used for nothing else; rotating it makes every outstanding code fail
``is_authentic``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RANDOM_LENGTH = 9
CHECK_LENGTH = 3
CODE_LENGTH = RANDOM_LENGTH + CHECK_LENGTH
GROUP = 4
MIN_SECRET_BYTES = 16

_ALLOWED = frozenset(ALPHABET)
# Phones insert en/em dashes and no-break spaces when a code is pasted back.
_SEPARATORS = re.compile(r"[\s\-‐‑–—]+")


def _format(raw: str) -> str:
    return "-".join(raw[i : i + GROUP] for i in range(0, len(raw), GROUP))


class BookingCodes:
    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes | bytearray):
            raise TypeError("secret must be bytes")
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = bytes(secret)

    def _check(self, random_part: str) -> str:
        digest = hmac.new(self._secret, random_part.encode("ascii"), hashlib.sha256).digest()
        # 256 bits reduced mod 31**3: the bias is far below anything measurable.
        number = int.from_bytes(digest, "big") % len(ALPHABET) ** CHECK_LENGTH
        chars = []
        for _ in range(CHECK_LENGTH):
            number, index = divmod(number, len(ALPHABET))
            chars.append(ALPHABET[index])
        return "".join(chars)

    def new(self) -> str:
        """A fresh code, formatted ``XXXX-XXXX-XXXX``."""
        random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
        return _format(random_part + self._check(random_part))

    @staticmethod
    def normalise(text: str) -> str | None:
        """The canonical ``XXXX-XXXX-XXXX`` form (as returned by ``new``) of a typed code, or None.

        Case, spaces and dashes are ignored. The check characters are not verified here; use
        ``is_authentic`` for that.
        """
        raw = _SEPARATORS.sub("", text)
        # ASCII before upper(): "ß".upper() is "SS", which would smuggle in an extra character.
        if not raw.isascii():
            return None
        raw = raw.upper()
        if len(raw) != CODE_LENGTH or not _ALLOWED.issuperset(raw):
            return None
        return _format(raw)

    def is_authentic(self, text: str) -> bool:
        """True if ``text`` is a well-formed code whose check characters match this secret."""
        code = self.normalise(text)
        if code is None:
            return False
        raw = code.replace("-", "")
        expected = self._check(raw[:RANDOM_LENGTH])
        return hmac.compare_digest(expected, raw[RANDOM_LENGTH:])
