"""Wires the WhatsApp channel's parts together inside the Rasa server: database engine, inbox,
Graph API client (none in sandbox mode), delivery, media fetching, and the worker."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from rasa.shared.core.events import UserUttered

from antrean.runtime.db import make_engine
from antrean.runtime.settings import Settings, WhatsAppSettings, resolve
from antrean.whatsapp.graph import GraphClient
from antrean.whatsapp.inbox import Inbox
from antrean.whatsapp.outbound import Deliverer
from antrean.whatsapp.sandbox import SimulatorMedia
from antrean.whatsapp.worker import MediaFetcher, Worker

logger = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: WhatsAppSettings, environ: Settings | Mapping[str, str] | None = None):
        self.settings = settings
        self.everything = resolve(environ)  # database, media folder, secret key
        self.engine = make_engine(self.everything.database_url)  # connects lazily, on first query
        self.inbox = Inbox(self.engine)
        self.graph: GraphClient | None = None
        self.worker: Worker | None = None
        self._offices = None
        self._calendars = None  # for the registration window, built on first use
        self._media_store = None

    def start_worker(self, on_new_message, app=None) -> Worker:
        self.graph = None if self.settings.sandbox else GraphClient(self.settings)
        if self.settings.sandbox:
            logger.warning("WhatsApp channel in sandbox mode (no ANTREAN_WA_ACCESS_TOKEN): replies are "
                           "recorded in the whatsapp_outbox table, not sent")
        media = MediaFetcher(self.graph, SimulatorMedia(self.engine))
        self.worker = Worker(self.inbox, Deliverer(self.inbox, self.graph, self.render_ticket), on_new_message,
                             self.settings, media=media, media_store=self.media_store,
                             ready=_agent_ready(app), already_handled=_tracker_has_message(app),
                             registration_open=self.registration_open)
        self.worker.start()
        return self.worker

    def wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    async def close(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
        if self.graph is not None:
            await self.graph.aclose()
        self.engine.dispose()

    def media_store(self):
        if self._media_store is None:
            from antrean.runtime.bootstrap import media_store

            self._media_store = media_store(self.everything)
        return self._media_store

    def offices(self):
        if self._offices is None:
            from antrean.runtime.bootstrap import offices

            self._offices = offices(self.everything)
        return self._offices

    def registration_open(self, phone_number_id: str) -> bool:
        """Whether the office of the business number written to takes registrations now (the
        same clock and window as the actions; any office's, for a number no office lists)."""
        from antrean.booking.calendar import OfficeCalendar, registration_open_for
        from antrean.booking.offices import office_for_phone_number_id
        from antrean.runtime.clock import clock_from_env

        if self._calendars is None:
            self._calendars = {office_id: OfficeCalendar(o) for office_id, o in self.offices().items()}
            self._clock = clock_from_env(self.everything)
        office = office_for_phone_number_id(self.offices(), phone_number_id)
        return registration_open_for(self._calendars, office.id if office else None, self._clock())

    def render_ticket(self, code: str) -> bytes | None:
        """The same ticket the REST channel serves at its reference, read with this runtime's own
        engine (the bookings share the inbox's database)."""
        from antrean.media.ticket import ticket_png_from_database

        return ticket_png_from_database(self.engine, self.offices(), code)


def _is_rasa_server(app) -> bool:
    # Rasa's server sets app.ctx.agent (None until the model is loaded); a bare Sanic app in the
    # channel's own tests has no agent to wait for.
    return app is not None and hasattr(app.ctx, "agent")


def _agent_ready(app):
    if not _is_rasa_server(app):
        return lambda: True

    def ready() -> bool:
        agent = getattr(app.ctx, "agent", None)
        return agent is not None and agent.is_ready()

    return ready


def _tracker_has_message(app):
    """Whether Rasa saved a turn for this WhatsApp message (Rasa saves the tracker when a turn ends)."""
    if not _is_rasa_server(app):
        return None

    async def has_message(sender_id: str, wa_message_id: str) -> bool:
        tracker = await app.ctx.agent.tracker_store.retrieve(sender_id)
        return tracker is not None and holds_message(tracker, wa_message_id)

    return has_message


def holds_message(tracker, wa_message_id: str) -> bool:
    """Whether the conversation holds this WhatsApp message (Rasa saves a turn when it ends)."""
    return any(isinstance(event, UserUttered) and event.message_id == wa_message_id for event in tracker.events)
