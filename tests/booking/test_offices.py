import copy
from datetime import time

import pytest
import yaml

from antrean.booking.offices import (
    DEFAULT_OFFICES_PATH,
    ApplicationCase,
    OfficeConfigError,
    office_from_metadata,
    parse_offices,
)

DOCUMENT = yaml.safe_load(DEFAULT_OFFICES_PATH.read_text())


def with_change(office_id: str, **changes):
    document = copy.deepcopy(DOCUMENT)
    document["offices"][office_id].update(changes)
    return document


def test_the_four_lwa_offices_are_configured(offices):
    assert {"batam", "jakarta_pusat", "bogor", "tangerang"} <= set(offices)
    assert offices["batam"].name == "Kantor Imigrasi Kelas I Khusus TPI Batam"


def test_defaults_are_merged_under_each_office(offices):
    batam = offices["batam"]
    assert batam.booking_horizon_days == 3
    assert batam.session_minutes == 60
    assert batam.max_active_bookings_per_number == 5
    assert batam.weekly["mon"].registration.start == time(7, 30)
    assert batam.weekly["mon"].registration.end == time(10, 0)
    assert "sat" not in batam.weekly
    assert all(batam.documents[case] for case in ApplicationCase)
    assert batam.fees["paspor_biasa_5_tahun"] == 350000


def test_an_office_keeps_its_own_time_zone(offices):
    assert offices["denpasar"].timezone == "Asia/Makassar"
    assert offices["batam"].timezone == "Asia/Jakarta"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"counters": 0}, "offices.batam.counters"),
        ({"timezone": "Asia/Atlantis"}, "offices.batam.timezone: unknown time zone"),
        ({"conters": 3}, "offices.batam.conters"),
        ({"weekly": {"mon": {"registration": "10:00-07:30"}}}, "offices.batam.weekly.mon.registration"),
        ({"weekly": {"monday": {"registration": "07:30-10:00"}}}, "offices.batam.weekly: unknown weekday"),
        ({"weekly": {"mon": {"service": "08:00-12:00", "breaks": ["12:30-13:00"]}}}, "offices.batam.weekly.mon"),
        ({"queue_prefix": "ab"}, "offices.batam.queue_prefix"),
        ({"closed_dates": ["2026-02-30"]}, "offices.batam.closed_dates.0"),
        ({"interview_minutes": "lima belas"}, "offices.batam.interview_minutes"),
    ],
)
def test_a_bad_setting_is_refused_with_the_field_named(changes, expected):
    with pytest.raises(OfficeConfigError, match=expected.replace(".", r"\.")):
        parse_offices(with_change("batam", **changes))


def test_missing_documents_for_a_case_are_refused():
    document = copy.deepcopy(DOCUMENT)
    document["offices"]["bogor"]["documents"] = {"minor": []}
    with pytest.raises(OfficeConfigError, match=r"offices\.bogor\.documents.*no documents listed"):
        parse_offices(document)


def test_a_whatsapp_number_belongs_to_one_office_only():
    document = with_change("bogor", whatsapp_phone_number_ids=["106540352242922"])
    with pytest.raises(OfficeConfigError, match=r"offices\.bogor\.whatsapp_phone_number_ids.*belongs to batam"):
        parse_offices(document)


def test_office_ids_are_lowercase_words():
    document = copy.deepcopy(DOCUMENT)
    document["offices"]["Jakarta Pusat"] = document["offices"].pop("jakarta_pusat")
    with pytest.raises(OfficeConfigError, match="lowercase"):
        parse_offices(document)


def test_a_file_without_offices_is_refused():
    with pytest.raises(OfficeConfigError, match="offices"):
        parse_offices({"defaults": {}})


def test_the_office_written_to_comes_from_the_channel_metadata(offices):
    batam_number = offices["batam"].whatsapp_phone_number_ids[0]
    assert office_from_metadata({"office_id": "bogor"}, offices) == "bogor"  # the REST channel
    assert office_from_metadata({"phone_number_id": batam_number}, offices) == "batam"  # WhatsApp
    assert office_from_metadata({"office_id": "atlantis", "phone_number_id": "0"}, offices) is None
    assert office_from_metadata(None, offices) is None
