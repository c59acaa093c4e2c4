"""Performance fixes for Rasa 3.6 itself, installed by the start-up hook in startup.py (never by
importing this module). Each one gives the same results as the code it
replaces (tests/channels/test_speedups.py compares them) and was found by profiling the Rasa server
under `make bench-assistant`.

1. The action-response check. Rasa checks every action-server response with
`jsonschema.validate(result, spec)`. That call re-checks the (large, constant) event schema against
the JSON Schema meta-schema and builds a new validator each time: profiled under `make
bench-assistant` it held up the Rasa event loop longer per custom-action call than everything else
in a turn together (docs/benchmarks.md). Validating with one validator built once gives the same
answers (same schema, same errors) at a small fraction of the cost, and checking each event only
against the kind of event it says it is (the schema's 23 kinds are told apart by their "event"
value) cuts what is left again.

2. Event types. Loading a conversation turns each stored event back into an object; Rasa finds the
class by walking every subclass of `Event` (and testing each for abstractness) once per event, a
visible share of every turn's profile. The classes are looked up once per type name instead.

3. Running the model's graph. Rasa hands each graph run (one NLU parse, each policy prediction) to
dask's scheduler and first recomputes which nodes the targets need, walking the dependencies
recursively with repeats, again on every run. The nodes needed for a set of targets are fixed for a
loaded model, so their order is computed once and the nodes are called in it, in the same thread,
as dask's synchronous scheduler does."""

from __future__ import annotations

from functools import lru_cache
from graphlib import TopologicalSorter
from typing import Any

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event

# Rasa's originals, kept for comparison in the tests.
_rasa_resolve_by_type = Event.resolve_by_type
_rasa_run_graph = DaskGraphRunner.run


@lru_cache(maxsize=1)
def _action_response_validator():
    spec = RemoteAction.action_response_format_spec()
    validator_class = validator_for(spec)
    validator_class.check_schema(spec)  # once, instead of on every response
    return validator_class(spec)


@lru_cache(maxsize=1)
def _event_validators():
    """Rasa's schema says an event is one of 23 kinds (`oneOf`), each fixed by a distinct value of
    "event"; checking one event then checks it against all 23. Only the kind its "event" names can
    match, so the answer is the same when the event is checked against the common part and that one
    kind. Returns (validator of the response without the per-kind part, validators by kind), or
    None if Rasa's schema ever stops being shaped like that (then the whole schema is used)."""
    spec = RemoteAction.action_response_format_spec()
    items = spec["properties"]["events"]["items"]
    kinds = [alternative.get("properties", {}).get("event", {}).get("const") for alternative in items["oneOf"]]
    if None in kinds or len(set(kinds)) != len(kinds):
        return None
    validator_class = validator_for(spec)
    common = {**spec, "properties": {**spec["properties"], "events": {
        **spec["properties"]["events"], "items": {key: value for key, value in items.items() if key != "oneOf"}}}}
    return validator_class(common), {kind: validator_class({"oneOf": [alternative]})
                                     for kind, alternative in zip(kinds, items["oneOf"], strict=True)}


def _check_action_result(result: Any) -> None:
    validators = _event_validators()
    events = result.get("events") if isinstance(result, dict) else None
    if validators is None or not isinstance(events, list):
        _action_response_validator().validate(result)
        return
    common, by_kind = validators
    common.validate(result)
    for event in events:
        kind = by_kind.get(event.get("event"))
        if kind is None:  # an unknown kind: let the full schema say what is wrong
            _action_response_validator().validate(result)
        else:
            kind.validate(event)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    try:
        _check_action_result(result)
    except ValidationError as error:
        # The same hint Rasa adds, so logs read as they always did.
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from "
            f"the Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise
    return True


_event_classes: dict[str, type[Event]] = {}


def _resolve_event_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    cls = _event_classes.get(type_name)
    if cls is None:
        # Rasa's own lookup, remembered when it finds a class; unknown names and the legacy "topic"
        # (None) keep going through it, so they behave exactly as before.
        cls = _rasa_resolve_by_type(type_name, default)
        if cls is not None and cls is not default:
            _event_classes[type_name] = cls
    return cls


def _run_graph(self: DaskGraphRunner, inputs: dict[str, Any] | None = None,
               targets: list[str] | None = None) -> dict[str, Any]:
    run_targets = tuple(targets if targets else self._graph_schema.target_names)
    plans = self.__dict__.setdefault("_antrean_plans", {})
    plan = plans.get(run_targets)
    if plan is None:
        plan = plans[run_targets] = _plan(self, run_targets)
    # As in Rasa's runner: an input is passed to the nodes as (name, value), a node's output is
    # (node name, value), and an input named like a node is refused.
    results: dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        if isinstance(value, str) and any(value == node_name for node_name, _ in plan):
            raise GraphRunError(f"Input value '{value}' clashes with a node name. Make sure that none of the input "
                                "names passed to the `run` method are the same as node names in the graph schema.")
        results[name] = (name, value)
    try:
        for node_name, needs in plan:
            results[node_name] = self._instantiated_nodes[node_name](*(results[need] for need in needs))
    except RuntimeError as error:
        raise GraphRunError("Error running runner.") from error
    return dict(results[target] for target in run_targets)


def _plan(runner: DaskGraphRunner, targets: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """The nodes the targets depend on, each after its dependencies, with what each one needs."""
    nodes = runner._graph_schema.minimal_graph_schema(list(targets)).nodes
    order = TopologicalSorter({name: set(node.needs.values()) & nodes.keys() for name, node in nodes.items()})
    return [(name, tuple(nodes[name].needs.values())) for name in order.static_order()]


def install() -> None:
    """Replaces Rasa's methods with the ones above; called by startup.install_speedups, after it has
    checked Rasa's version."""
    RemoteAction._validate_action_result = _validate_action_result
    Event.resolve_by_type = staticmethod(_resolve_event_type)
    DaskGraphRunner.run = _run_graph
