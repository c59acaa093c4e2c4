"""`make validate`: `rasa data validate`, made strict.

Rasa warns about every response that no story or rule names, but the registration form asks its
questions with `utter_ask_<slot>` responses and the custom actions send `utter_explain_<slot>`,
`utter_menu` and others by name — Rasa cannot see those uses. This runs Rasa's validator
unchanged, accepts exactly those warnings for responses that the form or the code really uses
(found here, not listed by hand), and fails on every other warning, so new problems don't hide
among known ones. The rule lives in antrean/model_registry/validation.py, which training uses too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from antrean.model_registry.validation import responses_used_outside_stories, sort_warnings

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    result = subprocess.run([str(Path(sys.executable).with_name("rasa")), "data", "validate"], cwd=ROOT,
                            capture_output=True, text=True)
    output = result.stdout + result.stderr
    accepted, problems = sort_warnings(output.splitlines(), responses_used_outside_stories())
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
