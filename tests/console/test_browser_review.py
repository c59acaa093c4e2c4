"""In Debian's Chromium: correcting an NLU example (intent and an entity marked by selecting text),
and the simulator exchanging a greeting with the real assistant (Rasa server, action server and the
WhatsApp channel in sandbox mode, started here on free ports)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from antrean.training.schema import nlu_reviews
from tests.console.conftest import assistant_for
from tests.console.reviewdata import add_conversation
from tests.console.test_browser import log_in

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("chromium_present"),
]

TEXT = "kantor batam besok buka jam brp ya kak"


def test_a_reviewer_corrects_the_intent_and_marks_an_entity_in_the_browser(console, browser):
    [message_id] = add_conversation(console.service.engine, messages=[(TEXT, "ask_location", 0.31)])
    page = browser.new_page()
    log_in(page, console, "reviewer")
    page.wait_for_url(console.base_url + "/bantuan")
    page.goto(console.base_url + "/nlu")
    item = page.locator(f"#pesan-{message_id}")
    assert item.locator(".nlu-text").inner_text() == TEXT
    # Select "besok" with the mouse's equivalent: a DOM selection over the text, then mark it.
    page.evaluate("""([id, word]) => {
        const element = document.querySelector(`#pesan-${id} .nlu-text`);
        const node = element.firstChild;
        const start = node.textContent.indexOf(word);
        const range = document.createRange();
        range.setStart(node, start);
        range.setEnd(node, start + word.length);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
    }""", [message_id, "besok"])
    item.locator(".entity-name").select_option("visit_date")
    item.locator(".mark-entity").click()
    assert item.locator("mark.entity").inner_text() == "besok"
    assert "visit_date: besok" in item.locator(".entity-chips").inner_text()
    item.locator("select[name=intent]").select_option("ask_hours")
    item.locator("button[value=terima]").click()
    assert "Disimpan sebagai ask_hours (intent dikoreksi) dengan 1 entitas." in page.locator(".flash-ok").inner_text()
    assert page.locator(f"#pesan-{message_id}").count() == 0
    page.close()
    with console.service.engine.connect() as connection:
        [row] = connection.execute(select(nlu_reviews)).all()
    start = TEXT.index("besok")
    assert (row.intent, row.predicted_intent, row.status) == ("ask_hours", "ask_location", "accepted")
    assert json.loads(row.entities) == [{"start": start, "end": start + 5, "entity": "visit_date", "value": "besok"}]


@pytest.fixture
def assistant(console, console_sqlite_url, tmp_path, trained_model):
    with assistant_for(console, console_sqlite_url, tmp_path, "2026-12-01T08:00:00+07:00") as stack:
        yield stack


@pytest.mark.slow
def test_the_simulator_exchanges_a_greeting_with_the_real_assistant(console, assistant, browser):
    page = browser.new_page()
    log_in(page, console, "reviewer")
    page.wait_for_url(console.base_url + "/bantuan")
    page.goto(console.base_url + "/simulator")
    assert page.locator("#assistant-down").count() == 0
    page.fill("#pesan", "halo")
    page.click("#send button[type=submit]")
    page.wait_for_selector(".turn-applicant")
    reply = page.locator(".turn-assistant:not(#typing)").first
    reply.wait_for(timeout=180_000)  # first turn: the action server and model warm up
    assert len(reply.inner_text().strip()) > len("Asisten")
    page.close()
