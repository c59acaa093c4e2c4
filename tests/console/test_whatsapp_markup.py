"""How staff see WhatsApp messages: with WhatsApp's formatting applied, as the applicant saw them."""

from __future__ import annotations

import pytest

from antrean.console.present import whatsapp_markup


@pytest.mark.parametrize(("text", "html"), [
    ("Nomor antrean Anda: *A-001*", "Nomor antrean Anda: <strong>A-001</strong>"),
    ("_Sesi_ 08.00, ~Kamis~ *Jumat*", "<em>Sesi</em> 08.00, <s>Kamis</s> <strong>Jumat</strong>"),
    ("*_tebal miring_*", "<strong><em>tebal miring</em></strong>"),
    ("```kode *x*``` lalu `ABC`", "<code>kode *x*</code> lalu <code>ABC</code>"),
    # Not formatting: inside words, masked numbers, spaced out, unclosed, across lines.
    ("action_listen dan snake_case_name", "action_listen dan snake_case_name"),
    ("NIK 2171**********01, WA 6281*****7001", "NIK 2171**********01, WA 6281*****7001"),
    ("3 * 4 * 5 dan 3*4*5", "3 * 4 * 5 dan 3*4*5"),
    ("*belum ditutup", "*belum ditutup"),
    ("*baris\nberikut*", "*baris\nberikut*"),
])
def test_whatsapp_formatting_becomes_html(text, html):
    assert str(whatsapp_markup(text)) == html


def test_everything_else_is_escaped():
    assert str(whatsapp_markup('<img src=x onerror="a()"> *<b>*')) == \
        "&lt;img src=x onerror=&#34;a()&#34;&gt; <strong>&lt;b&gt;</strong>"
    assert str(whatsapp_markup(None)) == ""
