"""`make validate`: `rasa data validate`, made strict.

Rasa warns about every response that no story or rule names, but the registration form asks its
questions with `utter_ask_<slot>` responses and the custom actions send `utter_explain_<slot>`,
`utter_menu` and others by name — Rasa cannot see those uses. This runs Rasa's validator
unchanged, accepts exactly those warnings for responses that the form or the code really uses
(found here, not listed by hand), and fails on every other warning, so new problems don't hide
among known ones."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
UNUSED_RESPONSE = re.compile(r"UserWarning: The utterance '(utter_\w+)' is not used in any story or rule\.")
# Rasa's own deprecation noise from its dependencies is not about our data.
DEPENDENCY_NOISE = re.compile(r"DeprecationWarning|MovedIn20Warning|FutureWarning|PyparsingDeprecationWarning")


def responses_used_outside_stories() -> set[str]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    form_slots = {slot for form in domain.get("forms", {}).values() for slot in form.get("required_slots", [])}
    code = "\n".join(path.read_text() for path in sorted((ROOT / "actions").glob("*.py")))
    # Slots a validation action adds to a form at run time are asked the same way.
    form_slots |= {slot for slot in domain.get("slots", {}) if f'"{slot}"' in code and f"utter_ask_{slot}" in
                   domain.get("responses", {})}
    used = {f"utter_ask_{slot}" for slot in form_slots}
    used |= set(re.findall(r"""response=["'](utter_\w+)["']""", code))
    if 'f"utter_explain_{slot}"' in code:  # the failure counter explains any form slot
        used |= {f"utter_explain_{slot}" for slot in form_slots}
    return used


def main() -> int:
    result = subprocess.run([str(Path(sys.executable).with_name("rasa")), "data", "validate"], cwd=ROOT,
                            capture_output=True, text=True)
    output = result.stdout + result.stderr
    used = responses_used_outside_stories()
    accepted, problems = [], []
    for line in output.splitlines():
        if "Warning" not in line or DEPENDENCY_NOISE.search(line):
            continue
        unused = UNUSED_RESPONSE.search(line)
        if unused and unused.group(1) in used:
            accepted.append(unused.group(1))
        else:
            problems.append(line.strip())
    if result.returncode != 0:
        print(output)
        print("rasa data validate failed", file=sys.stderr)
        return result.returncode
    if problems:
        print("\n".join(problems))
        print(f"rasa data validate: {len(problems)} warning(s) to fix", file=sys.stderr)
        return 1
    print(f"rasa data validate: no errors, no warnings ({len(accepted)} responses used only by the form "
          "and the custom actions, checked in the code)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
