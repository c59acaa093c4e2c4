"""A Rasa agent pulling from `python -m antrean model serve` (antrean/assistant/model_pulling.py):
the new model loads beside the running one while the event loop keeps parsing with the old one,
then the agent switches in one step; the speed-ups of speedups.py run on the new model too."""

from __future__ import annotations

import asyncio

import pytest

from antrean.model_registry import ModelRegistry
from antrean.model_registry.serving import etag_of
from antrean.runtime.db import make_engine
from tests.model_registry.conftest import copy_of
from tests.model_registry.test_serving import model_server  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_promoted_model_loads_beside_the_running_one_with_the_speedups(trained, tmp_path, sqlite_url,
                                                                           model_server):  # noqa: F811
    from rasa.core.agent import Agent, load_from_server
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.utils.endpoints import EndpointConfig

    from antrean.assistant import model_pulling, speedups
    from antrean.assistant.startup import install_speedups

    assert install_speedups()
    registry = ModelRegistry(make_engine(sqlite_url), tmp_path / "models")  # the model server's registry
    base, worse = copy_of(registry, trained.base), copy_of(registry, trained.worse)
    registry.promote(base.id, by="test")
    endpoint = EndpointConfig(url=model_server, wait_time_between_pulls=None)  # pulled by hand below

    async def scenario() -> tuple[int, int]:
        agent = Agent(model_server=endpoint)
        await load_from_server(agent, endpoint)  # start-up: Rasa's own path, through ours
        assert agent.is_ready() and agent.fingerprint == etag_of(base.sha256)
        running = agent.processor
        registry.promote(worse.id, by="test", override_reason="test: any other model")
        pulling = asyncio.create_task(model_pulling.update_model_from_server(endpoint, agent))
        parsed_meanwhile = 0
        while not pulling.done():
            await agent.parse_message("halo")
            if not pulling.done():
                assert agent.processor is running  # the old model answers until the new one is ready
                parsed_meanwhile += 1
            await asyncio.sleep(0)
        await pulling
        assert agent.processor is not running and agent.fingerprint == etag_of(worse.sha256)
        assert agent.domain is agent.processor.domain and agent.tracker_store.domain is agent.domain
        await agent.parse_message("saya mau batal antrean")
        runner = agent.processor.graph_runner
        assert isinstance(runner, DaskGraphRunner) and type(runner).run is speedups._run_graph
        plans = len(runner.__dict__.get("_antrean_plans", {}))
        # Nothing new on the next pull: the same processor stays.
        await model_pulling.update_model_from_server(endpoint, agent)
        assert agent.processor.graph_runner is runner
        return parsed_meanwhile, plans

    parsed_meanwhile, plans = asyncio.run(scenario())
    assert parsed_meanwhile > 0  # the event loop was not held while the model loaded
    assert plans >= 1  # the speed-up planned the new model's graph
    registry.engine.dispose()
