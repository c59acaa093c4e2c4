"""The dashboard: per office and range of days, registrations against the quota, the outcome
funnel, the fallback rate, the intent-confidence histogram and the busiest minutes of the
registration window; charts drawn on the server as SVG (antrean.console.charts). One function per
panel gives the panel's figures and chart to the template."""

from __future__ import annotations

from datetime import date, timedelta

from sanic import Blueprint, Request
from sqlalchemy.engine import Engine

from antrean.booking.calendar import OfficeCalendar
from antrean.booking.offices import Office
from antrean.booking.replies import day_name
from antrean.console import dashboard
from antrean.console.charts import OK, Bar, bar_chart, funnel_chart
from antrean.console.permissions import Permission
from antrean.console.views.common import chosen_office, day_in_query, office_today
from antrean.console.web import blocking, permission_required, render

bp = Blueprint("dashboard", url_prefix="/dasbor")

MAX_DAYS = 92


@bp.get("", name="index")
@permission_required(Permission.DASHBOARD)
async def index(request: Request):
    service = request.app.ctx.service
    office = chosen_office(request)
    calendar = service.calendar(office.id)
    first, last, notice = date_range(request.args.get("dari"), request.args.get("sampai"),
                                     office_today(request, office), office)
    await blocking(request.app.ctx.review.sync, 1)  # conversations up to now for the funnel
    values = {}
    for panel in PANELS:
        values.update(await blocking(panel, service.engine, office, calendar, first, last))
    return render(request, "dashboard.html", office=office, first=first, last=last, notice=notice, **values)


def date_range(first_text: str | None, last_text: str | None, today: date,
               office: Office) -> tuple[date, date, str | None]:
    """The days asked for (dari, sampai), in order and at most MAX_DAYS long; by default the past
    week and the days that can be booked now. The notice says when the range was cut."""
    first = day_in_query(first_text, "dari") or today - timedelta(days=6)
    last = day_in_query(last_text, "sampai") or today + timedelta(days=office.booking_horizon_days + 2)
    if last < first:
        first, last = last, first
    if (last - first).days >= MAX_DAYS:
        return first, first + timedelta(days=MAX_DAYS - 1), f"Rentang dibatasi {MAX_DAYS} hari."
    return first, last, None


# --- the panels, top to bottom: each returns the values its part of the template shows --------------

def quota_panel(engine: Engine, office: Office, calendar: OfficeCalendar, first: date, last: date) -> dict:
    fills = dashboard.registrations_vs_quota(engine, office, calendar, first, last)
    chart = bar_chart(
        [Bar(f"{d.day:%d/%m}", d.booked, f"{day_name(d.day)}: {d.booked} dari kuota {d.quota}"
             + (f" ({d.closed})" if d.closed else ""), OK if d.quota and d.booked >= d.quota else "#0b5cad")
         for d in fills],
        "Pendaftaran dibanding kuota per hari kunjungan", limit=[d.quota for d in fills],
        label_every=max(1, len(fills) // 16), value_labels=len(fills) <= 31)
    return {"fills": fills, "quota_chart": chart, "booked_total": sum(d.booked for d in fills),
            "quota_total": sum(d.quota for d in fills)}


def funnel_panel(engine: Engine, office: Office, calendar: OfficeCalendar, first: date, last: date) -> dict:
    stages = dashboard.funnel(engine, office, first, last)
    return {"stages": stages, "funnel_chart": funnel_chart(stages, "Corong hasil percakapan"),
            "card_mismatches": dashboard.card_mismatches(engine, office, first, last)}


def nlu_panel(engine: Engine, office: Office, calendar: OfficeCalendar, first: date, last: date) -> dict:
    quality = dashboard.nlu_quality(engine, office, first, last)
    chart = bar_chart(
        [Bar(f"{i / 10:.1f}", n, f"Keyakinan {i / 10:.1f}–{(i + 1) / 10:.1f}: {n} pesan",
             "#b3261e" if i < 5 else "#0b5cad") for i, n in enumerate(quality.histogram)],
        "Histogram keyakinan intent", height=200)
    return {"quality": quality, "histogram_chart": chart}


def minutes_panel(engine: Engine, office: Office, calendar: OfficeCalendar, first: date, last: date) -> dict:
    minutes = dashboard.busiest_minutes(engine, office, first, last)
    opens, closes = dashboard.registration_window(office, calendar, first, last)
    window = dashboard.minutes_between(opens, closes)
    chart = bar_chart([Bar(m, minutes.get(m, 0), f"{m}: {minutes.get(m, 0)} pendaftaran") for m in window],
                      "Pendaftaran per menit selama jendela pendaftaran", height=200, label_every=15,
                      value_labels=False)
    inside = set(window)
    return {"minutes_chart": chart, "top_minutes": minutes.most_common(5), "opens": opens, "closes": closes,
            "outside": sum(n for m, n in minutes.items() if m not in inside)}


PANELS = (quota_panel, funnel_panel, nlu_panel, minutes_panel)
