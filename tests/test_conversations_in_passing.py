"""Conversations that used to go wrong, driven through the trained assistant (NLU, dialogue policies
and the real custom actions, in process) on a real booking database:

- a detail given in passing settles a later question: a lost or damaged passport said while asking
  to register is answered at once with how a replacement works, and the kind of application said
  with the registration (or with a LAW message) is not asked again;
- free text around the `#` format: the words before the fields are not taken into the name, and a
  child's registration goes on with what a minor needs (birth certificate, a parent's e-KTP)."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from actions import wiring
from antrean.assistant.startup import install_speedups
from antrean.booking.service import BookingService
from antrean.media.contract import ingest_photo, photo_message_text, photo_metadata
from antrean.media.photo_store import MediaStore
from antrean.runtime.db import make_engine
from tests.actions.conftest import card_photo

pytestmark = pytest.mark.integration

_senders = itertools.count(1)


@pytest.fixture(scope="module")
def agent(trained_model):
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig

    assert install_speedups()  # the in-process action endpoint, as every Rasa worker of ours installs it
    endpoints = AvailableEndpoints(action=EndpointConfig.from_dict({"actions_module": "actions"}))
    return asyncio.run(load_agent(model_path=str(trained_model), endpoints=endpoints))


@pytest.fixture
def chat(agent, sqlite_url, offices, clock, codes, tmp_path):
    engine = make_engine(sqlite_url)
    service = BookingService(engine, offices, clock, codes)
    store = MediaStore(tmp_path / "media")
    wiring.use(service, store)
    sender = f"62812777{next(_senders):05d}"

    def say(text: str = "", photo: bytes | None = None, office: str | None = "batam") -> str:
        # The office a WhatsApp message was written to; None: a channel that does not say.
        metadata = {"office_id": office} if office else {}
        if photo is not None:
            ref, check = ingest_photo(store, photo, sender)
            metadata.update(photo_metadata(ref, check))
            text = photo_message_text(text or None)
        out = CollectingOutputChannel()
        asyncio.run(agent.handle_message(UserMessage(text, out, sender_id=sender, metadata=metadata)))
        return "\n".join(m.get("text") or "" for m in out.messages)

    yield say, service, sender
    wiring.use(None, None)
    engine.dispose()


ASKS_TYPE = "Permohonan paspor apa"
REPLACEMENT = "tidak melalui antrean WhatsApp"


@pytest.mark.parametrize("text", [
    "paspor saya hilang, mau daftar antrian buat ganti",
    "mau daftar antrean, paspor lama saya kecopetan di pasar",
    "kak mau ambil antrian, paspornya sobek kena air",
    "daftar antri ganti nama di paspor",
])
def test_a_lost_or_damaged_passport_said_while_registering_is_answered_at_once(chat, text):
    say, _, _ = chat
    reply = say(text)
    assert REPLACEMENT in reply and "surat" in reply.lower()  # in person, with the police report etc.
    assert ASKS_TYPE not in reply


def test_a_lost_passport_said_in_the_middle_of_the_form_stops_it_with_the_answer(chat):
    say, _, _ = chat
    assert ASKS_TYPE in say("mau daftar antrian paspor")
    reply = say("oh ya paspor saya yang lama hilang, jadi mau ganti")
    assert REPLACEMENT in reply and "dihentikan" in reply


@pytest.mark.parametrize("text, kind", [
    ("mau daftar perpanjang paspor", "Perpanjangan"),
    ("daftar antrian ya kak, paspor saya sudah habis bulan lalu", "Perpanjangan"),
    ("belum pernah punya paspor, mau daftar", "Paspor baru"),
    ("saya mau daftar paspor baru untuk anak saya", "Paspor baru"),
])
def test_the_kind_of_application_said_with_the_registration_is_not_asked_again(chat, text, kind):
    say, service, sender = chat
    assert ASKS_TYPE not in say(text)
    for answer in ["Budi Santoso", "17-08-1990", "Jl. Raya Sekupang No. 12 RT 01/RW 02 Tiban Baru"]:
        assert ASKS_TYPE not in say(answer)
    assert "NIK" in say(photo=card_photo())
    assert "hari kedatangan" in say("2171031708900001")
    summary = say("1")
    assert f"Permohonan: {kind}" in summary
    say("ya")
    [booking] = service.get_by_whatsapp_number(sender)
    assert booking.applicant.application_type.value == ("renewal" if kind == "Perpanjangan" else "new")


@pytest.mark.parametrize("text", [
    "mau daftarin anak saya, Putri Ayu#02-03-2015#Perum Central Raya E2 no 1",
    "daftar buat anak saya Putri Ayu#02-03-2015#Perum Central Raya E2 no 1",
    "Assalamualaikum, sy ingin mendaftarkan putri sy: Putri Ayu#02-03-2015#Perum Central Raya E2 no 1",
    "Putri Ayu#02-03-2015#Perum Central Raya E2 no 1\nmakasih kak",
])
def test_a_childs_law_registration_wrapped_in_chat_goes_on_with_what_a_minor_needs(chat, text):
    say, service, sender = chat
    first = say(text)
    # The name is taken (not refused as "mau daftarin anak saya, Putri Ayu", not asked again).
    assert ASKS_TYPE in first and "Nama hanya boleh" not in first and "nama lengkap" not in first
    # A minor: the birth certificate instead of an e-KTP, then a parent's e-KTP, then the child's NIK.
    assert "akta kelahiran" in say('/inform{"application_type":"new"}')
    assert "orang tua" in say(photo=card_photo())
    assert "NIK" in say(photo=card_photo(1100, 700))
    assert "hari kedatangan" in say("2171034203150001")
    summary = say("1")
    assert "Nama: Putri Ayu" in summary and "anak" in summary and "Alamat: Perum Central Raya E2 no 1" in summary
    say("ya")
    [booking] = service.get_by_whatsapp_number(sender)
    assert booking.applicant.full_name == "Putri Ayu" and booking.applicant.is_minor


def test_the_kind_said_in_the_chat_around_a_law_message_is_not_asked_again(chat):
    say, service, sender = chat
    reply = say("mau perpanjang paspor, Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12 Tiban Baru")
    assert ASKS_TYPE not in reply and "foto e-KTP" in reply  # type, name, birth date, address all given
    assert "NIK" in say(photo=card_photo())
    assert "hari kedatangan" in say("2171031708900001")
    summary = say("1")
    assert "Permohonan: Perpanjangan" in summary and "Nama: Budi Santoso" in summary
    say("ya")
    [booking] = service.get_by_whatsapp_number(sender)
    assert booking.applicant.full_name == "Budi Santoso" and booking.applicant.application_type.value == "renewal"


@pytest.mark.parametrize("text", [
    "mau daftar perpanjang paspor untuk hari kamis",
    "mau ambil antrian perpanjang untuk kamis",
])
def test_the_day_said_with_the_registration_is_not_asked_again(chat, text):
    say, service, sender = chat
    assert ASKS_TYPE not in say(text)
    for answer in ["Budi Santoso", "17-08-1990", "Jl. Raya Sekupang No. 12 RT 01/RW 02 Tiban Baru"]:
        say(answer)
    assert "NIK" in say(photo=card_photo())
    summary = say("2171031708900001")
    assert "hari kedatangan" not in summary and "Hari datang: Kamis, 3 Desember 2026" in summary
    say("ya")
    [booking] = service.get_by_whatsapp_number(sender)
    assert str(booking.day) == "2026-12-03" and booking.applicant.application_type.value == "renewal"


def test_the_office_said_with_the_registration_is_not_asked_on_a_channel_that_does_not_give_it(chat):
    say, _, _ = chat
    assert "kantor imigrasi* mana" in say("mau daftar antrian", office=None)  # not said: asked
    say("batal", office=None)
    reply = say("mau daftar paspor baru di kanim bogor", office=None)
    assert "kantor imigrasi* mana" not in reply and ASKS_TYPE not in reply and "nama lengkap" in reply


# --- a name is changed only when the applicant gives one ----------------------------------------
# The entity extractor tags capitalised words as names: a button's title typed (or a stale button
# tapped, which the WhatsApp channel passes on as its title) replaced the name, and the card check
# then refused the applicant's own e-KTP (seen in `make bench-rush`: hundreds of applicants).

BUDI_CARD_BIRTH = "17-08-1990"


def budi_card() -> bytes:
    from datetime import date

    from benchmarks.ektp_cards import Person, photo_of
    from tests.builders import make_nik

    birth = date(1990, 8, 17)
    return photo_of(Person(nik=make_nik(birth, "L", serial=1234), name="BUDI SANTOSO", birth_place="BATAM",
                           birth_date=birth, sex="L", address="JL. RAYA SEKUPANG NO. 12",
                           province="KEPULAUAN RIAU", regency="KOTA BATAM"))


@pytest.mark.usefixtures("tesseract")
@pytest.mark.parametrize("stray_at_day, stray_at_summary", [
    ("Paspor baru", "Ya, daftarkan"),
    ("Hari", "Ya"),
    ("Perpanjang paspor", "Ya, daftarkan"),
])
def test_words_that_are_not_a_name_do_not_replace_the_name(chat, stray_at_day, stray_at_summary):
    say, service, sender = chat
    assert ASKS_TYPE in say(f"Budi Santoso#{BUDI_CARD_BIRTH}#Jl. Raya Sekupang No. 12 Tiban Baru")
    say("Paspor baru")
    assert "hari kedatangan" in say(photo=budi_card())  # the NIK is read from the card
    assert "hari kedatangan" in say(stray_at_day)  # a stale tap, or a title typed: the day is still asked
    summary = say("1")
    assert "Nama: Budi Santoso" in summary
    assert "Pendaftaran berhasil" in say(stray_at_summary)
    [booking] = service.get_by_whatsapp_number(sender)
    assert booking.applicant.full_name == "Budi Santoso"


def test_a_name_given_on_purpose_later_still_corrects_it(chat):
    say, service, sender = chat
    say("Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12 Tiban Baru")
    say("Paspor baru")
    assert "NIK" in say(photo=card_photo())
    assert "hari kedatangan" in say("2171031708900001")
    say("maaf salah, nama yang benar Budi Santosa")
    summary = say("1")
    assert "Nama: Budi Santosa" in summary
    say("ya")
    [booking] = service.get_by_whatsapp_number(sender)
    assert booking.applicant.full_name == "Budi Santosa"
