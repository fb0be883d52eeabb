"""The report's charts: matplotlib figures saved as SVG and handed to the HTML as data URIs.

Only the object-oriented API (Figure + the SVG canvas): no pyplot state, so rendering is safe in the
reports worker's threads. `svg.hashsalt` makes the SVG identical for identical figures.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import RcKeyType

from crm.reports.i18n import Formatter
from crm.reports.kpis import KpiReport

BLUE, GREEN, ORANGE, GREY, RED = "#1f5f99", "#3a9a5b", "#e08a1e", "#9aa5b1", "#c0392b"
STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "leadchain-report",
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "axes.titleweight": "bold",
    "legend.frameon": False,
    "legend.fontsize": 7,
}


@dataclass(frozen=True)
class Charts:
    """Data URIs (image/svg+xml); None where a chart would be empty."""

    by_hour: str | None
    by_weekday: str | None
    trend: str | None
    scores: str | None
    sentiment: str | None

    @property
    def count(self) -> int:
        return sum(1 for v in (self.by_hour, self.by_weekday, self.trend, self.scores, self.sentiment) if v)


def _svg(fig: Figure) -> str:
    buf = io.BytesIO()
    FigureCanvasSVG(fig).print_svg(buf)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


def _figure(width_cm: float = 17, height_cm: float = 6) -> Figure:
    fig = Figure(figsize=(width_cm / 2.54, height_cm / 2.54), layout="constrained")
    return fig


def build_charts(report: KpiReport, fmt: Formatter) -> Charts:
    with matplotlib.rc_context(STYLE):
        return Charts(
            by_hour=_by_hour(report, fmt),
            by_weekday=_by_weekday(report, fmt),
            trend=_trend(report, fmt),
            scores=_scores(report, fmt),
            sentiment=_sentiment(report, fmt),
        )


def _bars(ax, labels, series: list[tuple[str, list[int], str]]) -> None:
    width = 0.8 / len(series)
    for i, (name, values, color) in enumerate(series):
        ax.bar(
            [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))],
            values,
            width,
            label=name,
            color=color,
        )
    ax.set_xticks(range(len(labels)), labels)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left")


def _by_hour(report: KpiReport, fmt: Formatter) -> str | None:
    if not any(r.calls for r in report.by_hour):
        return None
    fig = _figure()
    ax = fig.add_subplot()
    _bars(
        ax,
        [str(r.hour) for r in report.by_hour],
        [
            (fmt.t("chart_calls"), [r.calls for r in report.by_hour], BLUE),
            (fmt.t("chart_answered"), [r.answered for r in report.by_hour], GREEN),
        ],
    )
    ax.set_title(fmt.t("by_hour"))
    ax.set_xlabel(fmt.t("hour"))
    return _svg(fig)


def _by_weekday(report: KpiReport, fmt: Formatter) -> str | None:
    if report.period.kind == "daily" or not any(r.calls for r in report.by_weekday):
        return None
    fig = _figure(height_cm=5.5)
    ax = fig.add_subplot()
    _bars(
        ax,
        [fmt.weekday(r.weekday) for r in report.by_weekday],
        [
            (fmt.t("chart_calls"), [r.calls for r in report.by_weekday], BLUE),
            (fmt.t("chart_answered"), [r.answered for r in report.by_weekday], GREEN),
        ],
    )
    ax.set_title(fmt.t("by_weekday"))
    return _svg(fig)


def _trend(report: KpiReport, fmt: Formatter) -> str | None:
    days = report.trend
    if not any(d.calls or d.leads_in or d.emails_sent for d in days):
        return None
    fig = _figure(height_cm=6.5)
    ax = fig.add_subplot()
    x = list(range(len(days)))
    for name, values, color in (
        (fmt.t("chart_calls"), [d.calls for d in days], BLUE),
        (fmt.t("chart_answered"), [d.answered for d in days], GREEN),
        (fmt.t("chart_leads"), [d.leads_in for d in days], ORANGE),
        (fmt.t("chart_booked"), [d.booked for d in days], RED),
        (fmt.t("chart_emails"), [d.emails_sent for d in days], GREY),
    ):
        ax.plot(x, values, label=name, color=color, linewidth=1.4, marker="o", markersize=2)
    ticks = [i for i in x if (len(days) - 1 - i) % 5 == 0]
    ax.set_xticks(ticks, [fmt.day(days[i].day, "dd.MM." if fmt.language == "de" else "d MMM") for i in ticks])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.set_title(fmt.t("trend"))
    ax.legend(loc="upper left", ncols=5)
    return _svg(fig)


def _scores(report: KpiReport, fmt: Formatter) -> str | None:
    buckets = report.current.leads.score_buckets
    if not any(b.count for b in buckets):
        return None
    fig = _figure(width_cm=8.5, height_cm=5.5)
    ax = fig.add_subplot()
    # Score buckets always have a key; `or ""` is what matplotlib would show for None anyway.
    labels = [(b.key or "") if b.key != "unscored" else fmt.label("unscored") for b in buckets]
    colors = [GREY if b.key == "unscored" else (GREEN if i >= 5 else BLUE) for i, b in enumerate(buckets)]
    ax.bar(range(len(buckets)), [b.count for b in buckets], color=colors)
    ax.set_xticks(range(len(buckets)), labels, rotation=60, ha="right")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(fmt.t("score_distribution"))
    return _svg(fig)


def _sentiment(report: KpiReport, fmt: Formatter) -> str | None:
    buckets = report.current.calls.sentiment
    if not any(b.count for b in buckets):
        return None
    fig = _figure(width_cm=8.5, height_cm=5.5)
    ax = fig.add_subplot()
    colors = {"positive": GREEN, "neutral": BLUE, "negative": RED, "unknown": GREY}
    ax.barh(
        [fmt.label(b.key) for b in buckets][::-1],
        [b.count for b in buckets][::-1],
        color=[colors[b.key or "unknown"] for b in buckets][::-1],
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(fmt.t("sentiment"))
    return _svg(fig)
