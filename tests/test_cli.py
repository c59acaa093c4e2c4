import csv
import io
import json
import re
import subprocess
import sys

import pytest

from antrean.cli import main
from antrean.runtime.bootstrap import booking_service
from tests.builders import make_request

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTREAN_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("ANTREAN_CLOCK", "2026-12-01T08:00:00+07:00")
    monkeypatch.setenv("ANTREAN_SECRET_KEY", "k" * 40)
    return tmp_path


@pytest.fixture
def booked(env):
    assert main(["db", "upgrade"]) == 0
    service = booking_service()
    first = service.book(make_request(serial=1, whatsapp_number="6281234567890"))
    service.book(make_request(serial=2, full_name="siti aminah"))
    service.engine.dispose()
    return first


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_offices_shows_batams_capacity_per_day_and_session(env, capsys):
    code, out, _ = run(capsys, "offices")
    assert code == 0
    batam = next(line for line in out.splitlines() if line.startswith("batam"))
    assert "250" in batam and "2026-12-02" in batam and "08:00–09:00 (36), 09:00–10:00 (36)" in batam
    # A seat count never touches a time range, where "09:00:36" would read as a clock time.
    assert not re.search(r"\d\d:\d\d:\d", out)


def test_availability_lists_the_bookable_days(booked, capsys):
    code, out, _ = run(capsys, "availability", "--office", "batam")
    assert code == 0
    assert "2026-12-02  08:00–09:00" in out and "2026-12-04" in out
    wednesday_first = next(line for line in out.splitlines() if line.startswith("2026-12-02  08:00"))
    assert wednesday_first.split()[-3:] == ["36", "2", "34"]


def test_availability_of_a_closed_day_says_why_and_lists_no_seats(env, capsys):
    assert main(["db", "upgrade"]) == 0
    code, out, _ = run(capsys, "availability", "--office", "batam", "--date", "2026-12-25")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("2026-12-25")]
    # Christmas 2026 is a Friday, a day with sessions: none of them may show seats "left".
    assert len(rows) == 1, out
    assert rows[0].split()[1:5] == ["closed", "0", "0", "0"]
    assert rows[0].endswith("hari libur nasional (Hari Raya Natal)")  # the holidays package's Indonesian name


def test_a_closure_added_after_bookings_were_made_says_how_many_to_move(booked, capsys, tmp_path, monkeypatch):
    import yaml

    from antrean.runtime.settings import REPO_ROOT

    config = yaml.safe_load((REPO_ROOT / "config" / "offices.yml").read_text())
    config["offices"]["batam"]["closed_dates"] = ["2026-12-02"]
    offices = tmp_path / "offices.yml"
    offices.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("ANTREAN_OFFICES", str(offices))
    code, out, _ = run(capsys, "availability", "--office", "batam", "--date", "2026-12-02")
    assert code == 0
    [row] = [line for line in out.splitlines() if line.startswith("2026-12-02")]
    assert "kantor tutup; 2 booked before the closure: reschedule them" in row


def test_the_day_list_masks_personal_data_by_default(booked, capsys):
    code, out, _ = run(capsys, "bookings", "list", "--office", "batam", "--date", "2026-12-02")
    assert code == 0
    assert "A-001" in out and "A-002" in out and "Siti Aminah" in out
    assert booked.applicant.nik not in out and "6281234567890" not in out


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_day_list_exports_as_csv_and_json(booked, capsys, fmt):
    code, out, _ = run(capsys, "bookings", "list", "--office", "batam", "--date", "2026-12-02", "--format", fmt,
                       "--unmasked")
    assert code == 0
    records = json.loads(out) if fmt == "json" else list(csv.DictReader(io.StringIO(out)))
    assert [r["queue"] for r in records] == ["A-001", "A-002"]
    assert records[0]["nik"] == booked.applicant.nik
    assert records[0]["code"] == booked.code


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["availability", "--office", "medan"], "error: unknown_office"),
        (["bookings", "list", "--office", "medan", "--date", "2026-12-02"], "error: unknown_office"),
    ],
)
def test_errors_are_one_line_and_a_non_zero_exit(booked, capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code != 0 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_a_database_without_tables_gets_a_hint(env, capsys):
    code, _, err = run(capsys, "bookings", "list", "--office", "batam", "--date", "2026-12-02")
    assert code == 1
    assert "db upgrade" in err and err.count("\n") == 1


def test_a_bad_clock_setting_is_a_clear_error(env, capsys, monkeypatch):
    monkeypatch.setenv("ANTREAN_CLOCK", "kemarin")
    code, _, err = run(capsys, "offices")
    assert code == 2 and "ANTREAN_CLOCK" in err


def test_a_bad_date_argument_is_refused_by_the_parser(env, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bookings", "list", "--office", "batam", "--date", "besok"])
    assert exit_.value.code == 2
    assert "not a date like 2026-12-01" in capsys.readouterr().err


def test_python_dash_m_antrean_runs(env):
    result = subprocess.run([sys.executable, "-m", "antrean", "db", "upgrade"], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "database is up to date" in result.stdout


def test_serve_migrates_a_new_database_before_starting_the_stack(env, monkeypatch):
    from sqlalchemy import create_engine, inspect

    import antrean.runtime.serve

    started = []
    monkeypatch.setattr(antrean.runtime.serve, "serve", lambda: started.append(True))
    assert main(["serve"]) == 0
    engine = create_engine(f"sqlite:///{env / 'cli.sqlite3'}")
    assert started and {"bookings", "staff_users", "whatsapp_inbox"} <= set(inspect(engine).get_table_names())
    engine.dispose()
