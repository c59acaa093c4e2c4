"""Issue 14 §5 through the running stack: with the e-KTP read, the `#` text as the photo's caption
books in four applicant messages, text then photo in five, one detail at a time in eight; the
booking holds the NIK read from the card. (`make bench-messages` gives the table, reading off too.)"""

from __future__ import annotations

import pytest

from antrean.booking.codes import BookingCodes
from antrean.booking.offices import load_offices
from antrean.booking.service import BookingService
from antrean.runtime.clock import fixed_clock
from antrean.runtime.db import make_engine
from benchmarks.messages_to_book import SECRET, applicant, book_by_chatting, start_stack
from tests.conftest import wib

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, trained_model, tesseract):
    folder = tmp_path_factory.mktemp("messages")
    running = start_stack(folder, reading=True)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize("scenario, index, most", [("caption", 0, 4), ("text_then_photo", 1, 5),
                                                   ("one_at_a_time", 2, 8)])
def test_an_applicant_books_in_fewer_messages_when_the_ektp_is_read(stack, scenario, index, most):
    who = applicant(index)
    assert book_by_chatting(stack, who, scenario) == most
    engine = make_engine(stack.environment["ANTREAN_DATABASE_URL"])
    service = BookingService(engine, load_offices(), fixed_clock(wib(2026, 12, 1, 8)), BookingCodes(SECRET.encode()))
    [booking] = service.get_by_whatsapp_number(who.sender)
    engine.dispose()
    assert booking.applicant.nik == who.person.nik
    assert booking.applicant.full_name == who.typed_name
