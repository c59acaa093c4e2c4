"""SlangNormalizer: chat words become standard words in the tokens; the text never changes."""

from __future__ import annotations

import pytest
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from antrean.assistant.nlu.law_format import LawFormatClassifier
from antrean.assistant.nlu.slang import DEFAULT_LEXICON_PATH, SlangNormalizer, load_lexicon, normalise_word


@pytest.fixture
def normalizer(create_component) -> SlangNormalizer:
    return create_component(SlangNormalizer)


def tokenised(tokenizer, text: str) -> Message:
    message = Message(data={TEXT: text})
    tokenizer.process([message])
    return message


def token_texts(message: Message) -> list[str]:
    return [token.text for token in message.get(TOKENS_NAMES[TEXT])]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sy mo daftar pspor gmn?", ["saya", "mau", "daftar", "paspor", "bagaimana"]),
        ("brp biaya pasport skrg", ["berapa", "biaya", "paspor", "sekarang"]),
        ("tgl brp bsk bs antri", ["tanggal", "berapa", "besok", "bisa", "antre"]),
        ("udh blm ya min", ["sudah", "belum", "ya", "admin"]),
        ("gak jd dtg krn sakit", ["tidak", "jd", "datang", "karena", "sakit"]),
        ("mksh bnyk kak", ["terima kasih", "banyak", "kak"]),
        ("kantor imigrasi dmn yg di batam", ["kantor", "imigrasi", "di mana", "yang", "di", "batam"]),
        ("tlg bantu utk perpanjang", ["tolong", "bantu", "untuk", "perpanjang"]),
        ("knp nggak bisa, kpn buka", ["kenapa", "tidak", "bisa", "kapan", "buka"]),
        ("punten kak", ["permisi", "kak"]),
        ("horas min", ["salam", "admin"]),
        ("saya mau paspor baru", ["saya", "mau", "paspor", "baru"]),
    ],
)
def test_chat_words_are_replaced_by_standard_words(normalizer, tokenizer, text, expected):
    message = tokenised(tokenizer, text)

    normalizer.process([message])

    assert token_texts(message) == expected


@pytest.mark.parametrize(
    ("word", "previous", "expected"),
    [
        ("Gmn", None, "Bagaimana"),
        ("PSPOR", "PERPANJANG", "PASPOR"),
        ("Sy", None, "Saya"),
        ("g", "aku", "tidak"),
        ("y", "oke", "ya"),
        ("G", "aku", None),  # capital one-letter words are block/unit letters, not slang
        ("g", "blok", None),
        ("g", "No.12", None),
        ("y", "gg", None),
        ("paspor", "mau", None),
        ("2171", None, None),
    ],
)
def test_a_word_keeps_its_casing_and_address_letters_stay(word, previous, expected):
    assert normalise_word(word, previous, load_lexicon()) == expected


def test_the_message_text_and_token_offsets_are_untouched(normalizer, tokenizer):
    text = "Sy mo dftr pspor, alamat Blok G no 5 Tiban"
    message = tokenised(tokenizer, text)
    offsets_before = [(t.start, t.end) for t in message.get(TOKENS_NAMES[TEXT])]

    normalizer.process([message])

    tokens = message.get(TOKENS_NAMES[TEXT])
    assert message.get(TEXT) == text
    assert [(t.start, t.end) for t in tokens] == offsets_before
    assert [text[t.start : t.end] for t in tokens][:4] == ["Sy", "mo", "dftr", "pspor"]
    assert token_texts(message)[:4] == ["Saya", "mau", "daftar", "paspor"]
    assert "G" in token_texts(message)


