"""The live model for running Rasa servers: `python -m antrean model serve` (loopback by default).

Rasa's own model server protocol (rasa/core/agent.py, `_pull_model_and_fingerprint`): every Rasa
worker asks `GET <url>` every `wait_time_between_pulls` seconds with `If-None-Match: <the ETag of
the model it runs>`, and loads the answer of a 200 in the background (see
antrean/assistant/model_pulling.py), keeping the old model until the new one is ready. So:

- 200: the live model's file, `ETag: "<sha256>"`, `filename: <id>.tar.gz` (Rasa names the download so);
- 304: If-None-Match names the live model: nothing to do;
- 204: no model is live yet (Rasa keeps what it has);
- 503: the live model's file is missing or is not what was registered (Rasa keeps the old model
  and asks again at the next pull; the reason is logged here).

A promotion or a rollback is a row in the registry; this route reads it on every request, so every
worker of every server pointed here runs the new live model within one pull interval.

Rasa is never imported here: the process stays small (a few tens of MB)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sanic import Sanic, response
from sanic.request import Request

from antrean.model_registry.registry import ModelRegistry, ModelRegistryError

logger = logging.getLogger(__name__)

ROUTE = "/models/live"
DEFAULT_PORT = 5007  # `python -m antrean model serve`; the WhatsApp receiver has 5006
DEFAULT_PULL_SECONDS = 10  # Rasa's default is 100 s; a promotion should show within seconds


@dataclass(frozen=True)
class LiveAnswer:
    status: int
    etag: str | None = None
    path: Path | None = None
    filename: str | None = None
    reason: str | None = None


def etag_of(sha256: str) -> str:
    return f'"{sha256}"'


def _named(if_none_match: str | None) -> set[str]:
    # Rasa sends back exactly the ETag it got; a browser or curl may send a list or a weak tag.
    tags = set()
    for tag in (if_none_match or "").split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag:
            tags.add(tag.strip('"'))
    return tags


def live_answer(registry: ModelRegistry, if_none_match: str | None, verified: dict[str, tuple] | None = None
                ) -> LiveAnswer:
    """What the model route answers. `verified` remembers (size, mtime) of files already checked
    against their sha256, so a 200 costs one hash per file change, not one per pull."""
    live = registry.live_model()
    if live is None:
        return LiveAnswer(204, reason="no model is live yet")
    if live.sha256 in _named(if_none_match):
        return LiveAnswer(304, etag=etag_of(live.sha256))
    try:
        stat = live.path.stat()
        key = (stat.st_size, stat.st_mtime_ns)
        if verified is None or verified.get(live.id) != key:
            registry.verify(live.id)
            if verified is not None:
                verified[live.id] = key
    except (OSError, ModelRegistryError) as error:
        return LiveAnswer(503, reason=f"live model {live.id}: {error}")
    return LiveAnswer(200, etag=etag_of(live.sha256), path=live.path, filename=live.path.name)


def create_app(registry: ModelRegistry) -> Sanic:
    app = Sanic("antrean_model_server")
    verified: dict[str, tuple] = {}

    @app.get(ROUTE)
    async def live_model(request: Request):
        # A database read and, after a change, one sha256 of a few MB: short enough for the loop.
        answer = live_answer(registry, request.headers.get("If-None-Match"), verified)
        if answer.status == 200:
            logger.info("sending live model %s", answer.filename)
            return await response.file(answer.path, headers={"ETag": answer.etag, "filename": answer.filename,
                                                             "Cache-Control": "no-cache"},
                                       mime_type="application/gzip")
        if answer.status == 503:
            logger.error("not serving the live model: %s", answer.reason)
            return response.text(answer.reason, status=503)
        headers = {"ETag": answer.etag} if answer.etag else {}
        return response.empty(status=answer.status, headers=headers)

    @app.listener("after_server_stop")
    async def dispose(_app, _loop):
        registry.engine.dispose()

    return app


def ensure_live_model(default: Path, by: str) -> str | None:
    """The live model's id; when none is live yet (a fresh clone), `default` (make train's
    models/antrean.tar.gz) is registered and made live first — evaluated once, in a child process
    (`model register --live-if-none`), so the caller never holds Rasa's memory. None when there is
    neither."""
    import subprocess
    import sys

    from antrean.model_registry import open_registry

    registry = open_registry()
    try:
        live = registry.live_model()
        if live is None and Path(default).exists():
            print(f"No model is live yet: keeping {default} in the registry and evaluating it (once)", flush=True)
            subprocess.run([sys.executable, "-m", "antrean", "model", "register", str(default), "--live-if-none",
                            "--by", by], check=True)
            live = registry.live_model()
        return live.id if live else None
    finally:
        registry.engine.dispose()


def serve(host: str, port: int) -> None:
    from antrean.model_registry import open_registry

    app = create_app(open_registry())
    app.run(host=host, port=port, access_log=False, workers=1)
