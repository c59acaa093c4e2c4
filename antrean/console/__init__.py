"""The staff console: a server-rendered Sanic app (Jinja2, no CDN, one vendored stylesheet).

`create_app(config)` builds it (flasky's app factory): services are created once here and hung
on `app.ctx`; each area is a blueprint in `views/`. Started by `python -m antrean console`."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sanic import Sanic

from antrean.booking.offices import is_practice, practice_id, real_office_id
from antrean.console.audit import AuditLog
from antrean.console.config import ConsoleConfig
from antrean.console.practice import PracticeCleanup
from antrean.console.present import register_filters
from antrean.console.queue import CounterQueue
from antrean.console.review import ReviewSource
from antrean.console.views.common import BadQuery, OfficeNotAllowed
from antrean.console.web import finish_response, forbidden, load_session, render
from antrean.runtime.http_limits import limit_bodies
from antrean.runtime.periodic import PeriodicJob

STATIC_DIR = Path(__file__).parent / "static"


def create_app(config: ConsoleConfig | None = None) -> Sanic:
    # Imported here: antrean.model_registry uses the console's audit log, so the console package
    # must not import the registry when it is first loaded.
    from antrean.console.model_training import ConsoleTraining
    from antrean.console.views import (
        audit,
        auth,
        bookings,
        conversations,
        counter,
        dashboard,
        door,
        handoff,
        models,
        nlu,
        personal_data,
        simulator,
    )

    config = config or ConsoleConfig.from_env()
    service = config.build_service()
    app = Sanic(config.name)
    app.config.FALLBACK_ERROR_FORMAT = "html"
    limit_bodies(app)  # forms; the one upload route reads its own body after the session check (web.py)
    app.ctx.config = config
    # A key of its own for the login form's token, derived so it cannot stand in for the booking codes' key.
    app.ctx.prelogin_key = hmac.new(config.build_secret(), b"antrean console pre-login csrf", hashlib.sha256).digest()
    app.ctx.service = service
    app.ctx.accounts = config.build_accounts()
    app.ctx.audit = AuditLog(service.engine, service.clock)
    app.ctx.queue = CounterQueue(service.engine, service.clock)
    app.ctx.media = config.build_media_store
    app.ctx.review = ReviewSource(config, service)
    app.ctx.models = config.build_model_registry()
    app.ctx.model_training = ConsoleTraining(app.ctx.models, service.engine, service.clock, config.training_inputs)
    templates = Environment(
        loader=PackageLoader("antrean.console", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a misspelt variable fails the tests instead of showing blank
    )
    register_filters(templates)
    templates.globals["offices"] = service.offices  # real offices: pickers, lists
    templates.globals["all_offices"] = service.all_offices  # also practice twins: naming any office id
    templates.globals.update(is_practice=is_practice, practice_id=practice_id, real_office_id=real_office_id,
                             practice_hours=config.practice_hours)
    app.ctx.templates = templates

    # Before any route is added: every <…:int> of the console's routes goes through database_id.
    app.router.register_pattern("int", database_id, r"^-?\d+$")
    app.register_middleware(load_session, "request")
    app.register_middleware(finish_response, "response")
    app.static("/static", str(STATIC_DIR), name="static")
    for blueprint in (auth.bp, bookings.bp, door.bp, counter.bp, handoff.bp, conversations.bp, nlu.bp, simulator.bp,
                      dashboard.bp, audit.bp, personal_data.bp, models.bp):
        app.blueprint(blueprint)
    # A training this console runs ends with it, and its page says why (antrean/console/model_training.py).
    app.register_listener(app.ctx.model_training.stop, "before_server_stop")
    if config.review_sync_seconds > 0:
        review_timer = PeriodicJob(app.ctx.review.sync, config.review_sync_seconds, "conversation sync")
        app.register_listener(review_timer.start, "after_server_start")
        app.register_listener(review_timer.stop, "before_server_stop")

    if config.retention_daily:
        daily = _daily_retention(app)
        app.register_listener(daily.start, "after_server_start")
        app.register_listener(daily.stop, "before_server_stop")

    if config.practice_check_seconds > 0:
        cleanup = PracticeCleanup(service, app.ctx.media, config.practice_hours, config.practice_check_seconds)
        app.register_listener(cleanup.start, "after_server_start")
        app.register_listener(cleanup.stop, "before_server_stop")

    @app.exception(OfficeNotAllowed)
    async def _other_office(request, _error):
        return forbidden(request, "Akun Anda hanya untuk kantor Anda sendiri.")

    @app.exception(BadQuery)
    async def _bad_query(request, error):
        return render(request, "error.html", status=400, title="Alamat halaman tidak valid", message=str(error))

    return app


def database_id(text: str) -> int:
    """A route's <…:int> part as a row id: at most 18 digits, so it fits the databases' 64-bit
    integers. A longer one is no row (404) rather than an overflow in the database driver (500)."""
    if len(text.lstrip("-")) > 18:
        raise ValueError("not a row id")
    return int(text)


def _daily_retention(app: Sanic):
    from antrean.protection.retention import DailyRetention, run

    config, service = app.ctx.config, app.ctx.service
    settings = config.settings.retention  # a bad setting stops the start, loudly

    def job():
        return run(service.engine, now=service.clock(), settings=settings,
                   tracker_engine=app.ctx.review.tracker_engine, media=app.ctx.media())

    return DailyRetention(service.engine, job)
