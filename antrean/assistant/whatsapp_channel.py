"""WhatsApp Business Platform (Cloud API) channel for Rasa: `antrean.assistant.whatsapp_channel.WhatsAppInput`.

A thin adapter: the webhook's routes (/webhooks/whatsapp/, …/webhook) are antrean.whatsapp.webhook's,
shared with the stand-alone receiver; the channel adds Rasa's side: the worker (antrean.whatsapp.worker),
started with the server, feeds stored messages to Rasa in arrival order per sender. Settings come from
the environment (antrean.runtime.settings); without ANTREAN_WA_ACCESS_TOKEN the channel runs in
sandbox mode: replies are recorded in the outbox table instead of being sent."""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel
from rasa.shared.exceptions import RasaException
from sanic import Blueprint

from antrean.runtime.settings import Settings, SettingsError, WhatsAppSettings, current
from antrean.whatsapp.webhook import add_webhook_routes

logger = logging.getLogger(__name__)


class WhatsAppInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "whatsapp"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WhatsAppInput:
        # Secrets live in the environment only; credentials.yml merely switches the channel on.
        try:
            return cls(current().whatsapp.for_webhook())
        except SettingsError as error:
            raise RasaException(str(error)) from error

    def __init__(self, settings: WhatsAppSettings, environ: Settings | dict[str, str] | None = None):
        self.settings = settings
        self.environ = environ  # None: the process environment's settings (database, media folder, secret key)
        self._runtime = None

    @property
    def runtime(self):
        # Built on first use (a request or server start), never at import or from_credentials.
        if self._runtime is None:
            from antrean.whatsapp.runtime import Runtime

            self._runtime = Runtime(self.settings, self.environ)
        return self._runtime

    def get_output_channel(self) -> OutputChannel | None:
        return None  # replies need the receiving phone-number id, known only per message

    def blueprint(self, on_new_message) -> Blueprint:
        blueprint = Blueprint("whatsapp_webhook", __name__)

        @blueprint.listener("after_server_start")
        async def start_worker(app, _loop):
            self.runtime.start_worker(on_new_message, app)

        @blueprint.listener("before_server_stop")
        async def stop_worker(_app, _loop):
            await self.runtime.close()

        add_webhook_routes(blueprint, self.settings, lambda: self.runtime.inbox, lambda: self.runtime.wake())
        return blueprint
