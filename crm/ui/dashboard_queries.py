"""The dashboard's figures: today, this week and this month with the change against the period before,
from crm.reports.kpis (docs/kpis.md); one more count is read here, the bookings whose slot did not
satisfy the caller's wish (Appointment.offer_matched false, set by the voice bridge; docs/voice-bridge.md §V11).

* Managers and admins see the team's headline figures (``KpiReport.headlines``, the title page of the
  PDF report) and the report's charts (crm.reports.charts).
* Sales reps see the figures of the leads they may see, their own and the unassigned ones: the
  per-rep rows of the KPI report (``KpiReport.per_rep``, keyed by lead owner, with a row for
  "unassigned") for their id and for no owner, added up; rates are recomputed from the summed counts.
  The previous period's rows come from the KPI report of the previous period. Team charts are for
  managers only (they count every rep's leads).

Periods are Europe/Berlin calendar periods (crm.reports.periods), as in the reports: the KPI module
buckets by whole UTC hours, which only holds for zones a whole number of hours from UTC.

A computed KpiReport is kept for Settings.reports.kpi_cache_s (LEADCHAIN_DASHBOARD_CACHE_S) per app and
period, so the page and its chart images (separate requests) do not each run the report queries.
"""

from __future__ import annotations

import base64
import threading
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import Flask, current_app

from crm.extensions import db
from crm.inbound import kpis as inbound_kpis
from crm.models import Appointment, User
from crm.models.types import utcnow
from crm.reports import kpis
from crm.reports.i18n import Formatter
from crm.reports.periods import REPORT_TZ, Period, local_date, period_for
from crm.tenancy.context import current_company_id
from crm.ui.access import MANAGERS

PERIODS = ("daily", "weekly", "monthly")
CHARTS = ("trend", "by_hour", "by_weekday", "scores", "sentiment")

# Team figures (managers): the report's headline keys, in the PDF's order.
TEAM_KEYS = (
    "leads_in",
    "qualified_share",
    "calls_placed",
    "answer_rate",
    "talk_time_avg",
    "booked",
    "booking_conversion",
    "follow_ups",
    "cost_per_call",
    "cost_per_booked",
    "emails_sent",
    "open_rate",
)
# Bookings whose slot did not satisfy the caller's wish (team-wide, or the rep's own appointments).
UNMATCHED = "booked_unmatched"
# Per-rep figures (sales) and their units; rates are derived from the counts.
REP_COUNTS = ("leads_in", "calls", "answered", "wanted", "booked", "follow_ups", "appointments")
REP_KEYS = (
    ("leads_in", "count"),
    ("calls_placed", "count"),
    ("answer_rate", "rate"),
    ("wanted", "count"),
    ("booked", "count"),
    ("booking_conversion", "rate"),
    ("follow_ups", "count"),
    ("appointments", "count"),
)


INBOUND_COUNTS = ("answered", "booked", "rescheduled", "cancelled", "transferred", "abandoned")


@dataclass(frozen=True)
class Figure:
    key: str
    unit: str  # count | rate | money | seconds
    current: float | None
    previous: float | None
    currency: str | None = None

    @property
    def delta(self) -> float | None:
        return kpis.Headline(self.key, self.unit, self.current, self.previous).delta

    @property
    def change(self) -> float | None:
        """Relative change (counts, money, durations); None for rates: see delta (points)."""
        return kpis.Headline(self.key, self.unit, self.current, self.previous).change


@dataclass(frozen=True)
class Dashboard:
    kind: str  # daily | weekly | monthly
    period: Period
    previous_period: Period
    scope: str  # team | mine (own + unassigned leads)
    figures: list[Figure]
    has_data: bool
    # Bookings whose slot did not satisfy the caller's wish (the team's, or the rep's own appointments).
    unmatched: Figure | None = None
    # Inbound calls (issue 17; managers): answered, booked, ..., the share without a person, callbacks owed.
    inbound: list[Figure] = field(default_factory=list)


def current_period(kind: str, now: datetime | None = None) -> Period:
    return period_for(kind, local_date(now or utcnow(), REPORT_TZ), REPORT_TZ)


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[tuple, tuple[float, object]] = {}

    def get(self, key: tuple, build: Callable[[], object], ttl: float) -> object:
        # One company's figures are never another's: the cache is per app, the company is in every key.
        key = (current_company_id(), *key)
        now = _time.monotonic()
        with self.lock:
            hit = self.items.get(key)
            if hit and now - hit[0] < ttl:
                return hit[1]
        value = build()
        with self.lock:
            self.items[key] = (now, value)
            if len(self.items) > 64:
                for old in sorted(self.items, key=lambda k: self.items[k][0])[:32]:
                    self.items.pop(old, None)
        return value


def _cache(app: Flask) -> _Cache:
    return app.extensions.setdefault("leadchain.dashboard_cache", _Cache())


