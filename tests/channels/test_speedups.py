"""The cached action-response validator must accept and refuse exactly what Rasa's own does."""

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

import antrean.channels  # noqa: F401  (installs the speed-ups, as Rasa's credentials loading does)
from antrean.channels import speedups

VALID_RESULTS = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "nik", "value": "2171031708900001", "timestamp": None},
                {"event": "active_loop", "name": None}],
     "responses": [{"text": "Terima kasih", "buttons": [{"title": "Ya", "payload": "/affirm"}]}]},
    {"events": [{"event": "followup", "name": "action_listen"}], "responses": [{"response": "utter_greet"}]},
]
INVALID_RESULTS = [
    {"events": [{"event": "slot"}]},  # a slot event without a name
    {"events": "not a list"},
    {"events": [], "responses": ["not an object"]},
]


def test_installed_on_rasa_remote_actions():
    assert RemoteAction._validate_action_result is speedups._validate_action_result


@pytest.mark.parametrize("result", VALID_RESULTS)
def test_accepts_what_rasa_accepts(result):
    jsonschema.validate(result, RemoteAction.action_response_format_spec())  # Rasa's own check agrees
    assert RemoteAction("action_x", None)._validate_action_result(result) is True


@pytest.mark.parametrize("result", INVALID_RESULTS)
def test_refuses_what_rasa_refuses_with_the_same_hint(result):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(result, RemoteAction.action_response_format_spec())
    with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server response"):
        RemoteAction("action_x", None)._validate_action_result(result)