def test_training_annotations_stay_aligned_with_the_tokens(normalizer, tokenizer):
    text = "sy mo daftar, nama sy Budi Santoso lahir tgl 17 agt 1990"
    name_start = text.index("Budi")
    date_start = text.index("17 agt")
    entities = [
        {"entity": "person_name", "start": name_start, "end": name_start + 12, "value": "Budi Santoso"},
        {"entity": "birth_date", "start": date_start, "end": date_start + 11, "value": "17 agt 1990"},
    ]
    example = Message(data={TEXT: text, INTENT: "inform", ENTITIES: entities})
    training_data = TrainingData([example])
    tokenizer.process_training_data(training_data)

    normalizer.process_training_data(training_data)

    (processed,) = training_data.training_examples
    assert processed.get(TEXT) == text
    assert processed.get(ENTITIES) == entities
    token_edges = {t.start for t in processed.get(TOKENS_NAMES[TEXT])} | {
        t.end for t in processed.get(TOKENS_NAMES[TEXT])
    }
    for entity in entities:
        assert text[entity["start"] : entity["end"]] == entity["value"]
        assert {entity["start"], entity["end"]} <= token_edges
    assert "tanggal" in token_texts(processed)


def test_law_fields_survive_normalisation_before_the_law_reader(normalizer, tokenizer, create_component):
    text = "Aku Yg Terakhir#17-08-1990#Gg. Sm Blok G No 3 Tiban"
    message = tokenised(tokenizer, text)

    normalizer.process([message])
    create_component(LawFormatClassifier).process([message])

    values = {e["entity"]: e["value"] for e in message.get(ENTITIES)}
    assert values == {
        "person_name": "Aku Yg Terakhir",
        "birth_date": "17-08-1990",
        "address": "Gg. Sm Blok G No 3 Tiban",
    }


def test_split_tokens_get_their_own_lemma(normalizer, tokenizer):
    # Rasa's token_pattern split copies "Budi#17-08-1990" as the lemma of every piece.
    message = tokenised(tokenizer, "Budi#17-08-1990")

    normalizer.process([message])

    assert [(t.text, t.lemma) for t in message.get(TOKENS_NAMES[TEXT])] == [
        ("Budi", "Budi"),
        ("17-08-1990", "17-08-1990"),
    ]


def test_the_bundled_lexicon_is_our_own_and_well_formed():
    header = DEFAULT_LEXICON_PATH.read_text(encoding="utf-8").splitlines()[:5]
    lexicon = load_lexicon()

    assert any("written by hand for the antrean project" in line.lower() for line in header)
    assert len(lexicon) > 150
    assert all(key == key.lower() and " " not in key for key in lexicon)
    assert all(key != value for key, value in lexicon.items())
    # Words that are also common in names or addresses must never be rewritten.
    assert {"no", "dr", "kk", "ni"}.isdisjoint(lexicon)


@pytest.mark.parametrize(
    "line", ["sy\tsaya\textra", "sy saya", "di mana\tdimana", "\tsaya"], ids=["3 cols", "no tab", "2 words", "empty"]
)
def test_a_malformed_lexicon_line_is_rejected_with_its_line_number(tmp_path, line):
    path = tmp_path / "lexicon.tsv"
    path.write_text(f"# comment\nslang\tstandard\n{line}\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"lexicon\.tsv:3"):
        load_lexicon(path)


def test_an_edited_lexicon_changes_the_training_fingerprint(tmp_path):
    path = tmp_path / "lexicon.tsv"
    path.write_text("sy\tsaya\n", encoding="utf-8")
    before = SlangNormalizer.fingerprint_addon({"lexicon_path": str(path)})

    path.write_text("sy\tsaya\ngmn\tbagaimana\n", encoding="utf-8")

    assert SlangNormalizer.fingerprint_addon({"lexicon_path": str(path)}) != before


def test_a_configured_lexicon_replaces_the_bundled_one(tmp_path, create_component, tokenizer):
    path = tmp_path / "lexicon.tsv"
    path.write_text("paspot\tpaspor\n", encoding="utf-8")
    message = tokenised(tokenizer, "sy paspot")

    create_component(SlangNormalizer, lexicon_path=str(path)).process([message])

    assert token_texts(message) == ["sy", "paspor"]
