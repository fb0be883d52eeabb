"""GET / : the dashboard (today, this week, this month, with the change against the period before), and
GET /dashboard/chart/<name>.svg : one chart of the manager report as an image (managers only).

Figures: crm.ui.dashboard_queries (from crm.reports.kpis). Numbers and dates: the reports' Formatter
in the page's language and the user's zone."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Response, abort, render_template, request

from crm.reports.i18n import Formatter
from crm.ui import dashboard_queries as dq
from crm.ui.access import MANAGERS, any_role, manager_only, user
from crm.ui.dashboard_pipeline import pipeline_cards
from crm.ui.i18n import _, current_language

bp = Blueprint("dashboard", __name__)


def ui_formatter() -> Formatter:
    """Numbers and times for this request: its language, the signed-in user's zone (Berlin by default)."""
    tz = getattr(user(), "timezone", None) or "Europe/Berlin"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        tz = "Europe/Berlin"
    return Formatter(current_language(), tz)


def _period_arg() -> str:
    kind = request.args.get("period", "daily")
    return kind if kind in dq.PERIODS else "daily"


def figure_labels() -> dict[str, str]:
    return {
        "leads_in": _("New leads"),
        "qualified_share": _("Qualified"),
        "calls_placed": _("Calls"),
        "answer_rate": _("Answer rate"),
        "talk_time_avg": _("Avg talk time"),
        "booked": _("Appointments booked"),
        "booking_conversion": _("Booking conversion"),
        "follow_ups": _("Follow-up potential"),
        "cost_per_call": _("Cost per call"),
        "cost_per_booked": _("Cost per booking"),
        "emails_sent": _("Emails sent"),
        "open_rate": _("Open rate"),
        "wanted": _("Wanted an appointment"),
        "appointments": _("Appointments created"),
        "booked_unmatched": _("Booked outside the caller's wish"),
        "inbound_answered": _("Inbound calls answered"),
        "inbound_booked": _("Inbound: booked"),
        "inbound_rescheduled": _("Inbound: rescheduled"),
        "inbound_cancelled": _("Inbound: cancelled"),
        "inbound_transferred": _("Inbound: transferred"),
        "inbound_abandoned": _("Inbound: abandoned"),
        "inbound_without_person": _("Inbound handled without a person"),
        "callbacks_owed": _("Callbacks owed"),
    }


def period_names() -> dict[str, str]:
    return {"daily": _("Today"), "weekly": _("This week"), "monthly": _("This month")}


def chart_titles() -> dict[str, str]:
    return {
        "trend": _("30-day trend of calls, leads, bookings and emails"),
        "by_hour": _("Calls by hour of day"),
        "by_weekday": _("Calls by day of week"),
        "scores": _("Score distribution of new leads"),
        "sentiment": _("Sentiment of answered calls"),
    }


def value_text(fmt: Formatter, figure: dq.Figure, which: str = "current") -> str:
    value = getattr(figure, which)
    if figure.unit == "rate":
        return fmt.pct(value)
    if figure.unit == "money":
        return fmt.money(value, figure.currency)
    if figure.unit == "seconds":
        return fmt.duration(value)
    return fmt.count(value)


# Figures where less is better (colour only; the arrow and the sign say the direction).
LOWER_IS_BETTER = {"cost_per_call", "cost_per_booked", "booked_unmatched", "inbound_abandoned", "callbacks_owed"}
NO_VERDICT = {"talk_time_avg", "inbound_cancelled", "inbound_rescheduled", "inbound_transferred"}


def tone(figure: dq.Figure, direction: str) -> str:
    """good | bad | neutral: the colour of a change."""
    if direction in ("none", "flat") or figure.key in NO_VERDICT:
        return "neutral"
    better = direction == ("down" if figure.key in LOWER_IS_BETTER else "up")
    return "good" if better else "bad"


def change_text(fmt: Formatter, figure: dq.Figure) -> tuple[str, str]:
    """(text, direction up|down|flat|none) of the change against the previous period."""
    delta = figure.delta
    direction = "none" if delta is None else "up" if delta > 0 else "down" if delta < 0 else "flat"
    if figure.unit == "rate":
        return fmt.points(delta), direction
    if figure.change is None:
        return "–", "none" if delta is None or figure.previous in (0, None) else direction
    return fmt.signed_pct(figure.change), direction


@bp.get("/")
@any_role
def index():
    kind = _period_arg()
    who = user()
    board = dq.dashboard(who, kind)
    fmt = ui_formatter()
    charts: list[str] = []
    if who.role in MANAGERS and board.has_data:
        charts = dq.available_charts(kind, fmt.language)
    labels = figure_labels()
    cards = []
    # The offer invariant's count (docs/voice-bridge.md §V11) follows the report's figures.
    for figure in [*board.figures, *([board.unmatched] if board.unmatched is not None else []), *board.inbound]:
        text, direction = change_text(fmt, figure)
        cards.append(
            {
                "key": figure.key,
                "label": labels.get(figure.key, figure.key),
                "value": value_text(fmt, figure),
                "previous": value_text(fmt, figure, "previous"),
                "change": text,
                "direction": direction,
                "tone": tone(figure, direction),
            }
        )
    # Team costs are in the company currency: name the exchange rates used (crm.services.money).
    fx_notes = fmt.fx_notes(dq.report_for(board.period).current.costs) if board.scope == "team" else []
    return render_template(
        "ui/dashboard/index.html",
        board=board,
        cards=cards,
        kind=kind,
        periods=period_names(),
        period_label=fmt.period_label(board.period),
        fx_notes=fx_notes,
        previous_label=fmt.period_label(board.previous_period),
        charts=charts,
        pipeline=pipeline_cards(who, fmt),
        chart_titles=chart_titles(),
        lang=fmt.language,
    )


@bp.get("/dashboard/chart/<name>.svg")
@manager_only
def chart(name: str):
    if name not in dq.CHARTS:
        abort(404)
    language = current_language()
    svg = dq.chart_svg(name, _period_arg(), language)
    if svg is None:
        abort(404)
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Content-Language"] = language
    return response
