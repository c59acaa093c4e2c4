"""Personal data inside free text (what applicants typed): NIKs and phone numbers masked the same
way as everywhere else in the console, so a transcript read over a shoulder leaks neither."""

from __future__ import annotations

import re

from antrean.identity import mask_msisdn, mask_nik

# 16 digits, possibly written in groups ("2171 0357 0890 0001"); phone numbers 08… / 62… / +62….
_NIK = re.compile(r"(?<!\d)\d(?:[ .-]?\d){15}(?!\d)")
_PHONE = re.compile(r"(?<![\d+])(?:\+?62|0)8\d(?:[ .-]?\d){6,11}(?!\d)")


def mask_text(text: str | None) -> str:
    if not text:
        return text or ""
    text = _NIK.sub(lambda m: mask_nik(re.sub(r"\D", "", m.group(0))), text)
    return _PHONE.sub(lambda m: mask_msisdn(m.group(0)), text)


def mask_sender(sender_id: str) -> str:
    """WhatsApp senders are numbers; other channels' ids are opaque but may still be personal."""
    if sender_id.isdigit():
        return mask_msisdn(sender_id)
    return sender_id[:3] + "…" if len(sender_id) > 6 else "…"
