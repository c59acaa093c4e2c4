"""End to end through the running stack: Rasa server (REST channel) + custom actions + booking
database. A registration must produce a booking row whose fields match what was said. Run on both
deployments: the default (actions inside two Rasa worker processes sharing conversations through
the file lock store) and the classic one (one Rasa process, a separate action server)."""

from __future__ import annotations

import base64
import os
import socket
from datetime import date

import httpx
import pytest

from antrean.assistant.rest_channel import client_headers
from antrean.booking.codes import BookingCodes
from antrean.booking.offices import load_offices
from antrean.booking.service import BookingService
from antrean.runtime.clock import fixed_clock
from antrean.runtime.db import make_engine, upgrade_database
from antrean.runtime.serve import Stack
from benchmarks.processes import process_tree
from tests.actions.conftest import card_photo
from tests.conftest import wib

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "e2e-secret-key-for-booking-codes-0123456789"
SENDER = "6281299990001"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module", params=[{"rasa_workers": 2, "actions_in_process": True},
                                        {"rasa_workers": 1, "actions_in_process": False}],
                ids=["two-workers-actions-in-process", "one-worker-action-server"])
def stack(tmp_path_factory, request, trained_model):
    folder = tmp_path_factory.mktemp("e2e")
    database = f"sqlite:///{folder / 'bookings.sqlite3'}"
    upgrade_database(database)
    stack = Stack(
        rasa_port=free_port(), actions_port=free_port(), **request.param,
        conversations_url=f"sqlite:///{folder / 'conversations.sqlite3'}", run_dir=folder,
        environment={"ANTREAN_DATABASE_URL": database, "ANTREAN_CLOCK": "2026-12-01T08:00:00+07:00",
                     "ANTREAN_MEDIA_DIR": str(folder / "media"), "ANTREAN_SECRET_KEY": SECRET},
    )
    stack.start()
    try:
        stack.wait_until_ready()
        yield stack, database
    finally:
        stack.stop()


def say(stack: Stack, text: str | None = None, photo: bytes | None = None, sender: str = SENDER,
        metadata: dict | None = None) -> list[dict]:
    body = {"sender": sender, "message": text or "", "metadata": {"office_id": "batam", **(metadata or {})}}
    if photo is not None:
        body["photo_base64"] = base64.b64encode(photo).decode()
    # The token the stack's Rasa server was started with, if any (ANTREAN_REST_TOKEN).
    headers = client_headers({**os.environ, **stack.environment})
    reply = httpx.post(f"{stack.rasa_url}/webhooks/antrean/webhook", json=body, headers=headers, timeout=60)
    reply.raise_for_status()
    return reply.json()


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def test_a_law_registration_with_a_photo_books_a_real_seat(stack):
    running, database = stack
    first = say(running, "Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12 RT 01/RW 02 Tiban Baru")
    assert "Permohonan paspor apa" in texts(first)
    type_buttons = [b["payload"] for m in first for b in m.get("buttons", [])]
    assert '/inform{"application_type":"new"}' in type_buttons  # the payload arrives as plain JSON
    assert "foto e-KTP" in texts(say(running, type_buttons[0]))
    # A card-like photo without a readable e-KTP on it: the NIK is asked for.
    nik_question = texts(say(running, photo=card_photo()))
    assert "Foto diterima" in nik_question and "*NIK*" in nik_question
    day_question = say(running, "2171031708900001")
    assert any(b["payload"] == '/inform{"visit_date":"2026-12-03"}' for m in day_question for b in m.get("buttons", []))
    summary = texts(say(running, '/inform{"visit_date":"2026-12-03"}'))
    assert "Budi Santoso" in summary and "Kamis, 3 Desember 2026" in summary
    confirmation = say(running, "/affirm")
    assert "A-001" in texts(confirmation)

    engine = make_engine(database)
    service = BookingService(engine, load_offices(), fixed_clock(wib(2026, 12, 1, 8)), BookingCodes(SECRET.encode()))
    [booking] = service.get_by_whatsapp_number(SENDER)
    engine.dispose()
    assert booking.office_id == "batam"
    assert booking.day == date(2026, 12, 3)
    assert booking.applicant.full_name == "Budi Santoso"
    assert booking.applicant.birth_date == date(1990, 8, 17)
    assert booking.applicant.address == "Jl. Raya Sekupang No. 12 RT 01/RW 02 Tiban Baru"
    assert booking.applicant.nik == "2171031708900001"
    assert booking.applicant.application_type.value == "new"
    assert booking.photo_ref and booking.photo_ref.startswith("photo:")
    assert booking.code in texts(confirmation)

    image_url = next(m["image"] for m in confirmation if m.get("image"))
    ticket = httpx.get(image_url, timeout=30)
    assert ticket.status_code == 200 and ticket.content.startswith(b"\x89PNG")
    assert httpx.get(f"{running.rasa_url}/webhooks/antrean/tiket/AAAA-BBBB-CCCC.png", timeout=30).status_code == 404


