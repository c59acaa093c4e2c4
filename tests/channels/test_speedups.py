"""Each of Rasa's speed-ups must give exactly what Rasa's own code gives."""

import asyncio

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rasa.core.actions.action import RemoteAction
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
    deserialise_events,
)

from antrean.assistant import speedups
from antrean.assistant.startup import install_speedups


@pytest.fixture(autouse=True, scope="module")
def installed():
    assert install_speedups()  # as every Rasa worker of ours does when it creates its tracker store


VALID_RESULTS = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "nik", "value": "2171031708900001", "timestamp": None},
                {"event": "active_loop", "name": None}],
     "responses": [{"text": "Terima kasih", "buttons": [{"title": "Ya", "payload": "/affirm"}]}]},
    {"events": [{"event": "followup", "name": "action_listen"}], "responses": [{"response": "utter_greet"}]},
]
INVALID_RESULTS = [
    {"events": [{"event": "slot"}]},  # a slot event without a name
    {"events": [{"event": "slot", "name": 7, "value": "x"}]},  # a name that is not a string
    {"events": [{"event": "no_such_kind"}]},
    {"events": [{"name": "nik"}]},  # no kind at all
    {"events": [{"event": "followup", "name": "action_listen"}, {"event": "slot", "value": 1}]},  # the second is bad
    {"events": [{"event": "user", "text": "x", "parse_data": {"entities": [{"entity": "nik"}]}}]},  # no value
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


# --- event types -------------------------------------------------------------------------------

def _concrete_event_types():
    from rasa.shared.utils.common import all_subclasses

    return sorted({cls.type_name for cls in all_subclasses(Event)})


@pytest.mark.parametrize("type_name", _concrete_event_types())
def test_event_types_resolve_to_the_class_rasa_finds(type_name):
    assert Event.resolve_by_type(type_name) is speedups._rasa_resolve_by_type(type_name)
    assert Event.resolve_by_type(type_name) is Event.resolve_by_type(type_name)  # and again, remembered


def test_unknown_event_types_behave_as_in_rasa():
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        Event.resolve_by_type("no_such_event")
    assert Event.resolve_by_type("no_such_event", default=UserUttered) is UserUttered
    assert Event.resolve_by_type("topic") is None
    assert "no_such_event" not in speedups._event_classes


def test_stored_events_load_as_the_same_objects():
    events = [UserUttered("halo", {"name": "greet", "confidence": 0.9}), SlotSet("nik", "2171031708900001"),
              ActionExecuted("utter_greet"), ActiveLoop("registration_form"), SessionStarted()]
    assert deserialise_events([event.as_dict() for event in events]) == events


# --- the model's graph ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def agent(trained_model):
    from rasa.core.agent import load_agent

    return asyncio.run(load_agent(model_path=str(trained_model)))


def _with_dask(runner, **kwargs):  # Rasa's own runner
    return speedups._rasa_run_graph(runner, **kwargs)


@pytest.mark.slow  # loads the trained model
@pytest.mark.parametrize("text", ["mau daftar antrian paspor", "Budi Santoso#17-08-1990#Jl. Raya Sekupang No. 12",
                                  "brp biaya paspor", "nik saya 2171031708900001", '/inform{"office":"batam"}'])
def test_a_parse_gives_what_rasa_and_dask_give(agent, text):
    from rasa.core.channels.channel import UserMessage

    runner = agent.processor.graph_runner
    target = agent.processor.model_metadata.nlu_target

    def parse(run):
        message = UserMessage(text, sender_id="x", message_id="m1")
        return run(runner, inputs={"__message__": [message]}, targets=[target])[target][0].as_dict()

    assert parse(DaskGraphRunner.run) == parse(_with_dask)


@pytest.mark.slow
def test_a_prediction_gives_what_rasa_and_dask_give(agent):
    from rasa.shared.core.trackers import DialogueStateTracker

    processor = agent.processor
    tracker = DialogueStateTracker.from_events("x", [ActionExecuted("action_listen"), UserUttered(
        "mau daftar", {"name": "register", "confidence": 0.95})], processor.domain.slots)
    target = processor.model_metadata.core_target

    def predict(run):
        prediction = run(processor.graph_runner, inputs={"__tracker__": tracker}, targets=[target])[target]
        return prediction.max_confidence_index, prediction.policy_name, prediction.probabilities

    assert predict(DaskGraphRunner.run) == predict(_with_dask)


@pytest.mark.slow
def test_an_input_named_like_a_node_is_refused_as_by_rasa(agent):
    runner = agent.processor.graph_runner
    target = agent.processor.model_metadata.nlu_target
    for run in (DaskGraphRunner.run, _with_dask):
        with pytest.raises(GraphRunError, match="clashes with a node name"):
            run(runner, inputs={"__message__": target}, targets=[target])


_KINDS = ["user", "bot", "slot", "action", "followup", "active_loop", "reset_slots", "session_started", "no_such_kind"]
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2),
                    st.dictionaries(st.sampled_from(["name", "text", "entities"]), st.text(max_size=3), max_size=2))
_EVENTS = st.one_of(
    st.fixed_dictionaries({"event": st.sampled_from(_KINDS)},
                          optional={key: _VALUES for key in ["name", "value", "text", "timestamp", "parse_data",
                                                             "metadata", "buttons"]}),
    _VALUES)


@pytest.mark.slow  # 300 examples through Rasa's whole JSON schema
@settings(max_examples=300, deadline=None)
@given(events=st.lists(_EVENTS, max_size=3))
def test_the_per_kind_check_accepts_exactly_what_rasas_schema_accepts(events):
    result = {"events": events, "responses": []}
    try:
        speedups._action_response_validator().validate(result)  # Rasa's whole schema (same answers, see above)
        rasa_accepts = True
    except jsonschema.ValidationError:
        rasa_accepts = False
    try:
        speedups._check_action_result(result)
        we_accept = True
    except jsonschema.ValidationError:
        we_accept = False
    assert we_accept == rasa_accepts
