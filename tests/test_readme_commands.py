"""The guide cannot drift from the code: every `python -m antrean …` command written in README.md or
docs/*.md must parse with the CLI's own argument parser (antrean.cli.build_parser), and the harmless
ones run for real, in the order written, against a temporary database.

How commands are found: from `python -m antrean` to the end of the inline code span (`…`) it sits
in, or in a code block to the end of the line, a `#` comment, or a shell operator (`|`, `>`, `;`,
`&&`); an inline one must not be broken over two lines. So documented commands use realistic example
values, never placeholders; the one exception is `python -m antrean …` on its own (the ellipsis as
the whole argument list), which names the command line as a whole."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass

import pytest

from antrean.cli import build_parser, main
from antrean.runtime.db import REPO_ROOT

DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
PREFIX = "python -m antrean"
SHELL_OPERATORS = {"|", "||", ">", ">>", "<", ";", "&", "&&"}
# Commands that change nothing outside the temporary database (or only read it); the others (servers,
# sending reminders, erasing, exporting) are parsed only.
RUN_FOR_REAL = {("db", "upgrade"), ("offices",), ("availability",), ("bookings", "list"), ("users", "add"),
                ("users", "list"), ("retention", "run")}
PASSWORD = "kopi-tubruk-pagi-2026"


@dataclass(frozen=True)
class Command:
    document: str
    line: int
    text: str  # as written, from `python -m antrean`

    @property
    def argv(self) -> list[str]:
        lexer = shlex.shlex(self.text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = []
        for word in lexer:
            if word in SHELL_OPERATORS:
                break
            words.append(word)
        return words[len(PREFIX.split()):]

    def __str__(self) -> str:
        return f"{self.document}:{self.line}: {self.text}"


def documented_commands() -> list[Command]:
    commands = []
    for path in DOCUMENTS:
        in_block = False
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.lstrip().startswith("```"):
                in_block = not in_block
                continue
            # `python -m antrean.runtime.settings` is another module, not a command of the CLI.
            for match in re.finditer(re.escape(PREFIX) + r"(?![\w.])", line):
                inline = line.count("`", 0, match.start()) % 2 == 1
                if inline:
                    end = line.find("`", match.end())
                    # A code span broken over two lines cannot be checked: written so, it fails to parse.
                    text = line[match.start():end] if end >= 0 else line[match.start():] + " BROKEN-OVER-TWO-LINES"
                elif in_block:
                    text = re.split(r"\s#", line[match.start():])[0]
                else:
                    continue  # named in prose, not a command to type
                if text.strip() != f"{PREFIX} …":
                    commands.append(Command(path.relative_to(REPO_ROOT).as_posix(), number, text.strip()))
    return commands


COMMANDS = documented_commands()


def test_the_guide_documents_the_commands_a_new_user_needs_first():
    written = {tuple(command.argv[:2]) for command in COMMANDS}
    assert {("db", "upgrade"), ("users", "add")} <= written, [str(c) for c in COMMANDS]


def parse(command: Command):
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return build_parser().parse_args(command.argv)
    except SystemExit:
        pytest.fail(f"{command}\n  no longer parses: {errors.getvalue().strip().splitlines()[-1]}", pytrace=False)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c.document}:{c.line}")
def test_a_documented_command_parses(command):
    parse(command)


def subcommand(argv: list[str]) -> tuple[str, ...]:
    return tuple(argv[:2]) if tuple(argv[:2]) in RUN_FOR_REAL else tuple(argv[:1])


@pytest.mark.integration
@pytest.mark.slow  # ten commands against a fresh database
def test_the_harmless_documented_commands_run_against_a_fresh_database(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ANTREAN_DATABASE_URL", f"sqlite:///{tmp_path / 'antrean.sqlite3'}")
    monkeypatch.setenv("ANTREAN_TRACKER_URL", f"sqlite:///{tmp_path / 'conversations.sqlite3'}")
    monkeypatch.setenv("ANTREAN_MEDIA_DIR", str(tmp_path / "media"))
    monkeypatch.setenv("ANTREAN_SECRET_KEY", "readme-test-secret-key-0123456789abcdef")
    monkeypatch.setenv("ANTREAN_CLOCK", "2026-12-01T08:00:00+07:00")
    runnable = [c for c in COMMANDS if subcommand(c.argv) in RUN_FOR_REAL
                and (c.argv[:2] != ["users", "add"] or "--password-stdin" in c.argv)]
    assert ["db", "upgrade"] in [c.argv[:2] for c in runnable]
    runnable.sort(key=lambda c: c.argv[:2] != ["db", "upgrade"])  # a new user's first step
    for command in runnable:
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        code = main(command.argv)
        captured = capsys.readouterr()
        assert code == 0, f"{command}\n  exit {code}: {captured.err.strip()}"
        assert "Traceback" not in captured.err


@pytest.mark.integration
@pytest.mark.slow  # a process of its own, without a terminal
def test_users_add_without_a_terminal_says_to_use_password_stdin(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "ANTREAN_DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite3'}",
           "ANTREAN_SECRET_KEY": "readme-test-secret-key-0123456789abcdef"}
    # No controlling terminal (a new session) and nothing on stdin: how cron or CI runs it.
    result = main_in_subprocess(["users", "add", "siti", "--name", "Siti Aminah", "--role", "security"], env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "EOFError" not in result.stderr
    assert result.stderr.strip() == "error: no terminal to ask for the password on: give it on stdin with " \
                                    "--password-stdin"


def main_in_subprocess(argv, env):
    return subprocess.run([sys.executable, "-m", "antrean", *argv], env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, start_new_session=True, timeout=120)


def test_a_command_that_no_longer_parses_is_reported_with_its_line():
    wrong = Command("README.md", 7, "python -m antrean users add --username siti --name Siti --role security")
    with pytest.raises(pytest.fail.Exception, match=r"README.md:7: .*--username siti.*\n.*(unrecognized|required)"):
        parse(wrong)


def test_commands_end_at_comments_pipes_and_code_span_ends_and_a_broken_span_fails(tmp_path, monkeypatch):
    guide = tmp_path / "guide.md"
    guide.write_text("Run `python -m antrean db upgrade` first, or `python -m antrean\n"
                     "offices`.\n"
                     "```sh\n"
                     "printf 'x\\n' | python -m antrean users add budi --name \"Budi Hartono\" --role admin"
                     " --password-stdin  # scripted\n"
                     "python -m antrean bookings list --office batam --date 2026-12-02 --format csv > day.csv\n"
                     "```\n"
                     "The operator CLI, `python -m antrean …`, and python -m antrean in prose.\n")
    monkeypatch.setattr(f"{__name__}.DOCUMENTS", [guide])
    monkeypatch.setattr(f"{__name__}.REPO_ROOT", tmp_path)
    found = documented_commands()
    assert [(c.line, c.argv) for c in found] == [
        (1, ["db", "upgrade"]),
        (1, ["BROKEN-OVER-TWO-LINES"]),
        (4, ["users", "add", "budi", "--name", "Budi Hartono", "--role", "admin", "--password-stdin"]),
        (5, ["bookings", "list", "--office", "batam", "--date", "2026-12-02", "--format", "csv"]),
    ]
    with pytest.raises(pytest.fail.Exception, match=re.escape("guide.md:1: python -m antrean BROKEN-OVER-TWO-LINES")):
        parse(found[1])


def shell_lines(path) -> list[tuple[int, str]]:
    """The lines of a document's ```sh blocks, a backslash-continued line joined with the next."""
    lines, in_sh, pending, start = [], False, "", 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fence = line.strip()
        if fence.startswith("```"):
            in_sh = fence == "```sh" and not in_sh
            continue
        if not in_sh:
            continue
        start = start or number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text, pending = (pending + line).strip(), ""
        if text and not text.startswith("#"):
            lines.append((start, text))
        start = 0
    return lines


