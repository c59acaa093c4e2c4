"""`python -m antrean whatsapp receive --port 5006`: the WhatsApp webhook on its own, in a small
process that only checks signatures and stores messages in the inbox.

Why a separate process: in the Rasa server the webhook shares one event loop with NLU and dialogue
prediction, which are CPU-bound; during a rush a POST waits behind them, for seconds at the p99
(`make bench-rush ARGS=--webhook-in-rasa`, docs/benchmarks.md), while Meta and BSPs expect answers
in well under a second (360dialog: median ≤ 250 ms). Here nothing else runs, so the answer takes a
few milliseconds whatever Rasa is doing. The Rasa server's worker finds the stored messages by
polling the inbox (ANTREAN_WA_POLL_SECONDS, an indexed query over unprocessed rows only). Meta is
then configured with this process's URL; the route is the same: /webhooks/whatsapp/webhook. Rasa
is never imported here (tests/whatsapp/test_receiver.py checks it)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sanic import Blueprint, Sanic

from antrean.runtime.db import make_engine
from antrean.runtime.settings import Settings, WhatsAppSettings, resolve
from antrean.whatsapp.inbox import Inbox
from antrean.whatsapp.webhook import add_webhook_routes

logger = logging.getLogger(__name__)


def create_app(settings: WhatsAppSettings | None = None,
               environ: Settings | Mapping[str, str] | None = None) -> Sanic:
    everything = resolve(environ)
    settings = settings or everything.whatsapp.for_webhook()
    engine = make_engine(everything.database_url)
    inbox = Inbox(engine)
    app = Sanic("antrean_whatsapp_receiver")
    blueprint = Blueprint("whatsapp_receiver", url_prefix="/webhooks/whatsapp")
    add_webhook_routes(blueprint, settings, lambda: inbox, lambda: None)
    app.blueprint(blueprint)

    @app.listener("after_server_stop")
    async def dispose(_app, _loop):
        engine.dispose()

    return app


def receive(host: str, port: int) -> None:
    app = create_app()
    # One process, no access log: each log line costs more than storing the message.
    app.run(host=host, port=port, access_log=False, workers=1)
