"""Report steps: build (or find) a period's report, then email it to every manager at most once.

build_report is idempotent per (kind, period start) (crm.reports.store). send_report writes a ledger
row (SideEffect, key "report:<report id>:user:<user id>") before each email, as the chain's
send_email does: a retried activity skips managers whose row is done, and where an earlier attempt's
fate is unknown it asks the mailer's send journal (find_sent) instead of sending again. A provisional
report of a running period (store.is_to_date) is not emailed: the final one replaces it and is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.ledger import claim, mark_done
from activities.rows import require_row
from crm.extensions import db
from crm.models import Role, SideEffect, User
from crm.models.reports import Report
from crm.reports import store
from crm.reports.i18n import LANGUAGES
from crm.reports.kpis import KpiReport
from crm.reports.mail import ReportMailer, compose
from crm.reports.pdf import branding
from crm.reports.periods import period_for, scheduled_period
from workflows.report_payloads import BuildReportInput, BuiltReport, ReportSent, SendReportInput

LEDGER_KIND = "report_email"


def ledger_key(report_id: int, user_id: int) -> str:
    return f"report:{report_id}:user:{user_id}"


class ReportActivities:
    def __init__(self, app: Flask, mailer: ReportMailer | None, *, default_language: str | None = None) -> None:
        self.app = app
        self.mailer = mailer
        self.default_language = default_language or app.config["LEADCHAIN"].reports.language
        if self.default_language not in LANGUAGES:
            raise ValueError(f"LEADCHAIN_REPORT_LANGUAGE must be one of {', '.join(LANGUAGES)}")

    @activity.defn(name="build_report")
    def build_report(self, inp: BuildReportInput) -> BuiltReport:
        try:
            period = period_for(inp.kind, inp.day) if inp.day else scheduled_period(inp.kind, inp.at)
        except ValueError as e:
            raise ApplicationError(str(e), type="InvalidReportRequest", non_retryable=True) from None
        with self.app.app_context():
            try:
                languages = set(store.manager_languages()) | {self.default_language}
                stored = store.build(
                    period,
                    languages,
                    created_by=f"workflow:{activity.info().workflow_id}",
                    progress=lambda step: activity.heartbeat(step),
                    to_date=inp.to_date,
                )
                return BuiltReport(
                    report_id=stored.report_id,
                    kind=period.kind,
                    period_start=period.start,
                    period_end=period.end,
                    created=stored.created,
                    languages=stored.languages,
                    has_data=stored.has_data,
                    to_date=stored.to_date,
                )
            finally:
                db.session.remove()

    @activity.defn(name="send_report")
    def send_report(self, inp: SendReportInput) -> ReportSent:
        with self.app.app_context():
            try:
                return self._send(inp.report_id)
            finally:
                db.session.remove()

    def _send(self, report_id: int) -> ReportSent:
        report = db.session.get(Report, report_id)
        if report is None:
            raise ApplicationError(
                f"report {report_id} does not exist", type="InvalidReportRequest", non_retryable=True
            )
        if store.is_to_date(report):
            # Provisional: managers get the final report of the period (which replaces this row) once.
            return ReportSent(report_id=report_id, recipients=0, sent=0, already_sent=0)
        figures = KpiReport.from_dict(report.figures)
        company = branding().company
        managers = db.session.execute(
            sa.select(User.id, User.email, User.name, User.language)
            .where(User.role == Role.MANAGER, User.active)
            .order_by(User.id)
        ).all()
        sent = already = 0
        refused: list[str] = []
        mailer = self.mailer
        for manager in managers:
            activity.heartbeat(manager.id)
            key = ledger_key(report_id, manager.id)
            if mailer is None or not manager.email:
                # Nothing is recorded for these: once an address or a sender exists, a rerun sends.
                reason = "no email sender configured" if mailer is None else "no email address"
                refused.append(f"user {manager.id}: {reason}")
                continue
            row = claim(key, LEDGER_KIND, None)
            if row.status == "done":
                already += 1
                db.session.commit()
                continue
            if row.attempts > 0:
                found = mailer.find_sent(key)
                if found:
                    mark_done(row, mailer.name, found, {"report_id": report_id, "user_id": manager.id})
                    db.session.commit()
                    already += 1
                    continue
            doc = store.document(report_id, manager.language)
            if doc is None:
                raise ApplicationError(
                    f"report {report_id} has no PDF", type="InvalidReportRequest", non_retryable=True
                )
            mail = compose(
                figures,
                report_id=report_id,
                language=doc.language,
                to_email=manager.email,
                to_name=manager.name,
                company=company,
                filename=doc.filename,
                content=doc.content,
                idempotency_key=key,
            )
            row.attempts += 1
            db.session.commit()
            try:
                message_id = mailer.send(mail)
            except ApplicationError as e:
                if not e.non_retryable:
                    raise  # Temporal retries the activity; done rows are skipped then
                row = require_row(SideEffect, row.id)
                row.status, row.result = "failed", {"reason": str(e)[:200]}
                db.session.commit()
                refused.append(f"user {manager.id}: {str(e)[:200]}")
                continue
            row = require_row(SideEffect, row.id)
            mark_done(
                row,
                mailer.name,
                message_id,
                {"report_id": report_id, "user_id": manager.id, "language": doc.language},
            )
            db.session.commit()
            sent += 1
        return ReportSent(
            report_id=report_id, recipients=len(managers), sent=sent, already_sent=already, refused=refused
        )

    def all(self) -> list[Callable[..., Any]]:
        return [self.build_report, self.send_report]