def command_words(text: str) -> list[str]:
    """The command word of each simple command of a shell line (after VAR=value assignments)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words, expecting = [], True
    for word in lexer:
        if word in SHELL_OPERATORS or word in {"|&", "(", ")"}:
            expecting = True
        elif expecting and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
            words.append(word)
            expecting = False
    return words


SHELL_LINES = [(path.relative_to(REPO_ROOT).as_posix(), number, text)
               for path in DOCUMENTS for number, text in shell_lines(path)]


@pytest.mark.parametrize(("document", "line", "text"), SHELL_LINES, ids=[f"{d}:{n}" for d, n, _ in SHELL_LINES])
def test_a_documented_shell_line_pastes_into_a_shell(document, line, text):
    """Shell syntax, and every command of the line exists: a line such as
    `--format table|csv|json [--unmasked]` pipes into commands named csv and json."""
    syntax = subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True)
    assert syntax.returncode == 0, f"{document}:{line}: {text}\n  {syntax.stderr.strip()}"
    for word in command_words(text):
        known = subprocess.run(["bash", "-c", f"type -t {shlex.quote(word)}"], capture_output=True, text=True,
                               cwd=REPO_ROOT).stdout.strip()
        assert known or (REPO_ROOT / word).exists(), f"{document}:{line}: {text}\n  no command {word!r}"


def test_a_line_piping_into_made_up_commands_is_caught():
    assert command_words("python -m antrean bookings list --format table|csv|json [--unmasked]") == [
        "python", "csv", "json"]
    assert command_words('ANTREAN_X=1 printf "%s\\n" "$P" | .venv/bin/python -m antrean users add a && make run') == [
        "printf", ".venv/bin/python", "make"]
