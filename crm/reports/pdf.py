"""The manager report as a PDF: Jinja2 HTML (templates/report.html) rendered by WeasyPrint on A4.

    render_report("daily", date(2026, 1, 15), "de") -> bytes      # inside an app context

The steps are separate so the CLI can show progress and the reports worker can heartbeat between
them: kpis.compute (queries) -> build_charts (matplotlib SVG) -> render_html -> html_to_pdf.

Company name and logo come from configuration: LEADCHAIN_COMPANY_NAME and LEADCHAIN_COMPANY_LOGO (a
path to an SVG, PNG or JPEG), read into crm.config.Settings.reports; the default logo is
crm/reports/static/logo.svg. Inside a company scope the company's own row goes over them
(crm.email.settings.company, the same reading as its mail): its brand colour, its logo when it is a data:
URI (WeasyPrint would fetch an https logo from wherever an admin pointed it: not from a report worker),
and, once it has an imprint of its own, its name and that imprint on the last page.
"""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app, has_app_context
from jinja2 import Environment, FileSystemLoader, select_autoescape

from crm.config import ReportSettings
from crm.email import settings as email_settings
from crm.inbound import kpis as inbound_kpis
from crm.inbound.kpis import InboundFigures
from crm.reports import definitions, kpis, pipeline
from crm.reports.i18n import Formatter
from crm.reports.periods import Period, period_for

if TYPE_CHECKING:
    from crm.reports.charts import Charts

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
DEFAULT_LOGO = HERE / "static" / "logo.svg"
DEFAULT_COMPANY = "Leadchain GmbH"
DEFAULT_COLOR = "#1f5f99"  # report.css's heading blue


@dataclass(frozen=True)
class Branding:
    company: str
    logo_uri: str
    color: str = DEFAULT_COLOR
    # The imprint on the last page, one line each (the company's own, else the configured one's fields).
    imprint: tuple[str, ...] = ()


def branding(reports: ReportSettings | None = None) -> Branding:
    """Company name and logo from `reports` (else the current app's Settings.reports; the defaults outside
    any app), under the current company's own branding and imprint where it has them."""
    if reports is None:
        reports = current_app.config["LEADCHAIN"].reports if has_app_context() else ReportSettings()
    company = reports.company_name or DEFAULT_COMPANY
    logo_path = Path(reports.company_logo or DEFAULT_LOGO)
    if not logo_path.is_file():
        raise FileNotFoundError(f"LEADCHAIN_COMPANY_LOGO: no file at {logo_path}")
    brand = Branding(company, _data_uri(logo_path))
    own = email_settings.company() if has_app_context() else None
    if own is None or own.slug is None:
        return brand  # no company scope: the installation's report
    # A company with an imprint of its own signs its report with it; one without keeps the configured name
    # and, as before companies, no imprint page (an internal report needs none).
    imprint, company = (own.imprint, own.name) if own.imprint else ((), company)
    logo = own.logo_url if own.logo_url and own.logo_url.startswith("data:image/") else brand.logo_uri
    return Branding(company, logo, own.color, imprint)


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix.lower() == ".svg":
        mime = "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _css_string(value: object) -> str:
    """A value inside a CSS double-quoted string (the @page footer)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cssstr"] = _css_string
    return env


def render_html(
    report: kpis.KpiReport, language: str, *, charts: Charts | None = None, brand: Branding | None = None
) -> str:
    fmt = Formatter(language, report.period.tz)
    if charts is None:
        from crm.reports.charts import build_charts  # matplotlib loads with the first chart, not at start

        charts = build_charts(report, fmt)
    brand = brand or branding()
    return (
        environment()
        .get_template("report.html")
        .render(
            r=report,
            f=fmt,
            charts=charts,
            company=brand.company,
            logo=brand.logo_uri,
            color=brand.color,
            imprint=brand.imprint,
            title=fmt.period_title(report.period),
            period_label=fmt.period_label(report.period),
            previous_label=fmt.period_label(report.previous_period),
            generated=fmt.moment(report.generated_at),
            definitions=definitions.for_language(language),
            inbound=inbound_section(report),
            pipeline=pipeline.pipeline_section(report),
            amounts=pipeline.amounts,
            css=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
        )
    )


def inbound_section(report: kpis.KpiReport) -> tuple[InboundFigures, InboundFigures, int] | None:
    """The inbound-call figures of the period and the previous one, and the callbacks owed now (issue 17;
    crm.inbound.kpis); None for a company that took no inbound calls in either (no empty section), and
    outside an app context (a report rendered from stored figures has no database to read them from)."""
    if not has_app_context():
        return None
    cur = inbound_kpis.figures(report.period.start, report.period.end)
    prev = inbound_kpis.figures(report.previous_period.start, report.previous_period.end)
    if not (cur.answered or prev.answered):
        return None
    return cur, prev, inbound_kpis.callbacks_owed()


def html_to_pdf(html: str) -> bytes:
    # Imported when a PDF is rendered, not at start-up: WeasyPrint (with its Pango/cairo bindings) is
    # slow to load, and the web, the chain and the voice bridge never render one.
    from weasyprint import HTML

    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf()


def render_pdf(
    report: kpis.KpiReport, language: str, *, charts: Charts | None = None, brand: Branding | None = None
) -> bytes:
    return html_to_pdf(render_html(report, language, charts=charts, brand=brand))


def filename(period: Period, language: str, *, to_date: bool = False) -> str:
    """leadchain-report-<kind>-<stamp>[-to-date]-<language>.pdf (to-date: a running period so far)."""
    if period.kind == "monthly":
        stamp = period.first_day.strftime("%Y-%m")
    elif period.kind == "weekly":
        iso = period.first_day.isocalendar()
        stamp = f"{iso.year}-W{iso.week:02d}"
    elif period.first_day == period.last_day:
        stamp = period.first_day.isoformat()
    else:
        stamp = f"{period.first_day.isoformat()}_{period.last_day.isoformat()}"
    return f"leadchain-report-{period.kind}-{stamp}{'-to-date' if to_date else ''}-{language}.pdf"


def render_report(period: str, day: date | str, lang: str = "de") -> bytes:
    """The PDF report of the daily/weekly/monthly period containing `day` (inside an app context)."""
    Formatter(lang)  # refuse an unsupported language before any query runs
    return render_pdf(kpis.compute(period_for(period, day)), lang)
