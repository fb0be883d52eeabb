"""Reports (crm.ui.reports): managers and admins only; sales get 403 for the list, the PDF and generating."""

import hashlib
from datetime import date

import sqlalchemy as sa

from crm.extensions import db
from crm.models import AppSetting, AuditEntry
from crm.models.reports import Report, ReportDocument
from crm.reports.periods import daily
from tests.ui.route_expectations import Route

MANAGERS_ONLY = {"anonymous": 302, "sales": 403, "manager": 200, "admin": 200}


def _stored_report(s) -> dict:
    period = daily(date(2026, 1, 15))
    report = db.session.scalar(sa.select(Report).where(Report.kind == "daily", Report.period_start == period.start))
    if report is None:
        report = Report(kind="daily", period_start=period.start, period_end=period.end, figures={}, has_data=False)
        content = b"%PDF-1.7\n% matrix test\n"
        report.documents.append(
            ReportDocument(
                language="de",
                filename="leadchain-report-daily-2026-01-15-de.pdf",
                content=content,
                size_bytes=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
            )
        )
        db.session.add(report)
        db.session.commit()
    return {"report_id": report.id}


def _rates_and_audit(s):
    return (
        db.session.scalar(sa.select(sa.func.count()).select_from(AppSetting)),
        db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)),
    )


def _reports_and_audit(s):
    return (
        db.session.scalar(sa.select(sa.func.count()).select_from(Report)),
        db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)),
    )


ROUTES = {
    "reports.index": Route(expect=MANAGERS_ONLY),
    "reports.download": Route(
        setup=_stored_report, url_args=lambda s: {"report_id": s.extra["report_id"], "lang": "de"}, expect=MANAGERS_ONLY
    ),
    # A bad kind: refused with a message before Temporal is asked (the matrix runs without a worker).
    "reports.generate": Route(
        method="POST",
        data=lambda s: {"kind": "yearly", "day": "2026-01-15"},
        snapshot=_reports_and_audit,
        expect={"anonymous": 302, "sales": 403, "manager": 303, "admin": 303},
    ),
    # Exchange rates: admins only; a bad entry is a 422 naming it (tests/ui/test_reports_pages.py).
    "reports.fx_rates": Route(
        method="POST",
        data=lambda s: {"fx_rates": "USD:EUR=0.92"},
        snapshot=_rates_and_audit,
        expect={"anonymous": 302, "sales": 403, "manager": 403, "admin": 303},
    ),
}
