"""Performance fixes for Rasa 3.6 itself, installed by importing Antrean's channels (which every
Rasa server of ours loads from credentials.yml).

Rasa checks every action-server response with `jsonschema.validate(result, spec)`. That call
re-checks the (large, constant) event schema against the JSON Schema meta-schema and builds a new
validator each time: profiled under `make bench-assistant` it cost ~240 ms of the Rasa event
loop per custom-action call, more than everything else in a turn together. Validating with one
validator built once gives the same answers (same schema, same errors) in a few milliseconds."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL


@lru_cache(maxsize=1)
def _action_response_validator():
    spec = RemoteAction.action_response_format_spec()
    validator_class = validator_for(spec)
    validator_class.check_schema(spec)  # once, instead of on every response
    return validator_class(spec)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    try:
        _action_response_validator().validate(result)
    except ValidationError as error:
        # The same hint Rasa adds, so logs read as they always did.
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from "
            f"the Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise
    return True


def install() -> None:
    RemoteAction._validate_action_result = _validate_action_result
