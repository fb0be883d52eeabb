"""Managers' reports: GET /reports lists the stored reports with their PDFs per language,
GET /reports/<id>/<lang>.pdf downloads one (attachment), POST /reports/generate asks for one now.

"Generate now" starts the report workflow (workflows/reports.py, the one the schedules start) through
Temporal, so the reports worker builds the PDFs off the web process and emails the managers once, as a
scheduled run would. A period that has ended gives the final report (built once per period). The running
period gives a provisional report "period to date" (crm.reports.store): not emailed, refreshed by the
next request and replaced in place by the final report, so it never blocks the scheduled run. A period
that has not begun is refused. The workflow id is per kind, period and final/to-date, so a second click
while it runs starts nothing. When Temporal cannot be reached the page
says so and nothing is recorded as requested.

Admins set the exchange rates the reports and the lead pages convert provider costs with
(POST /reports/fx-rates, crm.services.money): validated entry by entry (422 naming each bad one, nothing
stored), audited, over LEADCHAIN_FX_RATES pair by pair; an empty field goes back to the configured rates."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError

from crm.extensions import db
from crm.models.reports import Report, ReportDocument
from crm.models.types import utcnow
from crm.models.users import Role
from crm.reports.i18n import LANGUAGES
from crm.reports.periods import KINDS, REPORT_TZ, Period, local_date, period_for
from crm.reports.store import is_to_date
from crm.services import audit, money
from crm.temporal_gateway import TemporalUnavailable, gateway
from crm.tenancy.context import require_company_id
from crm.ui.access import admin_only, manager_only, user
from crm.ui.dashboard import ui_formatter
from crm.ui.i18n import _
from workflows.payloads import COMPANY_ID
from workflows.report_payloads import ReportRequest
from workflows.reports import ReportWorkflow

bp = Blueprint("reports", __name__)
LIST_LIMIT = 100


def kind_names() -> dict[str, str]:
    return {"daily": _("Daily report"), "weekly": _("Weekly report"), "monthly": _("Monthly report")}


def workflow_id(period: Period, to_date: bool = False, company_id: int | None = None) -> str:
    """One manual run per company and period (docs/tenancy.md rule 4); the company defaults to the scope's."""
    company = company_id if company_id is not None else require_company_id()
    return f"c{company}-report-manual-{period.kind}-{period.first_day.isoformat()}{'-to-date' if to_date else ''}"


def today(now: datetime | None = None) -> date:
    return local_date(now or utcnow(), REPORT_TZ)


def default_day(now: datetime | None = None) -> date:
    return today(now) - timedelta(days=1)


def to_date_label(fmt, as_of: datetime) -> str:
    return _("period to date (as of %(moment)s)", moment=fmt.moment(as_of))


def _fx_context(entered: str | None = None, errors: list[str] | None = None) -> dict:
    """The exchange-rate box: the company currency, the configured and the admin's rates."""
    try:
        company, configured = money.company_currency(), money.rates_text(money.configured_rates())
        admin = money.rates_text(money.admin_rates())
        broken = None
    except money.MoneyConfigError as e:  # shown, not raised: the page must still open
        company, configured, admin, broken = money.DEFAULT_CURRENCY, "", "", str(e)
    return {
        "fx_company": company,
        "fx_configured": configured,
        "fx_admin": admin,
        "fx_entered": admin if entered is None else entered,
        "fx_errors": errors or [],
        "fx_broken": broken,
        "is_admin": user().role == Role.ADMIN,
    }


@bp.get("/reports")
@manager_only
def index():
    return _index()


def _index(status: int = 200, **fx):
    reports = db.session.scalars(
        sa.select(Report).order_by(Report.period_start.desc(), Report.kind).limit(LIST_LIMIT)
    ).all()
    docs: dict[int, list] = {}
    if reports:
        rows = db.session.execute(
            sa.select(
                ReportDocument.report_id, ReportDocument.language, ReportDocument.size_bytes, ReportDocument.filename
            )
            .where(ReportDocument.report_id.in_([r.id for r in reports]))
            .order_by(ReportDocument.language)
        )
        for row in rows:
            docs.setdefault(row.report_id, []).append(row)
    fmt = ui_formatter()
    items = []
    for r in reports:
        period = period_for(r.kind, local_date(r.period_start, r.timezone), r.timezone) if r.kind in KINDS else None
        items.append(
            {
                "report": r,
                "docs": docs.get(r.id, []),
                "kind": kind_names().get(r.kind, r.kind),
                "period": fmt.period_label(period) if period else fmt.moment(r.period_start),
                "to_date": to_date_label(fmt, r.period_end) if is_to_date(r) else None,
            }
        )
    return render_template(
        "ui/reports/index.html",
        items=items,
        fmt=fmt,
        kinds=kind_names(),
        default_day=default_day().isoformat(),
        today=today().isoformat(),
        **_fx_context(**fx),
    ), status


