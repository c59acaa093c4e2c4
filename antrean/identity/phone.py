"""Phone numbers in the form WhatsApp uses as ``wa_id``: E.164 digits without ``+``; and the
business-scoped user IDs (BSUIDs) WhatsApp sends since 2026 beside, or instead of, the number.

Decisions:

* Indonesian numbers must be mobile (62 8…, 10–15 digits in all): WhatsApp is what we reach them
  on, and a landline typed by mistake should be caught now, not when the reminder fails.
* Other countries are accepted (8–15 digits, country code not starting with 0), because applicants
  abroad or with foreign SIM cards also write to the office. They must be written with ``+`` or
  ``00``, or start with a digit other than 0 and 8 and not with 62: a bare ``8…`` is read as an
  Indonesian number typed without its leading 0 (``812…``), which is far more common here than a
  Japanese or Chinese number typed without ``+``.
* ``+62 0812…`` (the trunk 0 kept after the country code) is a common slip and is accepted.
"""

from __future__ import annotations

import re

from antrean.identity.errors import InvalidPhone

_SEPARATORS = re.compile(r"[\s\-.()/]+")
_DIGITS = re.compile(r"[0-9]+")
# Meta's format: the user's ISO 3166 alpha-2 country code, a dot, up to 128 alphanumerics
# ("ID.1502576394655843"); a parent BSUID (linked business portfolios) has "ENT." after the country.
BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")
BSUID_MAX = 136


def _indonesian_mobile(national: str) -> str:
    national = national.removeprefix("0")
    msisdn = "62" + national
    if not national.startswith("8") or not 10 <= len(msisdn) <= 15:
        raise InvalidPhone("phone_invalid", detail="not an Indonesian mobile number")
    return msisdn


def _international(digits: str) -> str:
    if digits.startswith("62"):
        return _indonesian_mobile(digits[2:])
    if digits.startswith("0") or not 8 <= len(digits) <= 15:
        raise InvalidPhone("phone_invalid", detail="not an E.164 number")
    return digits


def normalise_msisdn(text: str) -> str:
    """``"6281234567890"`` from "0812-3456-7890", "+62 812 3456 7890", "62812…", "812…" or a foreign
    number in international form; raises InvalidPhone otherwise."""
    compact = _SEPARATORS.sub("", text)
    international = compact.startswith("+")
    if international:
        compact = compact[1:]
    if not _DIGITS.fullmatch(compact):
        raise InvalidPhone("phone_invalid", detail="not digits")
    if international:
        return _international(compact)
    if compact.startswith("00"):
        return _international(compact[2:])
    if compact.startswith(("0", "8")):
        return _indonesian_mobile(compact)
    return _international(compact)


def check_wa_id(text: str) -> str:
    """A WhatsApp ``wa_id`` as the platform sends it (already international, digits only). Unlike
    ``normalise_msisdn`` nothing is guessed: a Japanese ``8190…`` must not become Indonesian."""
    digits = text.strip().removeprefix("+")
    if not _DIGITS.fullmatch(digits):
        raise InvalidPhone("phone_invalid", detail="a wa_id is digits only")
    return _international(digits)


def is_bsuid(text: str) -> bool:
    return bool(BSUID.fullmatch(text))


def check_sender_id(text: str) -> str:
    """Who a WhatsApp booking belongs to: the sender's wa_id, or their BSUID when WhatsApp gave no
    number (a user who adopted a username). A BSUID is opaque and kept exactly as sent."""
    text = text.strip()
    if is_bsuid(text):
        return text
    return check_wa_id(text)


def mask_bsuid(bsuid: str) -> str:
    """The country (not personal on its own) and two characters at each end of the rest."""
    country, _, rest = bsuid.rpartition(".")
    if len(rest) <= 6:
        return f"{country}.{'*' * len(rest)}"
    return f"{country}.{rest[:2]}{'*' * (len(rest) - 4)}{rest[-2:]}"


def mask_msisdn(msisdn: str) -> str:
    """Keep the first 4 digits (country code and operator prefix) and the last 4.

    Short foreign numbers keep fewer digits so that at least three stay hidden.
    """
    digits = "".join(ch for ch in msisdn if ch.isdigit())
    keep = min(4, max(0, (len(digits) - 3) // 2))
    if keep == 0:
        return "*" * len(digits)
    return digits[:keep] + "*" * (len(digits) - 2 * keep) + digits[-keep:]
