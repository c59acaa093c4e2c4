"""Personal data inside free text, masked for staff without the personal-data right (issue 15.13):
the LAW `#` message, the assistant's confirmation summary, birth dates in words, addresses, and the
values a conversation gave, while the words around them stay readable (no database, no Rasa)."""

from __future__ import annotations

from datetime import date

from antrean.protection.masking import MASK, KnownValues, mask_text

WRITTEN = date(2026, 12, 1)
SUMMARY = ("*Periksa data pendaftaran:*\nKantor: Batam\nPermohonan: Paspor baru\nNama: Budi Santoso\n"
           "Tanggal lahir: Jumat, 17 Agustus 1990\nAlamat: Jl. Raya Sekupang No. 12, Tiban Baru\n"
           "NIK: 2171031708900001\nHari datang: Rabu, 2 Desember 2026\n\nSudah benar?")


def conversation_values() -> KnownValues:
    known = KnownValues()
    for name, value in (("person_name", "Budi Santoso"), ("birth_date", "1990-08-17"), ("nik", "2171031708900001"),
                        ("address", "Jl. Raya Sekupang No. 12, Tiban Baru"), ("office", "batam"),
                        ("application_type", "new")):
        known.add(name, value)
    return known


def test_a_law_message_is_masked_field_by_field_and_keeps_its_shape():
    text = "Budi Santoso#17-08-1990#Perum Tiban Indah Blok C No 5 Sekupang"
    masked = mask_text(text, written=WRITTEN)
    assert len(masked) == len(text) and masked.count("#") == 2
    for secret in ("Budi", "Santoso", "17", "1990", "Tiban", "Indah", "Sekupang"):
        assert secret not in masked
    assert masked.startswith(f"{MASK * 4} {MASK * 7}#")


def test_the_confirmation_summary_masks_the_applicant_and_keeps_the_rest():
    masked = mask_text(SUMMARY, conversation_values(), written=WRITTEN)
    assert len(masked) == len(SUMMARY)
    for secret in ("Budi", "Santoso", "Agustus", "1990", "Sekupang", "Tiban", "2171031708900001"):
        assert secret not in masked
    for kept in ("Kantor: Batam", "Permohonan: Paspor baru", "Nama: ", "Tanggal lahir: ", "Alamat: ",
                 "NIK: 2171**********01", "Hari datang: Rabu, 2 Desember 2026", "Sudah benar?"):
        assert kept in masked  # the appointment (on or after the day written) is not a birth date


def test_birth_dates_in_words_and_digits_are_masked_inside_a_sentence():
    for text, secret in (("kak saya lahir 17 agustus 1990 ya", "agustus 1990"), ("tgl lahir 17/8/90", "17/8/90"),
                         ("lahirnya 17081990 kak", "17081990")):
        masked = mask_text(text, written=WRITTEN)
        assert secret not in masked and masked.startswith(text.split(" ")[0])
    assert mask_text("kak saya lahir 17 agustus 1990 ya", written=WRITTEN).endswith(" ya")


def test_a_name_the_conversation_gave_is_masked_wherever_it_comes_back():
    known = conversation_values()
    assert mask_text("ini budi kak, santoso itu nama ayah", known) == f"ini {MASK * 4} kak, {MASK * 7} itu nama ayah"
    assert mask_text("alamat saya jl raya sekupang no. 12, tiban baru", known) == (
        "alamat saya " + "".join(MASK if c.isalnum() else c for c in "jl raya sekupang no. 12, tiban baru"))
    assert mask_text("jam buka kantor batam?", known) == "jam buka kantor batam?"  # office is not personal


def test_the_nlus_personal_entities_are_masked_and_others_kept():
    text = "nama saya Rina Kartika mau daftar besok"
    entities = [{"entity": "person_name", "start": 10, "end": 22}, {"entity": "visit_date", "start": 34, "end": 39}]
    assert mask_text(text, entities=entities) == f"nama saya {MASK * 4} {MASK * 7} mau daftar besok"


def test_niks_and_phone_numbers_keep_the_usual_digits_in_their_own_spacing():
    assert mask_text("nik 2171 0317 0890 0001, wa +62 812 3456 7890") == "nik 2171 **** **** **01, wa +62 81* **** 7890"
