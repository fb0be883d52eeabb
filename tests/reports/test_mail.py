"""The report email: the SendGrid request it becomes, and at most one email per (report, manager) when
an attempt's answer is lost and the activity is retried."""

from __future__ import annotations

import base64
import hashlib
from datetime import date

import pytest
import sqlalchemy as sa
from temporalio.exceptions import ApplicationError

from activities.report_activities import ReportActivities
from crm.email.sendgrid_sender import SendGridSender
from crm.extensions import db
from crm.models import Role, SideEffect, User
from crm.models.reports import Report, ReportDocument
from crm.reports.kpis import compute
from crm.reports.mail import SendGridReportMailer, compose
from crm.reports.periods import period_for
from tests.activity_env import activity_env
from tests.reports.conftest import RecordingMailer
from workflows.report_payloads import SendReportInput

PDF = b"%PDF-1.7 not really a report"


def _stored_report(period) -> int:
    figures = compute(period)
    report = Report(
        kind=period.kind,
        period_start=period.start,
        period_end=period.end,
        figures=figures.to_dict(),
        has_data=figures.has_data,
    )
    db.session.add(report)
    db.session.flush()
    for lang in ("de", "en"):
        db.session.add(
            ReportDocument(
                report_id=report.id,
                language=lang,
                filename=f"r-{lang}.pdf",
                content=PDF,
                size_bytes=len(PDF),
                sha256=hashlib.sha256(PDF).hexdigest(),
            )
        )
    db.session.commit()
    return report.id


def test_sendgrid_request_has_the_pdf_attached_and_no_lead(ctx):
    period = period_for("monthly", date(2026, 1, 1))
    mail = compose(
        compute(period),
        report_id=7,
        language="en",
        to_email="boss@example.test",
        to_name="Boss",
        company="Testfirma GmbH",
        filename="leadchain-report-monthly-2026-01-en.pdf",
        content=PDF,
        idempotency_key="report:7:user:3",
    )
    mailer = SendGridReportMailer(sender=SendGridSender(api_key="SG.test-key", host="http://127.0.0.1:9"))
    body = mailer.sender.mail(mailer.outgoing(mail)).get()
    assert body["subject"] == "Monthly report Testfirma GmbH: January 2026"
    assert body["personalizations"][0]["to"] == [{"email": "boss@example.test", "name": "Boss"}]
    (attachment,) = body["attachments"]
    assert (attachment["filename"], attachment["type"], attachment["disposition"]) == (
        "leadchain-report-monthly-2026-01-en.pdf",
        "application/pdf",
        "attachment",
    )
    assert base64.b64decode(attachment["content"]) == PDF
    # Nobody's lead; message_key is the ledger key, which routes its events to the report's company (stored as
    # ignored there: a report_email ledger row has no interaction to wait for).
    assert body["custom_args"] == {"report_id": "7", "message_key": "report:7:user:3"}
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert "No data in this period" in body["content"][0]["value"]


def test_one_email_per_manager_even_when_an_answer_is_lost(ctx, app):
    boss = User(email="boss@example.test", name="Boss", role=Role.MANAGER, language="en")
    other = User(email="chefin@example.test", name="Chefin", role=Role.MANAGER, language="de")
    db.session.add_all([boss, other, User(email="rep@example.test", name="Rep", role=Role.SALES)])
    db.session.commit()
    report_id = _stored_report(period_for("daily", date(2026, 1, 15)))
    mailer = RecordingMailer(lose_answer_once=True)
    acts = ReportActivities(app, mailer)
    env = activity_env()
    with pytest.raises(ApplicationError):
        env.run(acts.send_report, SendReportInput(report_id))  # the first email went out, its answer was lost
    first = env.run(acts.send_report, SendReportInput(report_id))  # Temporal's retry
    second = env.run(acts.send_report, SendReportInput(report_id))  # a rerun of the whole workflow
    assert [(m.to_email, m.language) for m in mailer.sent] == [
        ("boss@example.test", "en"),
        ("chefin@example.test", "de"),
    ]
    assert (first.recipients, first.sent, first.already_sent) == (2, 1, 1)
    assert (second.sent, second.already_sent) == (0, 2)
    db.session.expire_all()
    rows = db.session.scalars(sa.select(SideEffect).order_by(SideEffect.key)).all()
    assert [(r.status, r.attempts) for r in rows] == [("done", 1), ("done", 1)]


def test_without_a_mailer_nothing_is_recorded(ctx, app):
    db.session.add(User(email="boss@example.test", name="Boss", role=Role.MANAGER))
    db.session.commit()
    report_id = _stored_report(period_for("daily", date(2026, 1, 15)))
    result = activity_env().run(ReportActivities(app, None).send_report, SendReportInput(report_id))
    assert (result.sent, len(result.refused)) == (0, 1) and "no email sender" in result.refused[0]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SideEffect)) == 0
