"""Applicant names and addresses as typed in chat, cleaned for storage and for the printed ticket."""

from __future__ import annotations

import itertools
import unicodedata

from antrean.identity.errors import InvalidAddress, InvalidName

NAME_MIN, NAME_MAX = 2, 100
ADDRESS_MIN, ADDRESS_MAX = 10, 200

# Phone keyboards autocorrect ' to ’ and - to ‐ or –; they mean the same thing in a name.
_NAME_PUNCTUATION = str.maketrans(
    {"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "‐": "-", "‑": "-", "–": "-"}
)
_NAME_SYMBOLS = frozenset(" '.-")

# Invisible characters that only get into text by copy-paste or by abuse (zero-width joiners,
# bidi overrides that make a stored address display differently from what it contains, BOM,
# private-use and unassigned code points).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def _is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN ")


def _one_char(ch: str, cased: str) -> str:
    # "ß".upper() is "SS" and "İ".lower() is "i" plus a combining dot; such changes would alter the
    # name's length and stop the result from being stable when normalised again.
    return cased if len(cased) == 1 else ch


def _capitalise(part: str) -> str:
    return "".join(_one_char(ch, ch.upper() if i == 0 else ch.lower()) for i, ch in enumerate(part))


def _tidy_apostrophes(part: str) -> str:
    # After a one-letter prefix the apostrophe starts a new name part (O'Neil, D'Costa); elsewhere it
    # is a glottal stop inside one word, as in the many Arabic-derived Indonesian names (Ma'ruf,
    # Nur'aini, Sa'diyah), where the next letter stays small.
    pieces = part.split("'")
    tidy = [_capitalise(pieces[0])]
    for previous, piece in itertools.pairwise(pieces):
        tidy.append(_capitalise(piece) if len(previous) == 1 else piece.lower())
    return "'".join(tidy)


def _tidy_word(word: str) -> str:
    # Only words typed all in one case are re-cased, so a deliberate "McDonald" or "DiCaprio" stays.
    if not (word.islower() or word.isupper()):
        return word
    return "-".join(_tidy_apostrophes(part) for part in word.split("-"))


def normalise_name(text: str) -> str:
    """A name in Latin letters (accents allowed), spaces, ``'``, ``.`` and ``-``, tidily capitalised.

    "budi santoso" → "Budi Santoso", "SITI NURHALIZA" → "Siti Nurhaliza", "o'neil" → "O'Neil",
    "ma'ruf" → "Ma'ruf", "muh. rizky" → "Muh. Rizky", "jean-pierre" → "Jean-Pierre". e-KTP and
    passports use Latin script, so other scripts are rejected (name_characters) rather than stored
    in a form staff cannot match.
    """
    # NFKC folds full-width letters and ligatures into plain ones and composes accents.
    text = unicodedata.normalize("NFKC", text).translate(_NAME_PUNCTUATION)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = " ".join(text.split())
    previous = ""
    for ch in text:
        combining_mark = unicodedata.category(ch).startswith("M") and _is_latin_letter(previous)
        if not (ch in _NAME_SYMBOLS or _is_latin_letter(ch) or combining_mark):
            raise InvalidName("name_characters")
        if not combining_mark:
            previous = ch
    name = " ".join(_tidy_word(word) for word in text.split(" "))
    if len(name) < NAME_MIN or sum(ch.isalpha() for ch in name) < NAME_MIN:
        raise InvalidName("name_too_short")
    if len(name) > NAME_MAX:
        raise InvalidName("name_too_long")
    return name


def normalise_address(text: str) -> str:
    """An address with invisible and control characters removed and whitespace collapsed.

    Punctuation is kept as written ("Jl. Merdeka No. 5, RT 01/RW 02"). It must be 10–200 characters
    after cleaning and contain at least one letter.
    """
    text = unicodedata.normalize("NFC", text)
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
    )
    address = " ".join(text.split())
    if len(address) < ADDRESS_MIN or not any(ch.isalpha() for ch in address):
        raise InvalidAddress("address_too_short")
    if len(address) > ADDRESS_MAX:
        raise InvalidAddress("address_too_long")
    return address
