"""Rasa's data validation (`rasa data validate`), run before every training, and the rule that
`make validate` (scripts/validate_data.py) applies to its warnings.

Rasa warns about every response that no story or rule names, but the registration form asks its
questions with `utter_ask_<slot>` responses and the custom actions send `utter_explain_<slot>`,
`utter_menu` and others by name. Those warnings are accepted for exactly the responses that the
form or the code really uses (found here, not listed by hand); every other warning is a problem.
Training stops on Rasa's errors only; its remaining warnings are shown and kept in the manifest
(a candidate without one intent's examples is still trained, and the gate judges it)."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml

from antrean.runtime.db import REPO_ROOT

UNUSED_RESPONSE = re.compile(r"The utterance '(utter_\w+)' is not used in any story or rule\.")
# Rasa's own deprecation noise from its dependencies is not about our data.
DEPENDENCY_NOISE = re.compile(r"DeprecationWarning|MovedIn20Warning|FutureWarning|PyparsingDeprecationWarning")


def responses_used_outside_stories(domain_path: Path = REPO_ROOT / "domain.yml",
                                   actions_dir: Path = REPO_ROOT / "actions") -> set[str]:
    domain = yaml.safe_load(Path(domain_path).read_text())
    form_slots = {slot for form in domain.get("forms", {}).values() for slot in form.get("required_slots", [])}
    code = "\n".join(path.read_text() for path in sorted(Path(actions_dir).glob("*.py")))
    # Slots a validation action adds to a form at run time are asked the same way.
    form_slots |= {slot for slot in domain.get("slots", {}) if f'"{slot}"' in code and f"utter_ask_{slot}" in
                   domain.get("responses", {})}
    used = {f"utter_ask_{slot}" for slot in form_slots}
    used |= set(re.findall(r"""response=["'](utter_\w+)["']""", code))
    if 'f"utter_explain_{slot}"' in code:  # the failure counter explains any form slot
        used |= {f"utter_explain_{slot}" for slot in form_slots}
    return used


def sort_warnings(lines: list[str], used: set[str]) -> tuple[list[str], list[str]]:
    """(accepted unused-response warnings, warnings to fix) among Rasa's output lines."""
    accepted, problems = [], []
    for line in lines:
        if "Warning" not in line or DEPENDENCY_NOISE.search(line):
            continue
        unused = UNUSED_RESPONSE.search(line)
        if unused and unused.group(1) in used:
            accepted.append(unused.group(1))
        else:
            problems.append(line.strip())
    return accepted, problems


@dataclass(frozen=True)
class ValidationResult:
    errors: list[str]
    warnings: list[str]  # after the rule above

    @property
    def valid(self) -> bool:
        return not self.errors


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def validate(data: Path, config: Path, domain: Path) -> ValidationResult:
    """What `rasa data validate --data … --config … --domain …` checks, run in this process
    (Rasa loaded lazily) so that a training needs one Rasa start-up, not two."""
    from rasa.cli.utils import validate_files
    from rasa.shared.exceptions import RasaException
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.utils.common import EXPECTED_WARNINGS

    collected, printed = _Collect(), io.StringIO()
    logging.getLogger().addHandler(collected)
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
            warnings.simplefilter("always")
            for category, pattern in EXPECTED_WARNINGS:  # what `rasa data validate` hides too
                warnings.filterwarnings("ignore", message=f".*{pattern}", category=category)
            try:
                importer = TrainingDataImporter.load_from_config(str(config), str(domain), [str(data)])
                validate_files(fail_on_warnings=False, max_history=None, importer=importer)
                failed = False
            except SystemExit:
                failed = True  # validate_files prints its verdict and exits on errors
            except (RasaException, ValueError, OSError) as error:
                failed = True
                collected.messages.append(str(error))
    finally:
        logging.getLogger().removeHandler(collected)
    warning_lines = [f"{w.category.__name__}: {w.message}" for w in caught]
    _, problems = sort_warnings(warning_lines, responses_used_outside_stories(domain, REPO_ROOT / "actions"))
    if not failed:
        return ValidationResult([], problems)
    # Rasa reports some errors as warnings (an unknown action in a rule) and ends with a printed
    # verdict: all of it is the message.
    printed_lines = [_plain(line.strip()) for line in printed.getvalue().splitlines() if line.strip()]
    errors = problems + [m for m in collected.messages if m] + printed_lines
    return ValidationResult(errors or ["rasa data validate failed"], problems)


def _plain(line: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", line)
