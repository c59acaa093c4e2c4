"""Personal data in user messages: masked on screen character for character, replaced by realistic
placeholders in training data with entity spans moved to match (no database, no Rasa)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from antrean.identity import parse_nik
from antrean.protection.masking import mask_text
from antrean.protection.scrubbing import Placeholders, Span, scrub
from antrean.training.data import normalise
from antrean.training.export import annotate, render

NIK = "2171031708900001"


@pytest.mark.parametrize(("text", "hidden"), [
    (f"nik saya {NIK}", NIK),
    ("nik 2171 0317 0890 0001 ya", "2171 0317 0890 0001"),
    ("hp saya 0812-3456-7890", "3456"),
    ("wa +62 812 3456 7890", "3456"),
])
def test_screen_masking_hides_the_middle_and_keeps_the_length(text, hidden):
    masked = mask_text(text)
    assert len(masked) == len(text) and hidden not in masked


def test_scrubbing_replaces_personal_values_and_moves_the_entities():
    text = f"nama saya Budi Santoso nik {NIK} alamat Jl. Raya Sekupang No. 12 RT 01/RW 02 hp 0812-3456-7890 besok"
    spans = [Span(10, 22, "person_name"), Span(27, 43, "nik"), Span(len(text) - 5, len(text), "visit_date")]
    clean, moved = scrub(text, spans, Placeholders())
    for secret in ("Budi", NIK, "Sekupang", "3456-7890"):
        assert secret not in clean
    values = {span.entity: clean[span.start:span.end] for span in moved}
    assert values["visit_date"] == "besok"
    assert re.fullmatch(r"\d{16}", values["nik"])
    parse_nik(values["nik"], date(2026, 12, 1))  # a structurally valid NIK (real region, real date)
    assert values["person_name"] in clean and " " in values["person_name"]
    assert re.search(r"hp 08\d\d-0000-\d{4} besok$", clean)


def test_a_street_without_a_house_number_is_not_personal():
    assert scrub("kantornya di jalan sudirman ya", [], Placeholders())[0] == "kantornya di jalan sudirman ya"


def test_the_same_value_gets_the_same_placeholder_within_an_export():
    placeholders = Placeholders()
    first, _ = scrub(f"{NIK} dan {NIK}", [], placeholders)
    a, b = first.split(" dan ")
    assert a == b != NIK


def test_annotation_and_yaml_rendering():
    assert annotate("cek  antrean [besok]  ya", [Span(14, 19, "visit_date")]) == "cek antrean ([besok](visit_date)) ya"
    yaml_text = render([("greet", "halo kak"), ("ask_hours", "jam [besok](visit_date) buka?")])
    assert "- intent: greet\n  examples: |\n    - halo kak" in yaml_text
    assert normalise("Jam [besok](visit_date) BUKA?!") == "jam besok buka"
