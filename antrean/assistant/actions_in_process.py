"""Custom actions run inside the Rasa server instead of a separate action server.

With `action_endpoint: {actions_module: actions}` in endpoints.yml, Rasa's calls to the action
endpoint are answered by rasa-sdk's own executor in this process: no HTTP request, no JSON encoding
of the whole conversation for every custom action and form validation, no second process. Profiled
under `make bench-assistant`, the HTTP round trip was one of the largest costs of a turn, in the
Rasa server and again in the action server (docs/benchmarks.md).

What stays as it was with an action server:
- the actions run one at a time on a thread of their own with its own event loop, so an action
  that blocks (the booking database) holds up other actions, never Rasa's event loop;
- what an action returns is the JSON it would have sent (a value JSON cannot carry fails here
  too), checked by Rasa against its schema as before;
- a rejected or unknown action reaches Rasa as the same 400/404 the action server answers.
`url:` instead of `actions_module:` still uses an action server (`rasa run actions`)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

from rasa.utils.endpoints import ClientResponseError, EndpointConfig
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

logger = logging.getLogger(__name__)

ACTIONS_MODULE = "actions_module"


class InProcessActions:
    """rasa-sdk's executor for one package, on a thread with its own event loop."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.executor = ActionExecutor()
        self.executor.register_package(package)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"actions:{package}", daemon=True)
        self._thread.start()

    async def request(self, action_call: dict[str, Any]) -> dict[str, Any] | None:
        future = asyncio.run_coroutine_threadsafe(self._run(action_call), self._loop)
        return await asyncio.wrap_future(future)

    async def _run(self, action_call: dict[str, Any]) -> dict[str, Any] | None:
        try:
            result = await self.executor.run(action_call)
        except ActionExecutionRejection as rejection:  # e.g. a form rejecting a slot: Rasa expects a 400
            raise ClientResponseError(400, "Bad Request", json.dumps(
                {"error": rejection.message, "action_name": rejection.action_name})) from None
        except ActionNotFoundException as missing:
            logger.error(missing)
            raise ClientResponseError(404, "Not Found", json.dumps(
                {"error": missing.message, "action_name": missing.action_name})) from None
        return json.loads(json.dumps(result))

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


# One executor per process and package, made on first use: a Sanic worker forked from the main
# process must not inherit a thread (fork copies none), so nothing is started at import.
_executors: dict[str, InProcessActions] = {}
_rasa_request = EndpointConfig.request


async def _request(self: EndpointConfig, method: str = "post", subpath: str | None = None,
                   content_type: str | None = "application/json", compress: bool = False, **kwargs: Any) -> Any:
    package = self.kwargs.get(ACTIONS_MODULE)
    if not package:
        return await _rasa_request(self, method, subpath, content_type, compress, **kwargs)
    if method.lower() != "post" or "json" not in kwargs:
        raise ValueError(f"the in-process action endpoint ({ACTIONS_MODULE}: {package}) only runs actions")
    executor = _executors.get(package)
    if executor is None:
        executor = _executors[package] = InProcessActions(package)
    return await executor.request(kwargs["json"])


def install() -> None:
    EndpointConfig.request = _request
