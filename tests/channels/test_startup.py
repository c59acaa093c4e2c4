"""Antrean changes Rasa only through its one start-up hook: importing Antrean's modules patches
nothing, the tracker store every Rasa worker of ours creates installs the changes, and another Rasa
series gets one warning and Rasa as it is.

Each check runs in a fresh Python process: in this one, other tests have installed the changes
already (they cannot be taken back)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from antrean.runtime.db import REPO_ROOT

# Rasa's attributes Antrean replaces, and the module a replacement comes from.
PATCHED = """
from rasa.core.actions.action import RemoteAction
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import Event
from rasa.utils.endpoints import EndpointConfig

def patched():
    methods = {"RemoteAction._validate_action_result": RemoteAction._validate_action_result,
               "Event.resolve_by_type": Event.resolve_by_type, "DaskGraphRunner.run": DaskGraphRunner.run,
               "EndpointConfig.request": EndpointConfig.request}
    return sorted(name for name, method in methods.items() if method.__module__.startswith("antrean."))
"""


def run_python(script: str, tmp_path) -> dict:
    """Runs ``script`` in a new interpreter; it prints one JSON object as its last line."""
    completed = subprocess.run([sys.executable, "-c", PATCHED + textwrap.dedent(script)], cwd=tmp_path,
                               env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                    "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"},
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """Imports every Antrean module that plugs into Rasa, then runs the hook on a faked other
    version of Rasa, then creates the tracker store as Rasa does from endpoints.yml."""
    tmp_path = tmp_path_factory.mktemp("startup")
    return run_python(f"""
        import json, logging
        warnings = []
        class Collect(logging.Handler):
            def emit(self, record):
                warnings.append(record.getMessage())
        logging.getLogger("antrean.assistant.startup").addHandler(Collect(level=logging.WARNING))

        import antrean.assistant, antrean.assistant.actions_in_process, antrean.assistant.lock_store
        import antrean.assistant.rest_channel, antrean.assistant.speedups, antrean.assistant.tracker_store
        import antrean.assistant.whatsapp_channel, antrean.assistant.worker_cpus
        import antrean.assistant.nlu.law_format, antrean.assistant.nlu.message_shape, antrean.assistant.nlu.slang
        import antrean.assistant.nlu.stems, antrean.assistant.nlu.tfidf_classifier
        after_imports = patched()

        from antrean.assistant import startup
        real_version = startup.rasa_version
        startup.rasa_version = lambda: "3.7.2"  # the version is faked, Rasa itself is the real one
        other_version = [startup.install_speedups(), startup.install_speedups()]
        after_other_version = patched()
        other_version_warnings = list(warnings)

        startup.rasa_version = real_version
        import yaml
        from rasa.core.tracker_store import TrackerStore
        from rasa.utils.endpoints import EndpointConfig
        config = yaml.safe_load(open({str(REPO_ROOT / "endpoints.yml")!r}))["tracker_store"]
        config["db"] = "conversations.sqlite3"
        TrackerStore.create(EndpointConfig(**config))
        after_tracker_store = patched()
        print(json.dumps({{"after_imports": after_imports, "other_version": other_version,
                          "after_other_version": after_other_version, "warnings": other_version_warnings,
                          "after_tracker_store": after_tracker_store, "hook_again": startup.install_speedups()}}))
    """, tmp_path)


ALL = ["DaskGraphRunner.run", "EndpointConfig.request", "Event.resolve_by_type",
       "RemoteAction._validate_action_result"]


def test_importing_antrean_patches_nothing_in_rasa(one_process):
    assert one_process["after_imports"] == []


def test_another_rasa_series_gets_one_warning_and_rasa_unpatched(one_process):
    assert one_process["other_version"] == [False, False]
    assert one_process["after_other_version"] == []
    assert len(one_process["warnings"]) == 1
    assert "Rasa 3.7.2 is not the 3.6 series" in one_process["warnings"][0]


def test_the_tracker_store_every_rasa_worker_creates_installs_everything(one_process):
    assert one_process["after_tracker_store"] == ALL
    assert one_process["hook_again"] is True  # idempotent


def test_the_hook_patches_rasa_in_this_process():
    from rasa.core.actions.action import RemoteAction
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.utils.endpoints import EndpointConfig

    from antrean.assistant import actions_in_process, speedups
    from antrean.assistant.startup import install_speedups

    assert install_speedups() is True
    assert install_speedups() is True
    assert RemoteAction._validate_action_result is speedups._validate_action_result
    assert DaskGraphRunner.run is speedups._run_graph
    assert EndpointConfig.request is actions_in_process._request


@pytest.mark.parametrize(("version", "expected"), [("3.6.21", True), ("3.6.0rc1", True), ("3.7.0", False),
                                                   ("4.0.0", False), ("3.60.1", False), ("unknown", False)])
def test_only_the_3_6_series_is_supported(version, expected):
    from antrean.assistant.startup import supported

    assert supported(version) is expected
