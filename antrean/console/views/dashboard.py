"""The dashboard: per office and range of days, registrations against the quota, the outcome
funnel, the fallback rate, the intent-confidence histogram and the busiest minutes of the
registration window; charts drawn on the server as SVG (antrean.console.charts)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sanic import Blueprint, Request

from antrean.booking.replies import day_name
from antrean.console import dashboard
from antrean.console.charts import OK, Bar, bar_chart, funnel_chart
from antrean.console.permissions import Permission
from antrean.console.views.common import chosen_office, office_today
from antrean.console.web import blocking, permission_required, render

bp = Blueprint("dashboard", url_prefix="/dasbor")

MAX_DAYS = 92


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text else None
    except ValueError:
        return None


@bp.get("", name="index")
@permission_required(Permission.DASHBOARD)
async def index(request: Request):
    service = request.app.ctx.service
    office = chosen_office(request)
    calendar = service.calendar(office.id)
    today = office_today(request, office)
    # Default: the past week and the days that can be booked now.
    first = _day(request.args.get("dari")) or today - timedelta(days=6)
    last = _day(request.args.get("sampai")) or today + timedelta(days=office.booking_horizon_days + 2)
    notice = None
    if last < first:
        first, last = last, first
    if (last - first).days >= MAX_DAYS:
        last = first + timedelta(days=MAX_DAYS - 1)
        notice = f"Rentang dibatasi {MAX_DAYS} hari."
    engine = service.engine
    await blocking(request.app.ctx.review.sync, 1)  # conversations up to now for the funnel
    fills = await blocking(dashboard.registrations_vs_quota, engine, office, calendar, first, last)
    stages = await blocking(dashboard.funnel, engine, office, first, last)
    quality = await blocking(dashboard.nlu_quality, engine, office, first, last)
    minutes = await blocking(dashboard.busiest_minutes, engine, office, first, last)
    opens, closes = dashboard.registration_window(office, calendar, first, last)

    quota_chart = bar_chart(
        [Bar(f"{d.day:%d/%m}", d.booked, f"{day_name(d.day)}: {d.booked} dari kuota {d.quota}"
             + (f" ({d.closed})" if d.closed else ""), OK if d.quota and d.booked >= d.quota else "#0b5cad")
         for d in fills],
        "Pendaftaran dibanding kuota per hari kunjungan", limit=[d.quota for d in fills],
        label_every=max(1, len(fills) // 16), value_labels=len(fills) <= 31)
    histogram_chart = bar_chart(
        [Bar(f"{i / 10:.1f}", n, f"Keyakinan {i / 10:.1f}–{(i + 1) / 10:.1f}: {n} pesan",
             "#b3261e" if i < 5 else "#0b5cad") for i, n in enumerate(quality.histogram)],
        "Histogram keyakinan intent", height=200)
    window = []
    moment = datetime.combine(first, opens)
    while moment.time() < closes:
        window.append(moment.strftime("%H:%M"))
        moment += timedelta(minutes=1)
    minutes_chart = bar_chart([Bar(m, minutes.get(m, 0), f"{m}: {minutes.get(m, 0)} pendaftaran") for m in window],
                              "Pendaftaran per menit selama jendela pendaftaran", height=200, label_every=15,
                              value_labels=False)
    outside = sum(n for m, n in minutes.items() if m not in set(window))
    return render(request, "dashboard.html", office=office, first=first, last=last, notice=notice,
                  quota_chart=quota_chart, funnel_chart=funnel_chart(stages, "Corong hasil percakapan"),
                  histogram_chart=histogram_chart, minutes_chart=minutes_chart, stages=stages, quality=quality,
                  fills=fills, top_minutes=minutes.most_common(5), outside=outside, opens=opens, closes=closes,
                  booked_total=sum(d.booked for d in fills), quota_total=sum(d.quota for d in fills))