def report_for(period: Period, *, app: Flask | None = None) -> kpis.KpiReport:
    """kpis.compute(period), cached briefly per app (inside an app context)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    ttl = app.config["LEADCHAIN"].reports.kpi_cache_s
    key = ("kpis", period.kind, period.first_day, period.last_day, period.tz)
    return _cache(app).get(key, lambda: kpis.compute(period), ttl)  # type: ignore[return-value]


def cached(key: tuple, build: Callable[[], object], *, app: Flask | None = None) -> object:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return _cache(app).get(key, build, app.config["LEADCHAIN"].reports.kpi_cache_s)


def team_figures(report: kpis.KpiReport) -> list[Figure]:
    currency = report.current.costs.currency or report.previous.costs.currency
    out = []
    for key in TEAM_KEYS:
        h = report.headline(key)
        out.append(Figure(h.key, h.unit, h.current, h.previous, currency if h.unit == "money" else None))
    return out


def _rep_totals(rows: list[kpis.RepRow], who: User) -> dict[str, int]:
    totals = dict.fromkeys(REP_COUNTS, 0)
    for row in rows:
        if row.user_id in (who.id, None):
            for name in REP_COUNTS:
                totals[name] += getattr(row, name) or 0
    return totals


def _rep_value(key: str, t: dict[str, int]) -> float | None:
    if key == "calls_placed":
        return t["calls"]
    if key == "answer_rate":
        return kpis.ratio(t["answered"], t["calls"])
    if key == "booking_conversion":
        return kpis.ratio(t["booked"], t["wanted"])
    return t[key]


def rep_figures(current: kpis.KpiReport, previous: kpis.KpiReport, who: User) -> list[Figure]:
    cur, prev = _rep_totals(current.per_rep, who), _rep_totals(previous.per_rep, who)
    return [Figure(key, unit, _rep_value(key, cur), _rep_value(key, prev)) for key, unit in REP_KEYS]


def unmatched_bookings(period: Period, owner_id: int | None = None) -> int:
    """Appointments booked in the period (on a call) whose slot did not satisfy the caller's wish; only
    ``owner_id``'s when given. Appointments that do not know (offer_matched null) are not counted."""
    query = (
        sa.select(sa.func.count())
        .select_from(Appointment)
        .where(
            Appointment.offer_matched.is_(False),
            Appointment.created_at >= period.start,
            Appointment.created_at < period.end,
        )
    )
    if owner_id is not None:
        query = query.where(Appointment.owner_id == owner_id)
    return int(db.session.scalar(query) or 0)


def unmatched_figure(period: Period, previous: Period, owner_id: int | None = None) -> Figure:
    return Figure(UNMATCHED, "count", unmatched_bookings(period, owner_id), unmatched_bookings(previous, owner_id))


def inbound_figures(period: Period, previous: Period) -> list[Figure]:
    """The inbound-call KPIs of the period beside the previous one (crm.inbound.kpis), and the callbacks owed
    now (no previous value: it is a state, not a count over a period)."""
    cur, prev = inbound_kpis.figures(period.start, period.end), inbound_kpis.figures(previous.start, previous.end)
    out = [Figure(f"inbound_{name}", "count", getattr(cur, name), getattr(prev, name)) for name in INBOUND_COUNTS]
    out.append(Figure("inbound_without_person", "rate", cur.without_person_share, prev.without_person_share))
    out.append(Figure("callbacks_owed", "count", inbound_kpis.callbacks_owed(), None))
    # A company that takes no inbound calls sees no inbound cards (eight zeros say nothing).
    return out if any(f.current or f.previous for f in out) else []


def dashboard(who: User, kind: str = "daily", now: datetime | None = None) -> Dashboard:
    """The figures `who` may see for the current `kind` period (inside an app context)."""
    if kind not in PERIODS:
        raise ValueError(f"unknown period {kind!r}")
    period = current_period(kind, now)
    report = report_for(period)
    if who.role in MANAGERS:
        unmatched = unmatched_figure(period, report.previous_period)
        figures = team_figures(report)
        inbound = inbound_figures(period, report.previous_period)
        has_data = report.has_data or any(f.current for f in inbound)
        return Dashboard(kind, period, report.previous_period, "team", figures, has_data, unmatched, inbound)
    previous = report_for(report.previous_period)
    figures = rep_figures(report, previous, who)
    has_data = any(f.current for f in figures)
    unmatched = unmatched_figure(period, report.previous_period, who.id)
    return Dashboard(kind, period, report.previous_period, "mine", figures, has_data, unmatched)


def _build_charts(report: kpis.KpiReport, formatter: Formatter) -> object:
    # matplotlib (about 0.5 s of imports) only when a chart is first drawn, not at every process start.
    from crm.reports.charts import build_charts

    return build_charts(report, formatter)


def _charts(kind: str, language: str, now: datetime | None):
    if kind not in PERIODS:
        raise ValueError(f"unknown period {kind!r}")
    period = current_period(kind, now)
    report = report_for(period)
    return cached(
        ("charts", period.kind, period.first_day, language),
        lambda: _build_charts(report, Formatter(language, period.tz)),
    )


def available_charts(kind: str, language: str, now: datetime | None = None) -> list[str]:
    """The names of the charts that are not empty for the current `kind` period."""
    charts = _charts(kind, language, now)
    return [name for name in CHARTS if getattr(charts, name)]


def chart_svg(name: str, kind: str, language: str, now: datetime | None = None) -> bytes | None:
    """The SVG of one report chart of the current `kind` period (crm.reports.charts), None when the
    chart would be empty. Managers only (the caller checks)."""
    if name not in CHARTS:
        raise ValueError(f"unknown chart {name!r}")
    uri = getattr(_charts(kind, language, now), name)
    if not uri:
        return None
    return base64.b64decode(uri.split(",", 1)[1])
