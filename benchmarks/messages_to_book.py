"""`make bench-messages`: how many messages an applicant sends to get a queue number.

Real conversations over the REST channel against the running stack (Rasa server, actions in
process, SQLite; the clock frozen at 08:00 on Tuesday 1 December 2026, registration open). An
applicant answers whatever the assistant asks (the application type, a detail, the photo, the NIK,
the day, the confirmation) until the QR ticket arrives, three ways:

(a) the LAW text `Nama#TGL Lahir#Alamat` as the caption of the e-KTP photo;
(b) the LAW text, then the photo when it is asked for;
(c) chatting one detail at a time ("daftar", then each answer).

Run with the e-KTP reading off (as before issue 14: the NIK is always asked) and on (a NIK read
from the card is shown in the summary instead). Each applicant's photo is a generated e-KTP with
their own details (benchmarks/ektp_cards.py).

    python -m benchmarks.messages_to_book [--reading on|off|both]
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx

from antrean.assistant.rest_channel import client_headers
from antrean.runtime.db import upgrade_database
from antrean.runtime.serve import DEFAULT_MODEL, Stack
from benchmarks.ektp_cards import Person, photo_of
from tests.builders import make_nik

CLOCK = "2026-12-01T08:00:00+07:00"
SECRET = "bench-messages-secret-key-0123456789-01234"
SCENARIOS = {
    "caption": "(a) `#` text as the photo's caption",
    "text_then_photo": "(b) `#` text, then the photo",
    "one_at_a_time": "(c) one detail at a time",
}
MAX_MESSAGES = 15


@dataclass(frozen=True)
class Applicant:
    sender: str
    person: Person
    typed_name: str
    address: str

    @property
    def law(self) -> str:
        return f"{self.typed_name}#{self.person.birth_date:%d-%m-%Y}#{self.address}"


def applicant(index: int) -> Applicant:
    names = ["Budi Santoso", "Siti Aminah", "Rizky Pratama", "Dewi Lestari", "Agus Salim", "Nur Hidayah"]
    birth = date(1980 + index, 3 + index % 9, 5 + index)
    sex = "P" if index % 2 else "L"
    address = f"Jl. Raya Sekupang No. {index + 10} RT 01/RW 02 Tiban Baru"
    person = Person(nik=make_nik(birth, sex, serial=100 + index), name=names[index % len(names)].upper(),
                    birth_place="BATAM", birth_date=birth, sex=sex, address=address.upper(),
                    province="KEPULAUAN RIAU", regency="KOTA BATAM")
    return Applicant(sender=f"628129999{index:04d}", person=person, typed_name=names[index % len(names)],
                     address=address)


class Chat:
    """One applicant's side of the conversation, counting what they send."""

    def __init__(self, stack: Stack, who: Applicant):
        self.stack, self.who = stack, who
        self.sent = 0
        self.photo = photo_of(who.person)

    def say(self, text: str = "", photo: bool = False) -> list[dict]:
        body = {"sender": self.who.sender, "message": text, "metadata": {"office_id": "batam"}}
        if photo:
            body["photo_base64"] = base64.b64encode(self.photo).decode()
        self.sent += 1
        headers = client_headers({**os.environ, **self.stack.environment})
        reply = httpx.post(f"{self.stack.rasa_url}/webhooks/antrean/webhook", json=body, headers=headers, timeout=120)
        reply.raise_for_status()
        return reply.json()

    def answer(self, replies: list[dict]) -> list[dict] | None:
        """Answer the question in `replies` (the latest asked); None once the ticket came."""
        text = "\n".join(m.get("text", "") for m in replies)
        payloads = [b["payload"] for m in replies for b in m.get("buttons", [])]
        if any("/tiket/" in (m.get("image") or "") for m in replies):
            return None
        if any('"application_type"' in p for p in payloads):
            return self.say('/inform{"application_type":"new"}')
        if any('"visit_date"' in p for p in payloads):
            return self.say(next(p for p in payloads if '"visit_date"' in p))
        if "/affirm" in payloads:
            return self.say("ya")
        if "*NIK*" in text:
            return self.say(self.who.person.nik)
        if "foto e-KTP" in text or "kirim *foto*" in text:
            return self.say(photo=True)
        if "*nama lengkap*" in text:
            return self.say(self.who.typed_name)
        if "*tanggal lahir*" in text:
            return self.say(f"{self.who.person.birth_date:%d-%m-%Y}")
        if "*alamat*" in text:
            return self.say(self.who.address)
        raise RuntimeError(f"the applicant does not know what to answer to: {text[:200]!r}")


def book_by_chatting(stack: Stack, who: Applicant, scenario: str) -> int:
    """Messages the applicant sent until the QR ticket arrived."""
    chat = Chat(stack, who)
    if scenario == "caption":
        replies = chat.say(who.law, photo=True)
    elif scenario == "text_then_photo":
        replies = chat.say(who.law)
    elif scenario == "one_at_a_time":
        replies = chat.say("daftar")
    else:
        raise ValueError(scenario)
    while (replies := chat.answer(replies)) is not None:
        if chat.sent > MAX_MESSAGES:
            raise RuntimeError(f"no ticket after {MAX_MESSAGES} messages ({scenario})")
    return chat.sent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_stack(folder: Path, reading: bool) -> Stack:
    database = f"sqlite:///{folder / 'bookings.sqlite3'}"
    upgrade_database(database)
    stack = Stack(rasa_port=free_port(), actions_port=free_port(), rasa_workers=1, actions_in_process=True,
                  conversations_url=f"sqlite:///{folder / 'conversations.sqlite3'}", run_dir=folder,
                  environment={"ANTREAN_DATABASE_URL": database, "ANTREAN_CLOCK": CLOCK,
                               "ANTREAN_MEDIA_DIR": str(folder / "media"), "ANTREAN_SECRET_KEY": SECRET,
                               "ANTREAN_EKTP_READING": "1" if reading else "0"})
    stack.start()
    try:
        stack.wait_until_ready()
    except BaseException:
        stack.stop()
        raise
    return stack


def count_all(stack: Stack, first_applicant: int = 0) -> dict[str, int]:
    return {scenario: book_by_chatting(stack, applicant(first_applicant + i), scenario)
            for i, scenario in enumerate(SCENARIOS)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reading", choices=("on", "off", "both"), default="both")
    args = parser.parse_args(argv)
    if not DEFAULT_MODEL.exists():
        print("no trained model: run `make train` first", file=sys.stderr)
        return 2
    counts = {}
    for reading in ((False, True) if args.reading == "both" else (args.reading == "on",)):
        with tempfile.TemporaryDirectory(prefix="antrean-messages-") as folder:
            stack = start_stack(Path(folder), reading)
            try:
                counts[reading] = count_all(stack)
            finally:
                stack.stop()
    print("| applicant messages to book | " + " | ".join(
        "e-KTP reading on (after)" if r else "e-KTP reading off (before)" for r in counts) + " |")
    print("|---|" + "---|" * len(counts))
    for scenario, label in SCENARIOS.items():
        print(f"| {label} | " + " | ".join(str(c[scenario]) for c in counts.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