@bp.post("/reports/fx-rates")
@admin_only
def fx_rates():
    """Store the admin's exchange rates; a bad entry is refused with 422 naming it, nothing is stored."""
    text = request.form.get("fx_rates", "")
    try:
        rates = money.set_admin_rates(text, f"user:{user().id}")
    except money.MoneyConfigError as e:
        db.session.rollback()
        return _index(422, entered=text, errors=e.problems)
    db.session.commit()
    if rates:
        flash(_("Exchange rates saved: %(rates)s.", rates=money.rates_text(rates)), "success")
    else:
        flash(_("Exchange rates reset: the configured rates (LEADCHAIN_FX_RATES) apply."), "success")
    return redirect(url_for("reports.index"), code=303)


@bp.get("/reports/<int:report_id>/<lang>.pdf")
@manager_only
def download(report_id: int, lang: str):
    if lang not in LANGUAGES:
        abort(404)
    doc = db.session.scalar(
        sa.select(ReportDocument).where(ReportDocument.report_id == report_id, ReportDocument.language == lang)
    )
    if doc is None:
        abort(404)
    audit.record(f"user:{user().id}", "report.downloaded", "report", report_id, after={"language": lang})
    db.session.commit()
    response = Response(doc.content, mimetype=doc.content_type or "application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{doc.filename}"'
    response.headers["Content-Length"] = str(len(doc.content))
    return response


def _requested_period() -> tuple[Period, bool] | None:
    """(period, to_date) from the form, or None after flashing what is wrong. to_date: the period is running."""
    kind = request.form.get("kind", "")
    raw = request.form.get("day", "").strip()
    if kind not in KINDS:
        flash(_("Choose a daily, weekly or monthly report."), "error")
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        flash(_("Enter the date as YYYY-MM-DD."), "error")
        return None
    now = utcnow()
    try:
        period = period_for(kind, day, REPORT_TZ)
        started, ended = period.start <= now, period.end <= now
    except OverflowError:  # 0001-01-01 or 9999-12-31: the period's bounds fall outside datetime's range
        if day < default_day():
            flash(_("Enter the date as YYYY-MM-DD."), "error")
            return None
        started = False
    if not started:
        flash(_("This period has not begun yet: choose a day up to today."), "error")
        return None
    return period, not ended


def _start(period: Period, to_date: bool) -> str:
    """Start the report workflow; "started", or "running" when one for this period is still going."""
    queue = current_app.config["LEADCHAIN"].reports.task_queue
    company = require_company_id()
    request_ = ReportRequest(kind=period.kind, day=period.first_day.isoformat(), to_date=to_date, company_id=company)

    async def start(client) -> str:
        try:
            await client.start_workflow(
                ReportWorkflow.run,
                request_,
                id=workflow_id(period, to_date, company),
                task_queue=queue,
                execution_timeout=timedelta(hours=6),
                # The gateway's client puts the scope's company in the leadchain-company header too.
                search_attributes=TypedSearchAttributes([SearchAttributePair(COMPANY_ID, company)]),
            )
            return "started"
        except WorkflowAlreadyStartedError:
            return "running"

    return gateway().run(start)


@bp.post("/reports/generate")
@manager_only
def generate():
    requested = _requested_period()
    if requested is None:
        return redirect(url_for("reports.index"), code=303)
    period, to_date = requested
    fmt = ui_formatter()
    label = f"{kind_names()[period.kind]} {fmt.period_label(period)}"
    existing = db.session.scalar(
        sa.select(Report).where(Report.kind == period.kind, Report.period_start == period.start)
    )
    # A provisional (to-date) report never blocks: the final build replaces it, a new request refreshes it.
    # A final one (e.g. the daily run's at 18:00) is not replaced by a to-date request.
    if existing is not None and existing.documents and not is_to_date(existing):
        flash(_("%(report)s exists already: download it below.", report=label), "info")
        return redirect(url_for("reports.index"), code=303)
    if to_date:
        to_date_words = _("period to date")
        label = f"{label} ({to_date_words})"
    try:
        outcome = _start(period, to_date)
    except TemporalUnavailable:
        flash(
            _(
                "The report service (Temporal) cannot be reached, so %(report)s was not requested. "
                "Please try again later.",
                report=label,
            ),
            "error",
        )
        return redirect(url_for("reports.index"), code=303)
    if outcome == "running":
        flash(_("%(report)s is being generated already.", report=label), "info")
    else:
        audit.record(
            f"user:{user().id}",
            "report.generate_requested",
            "report",
            existing.id if existing else None,
            after={
                "kind": period.kind,
                "first_day": period.first_day.isoformat(),
                "to_date": to_date,
                "workflow_id": workflow_id(period, to_date),
            },
        )
        db.session.commit()
        flash(
            _(
                "%(report)s is being generated. It appears in this list when the reports worker has built it.",
                report=label,
            ),
            "success",
        )
    return redirect(url_for("reports.index"), code=303)