def test_several_workers_each_run_on_a_cpu_of_their_own(stack):
    stack, _ = stack
    workers = process_tree(stack.rasa.pid)[1:]  # Sanic's workers: the server process's children
    assert len(workers) == (stack.rasa_workers if stack.rasa_workers > 1 else 0)
    usable = os.sched_getaffinity(0)
    allowed = [os.sched_getaffinity(pid) for pid in workers or [stack.rasa.pid]]
    if stack.rasa_workers > 1 and len(usable) > 1:
        assert all(len(cpus) == 1 for cpus in allowed)
        assert len(set().union(*allowed)) == min(len(workers), len(usable))  # spread, not stacked
    else:  # one process answers everything: it may use every CPU
        assert allowed == [usable]


def test_a_client_claiming_another_number_or_an_unchecked_photo_is_booked_under_its_own_sender(stack):
    running, database = stack
    sender, stranger = "6281299990003", "6281311112222"
    claims = {"wa_id": stranger, "whatsapp_number": stranger}  # the attack: book under a stranger's number
    invented_photo = {"antrean_media": {"ref": "photo:" + "ab" * 16, "kind": "image",
                                        "check": {"ok": True, "problem": None, "tip_id": None, "width": 1600,
                                                  "height": 1200}}}

    def claiming(text=None, photo=None, extra=None):
        return say(running, text, photo, sender=sender, metadata={**claims, **(extra or {})})

    claiming("Siti Aminah#17-08-1990#Jl. Raya Sekupang No. 14 RT 01/RW 02 Tiban Baru")
    claiming('/inform{"application_type":"new"}')
    # A photo result with no upload is not the client's to give: the e-KTP photo is still asked for.
    assert "foto e-KTP" in texts(claiming("2171031708900002", extra=invented_photo))
    assert "Foto diterima" in texts(claiming(photo=card_photo()))
    claiming('/inform{"visit_date":"2026-12-03"}')
    confirmation = claiming("/affirm")

    engine = make_engine(database)
    service = BookingService(engine, load_offices(), fixed_clock(wib(2026, 12, 1, 8)), BookingCodes(SECRET.encode()))
    [booking] = service.get_by_whatsapp_number(sender)
    assert service.get_by_whatsapp_number(stranger) == []
    engine.dispose()
    assert booking.code in texts(confirmation) and booking.applicant.nik == "2171031708900002"
    assert booking.photo_ref != invented_photo["antrean_media"]["ref"]
    assert (running.run_dir / "media").exists() and list((running.run_dir / "media").rglob(
        booking.photo_ref.removeprefix("photo:") + ".jpg"))


@pytest.fixture(scope="module")
def closed_stack(tmp_path_factory, trained_model):
    """One Rasa worker, actions in process, the clock at 10:30 on a Tuesday: after Batam's window."""
    folder = tmp_path_factory.mktemp("e2e-closed")
    database = f"sqlite:///{folder / 'bookings.sqlite3'}"
    upgrade_database(database)
    stack = Stack(rasa_port=free_port(), actions_port=free_port(), rasa_workers=1, actions_in_process=True,
                  conversations_url=f"sqlite:///{folder / 'conversations.sqlite3'}", run_dir=folder,
                  environment={"ANTREAN_DATABASE_URL": database, "ANTREAN_CLOCK": "2026-12-01T10:30:00+07:00",
                               "ANTREAN_MEDIA_DIR": str(folder / "media"), "ANTREAN_SECRET_KEY": SECRET})
    stack.start()
    try:
        stack.wait_until_ready()
        yield stack, folder
    finally:
        stack.stop()


def test_outside_the_window_a_law_message_with_a_photo_is_not_told_foto_diterima_and_nothing_is_kept(closed_stack):
    running, folder = closed_stack
    replies = texts(say(running, "Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12 RT 01/RW 02 Tiban Baru",
                        photo=card_photo()))
    assert "Foto diterima" not in replies
    assert "Foto e-KTP Anda tidak kami simpan karena pendaftaran sedang ditutup." in replies
    assert "07.30" in replies and "Rabu, 2 Desember 2026" in replies
    assert list((folder / "media").rglob("*.jpg")) == []
