"""A report of the running period ("period to date") is provisional: stored with the moment it was built
as its end, not emailed, refreshed by the next to-date build and replaced in the same row by the final
report, which is then emailed once; a final report is never replaced by a to-date one. Both databases."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from pypdf import PdfReader

from activities.report_activities import ReportActivities
from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind, Lead, Role, SideEffect, User
from crm.models.reports import Report, ReportDocument
from crm.reports import store
from crm.reports.periods import daily
from tests.activity_env import activity_env
from tests.reports.conftest import RecordingMailer
from workflows.report_payloads import SendReportInput

DAY = date(2026, 1, 15)  # Berlin day = [2026-01-14 23:00, 2026-01-15 23:00) UTC
NOON = datetime(2026, 1, 15, 11, 0, tzinfo=UTC)


def _booked_call(at: datetime, ref: str) -> None:
    lead = Lead(first_name="Rita", source="website", score=70, created_at=at)
    db.session.add(lead)
    db.session.flush()
    db.session.add(
        Interaction(
            lead_id=lead.id,
            kind=InteractionKind.CALL,
            direction=Direction.OUTBOUND,
            provider="retell",
            provider_ref=ref,
            status="ended",
            outcome="booked",
            started_at=at,
            created_at=at,
            data={"answered": True},
        )
    )
    db.session.commit()


def _text(content: bytes) -> str:
    return " ".join((p.extract_text() or "") for p in PdfReader(io.BytesIO(content)).pages).replace("\xa0", " ")


def _docs(report_id: int) -> list[ReportDocument]:
    return db.session.scalars(
        sa.select(ReportDocument).where(ReportDocument.report_id == report_id).execution_options(populate_existing=True)
    ).all()


def test_to_date_is_refreshed_then_replaced_by_the_final_report(ctx, app):
    period = daily(DAY)
    boss = User(email="boss@example.test", name="Boss", role=Role.MANAGER, language="de")
    db.session.add(boss)
    db.session.commit()
    mailer = RecordingMailer()
    acts, env = ReportActivities(app, mailer), activity_env()
    _booked_call(NOON - timedelta(hours=2), "c1")

    first = store.build(period, ["de"], to_date=True, now=NOON)
    report = db.session.get(Report, first.report_id)
    assert first.created and first.to_date and store.is_to_date(report)
    assert report.period_end == NOON and report.figures["current"]["calls"]["booked"] == 1
    (doc,) = _docs(first.report_id)
    assert doc.filename == "leadchain-report-daily-2026-01-15-to-date-de.pdf"
    text = _text(doc.content)
    assert "Laufender Zeitraum bis jetzt (Stand 15.01.26, 12:00)" in text
    # Provisional: no email, no ledger row.
    sent = env.run(acts.send_report, SendReportInput(first.report_id))
    assert (sent.recipients, sent.sent, len(mailer.sent)) == (0, 0, 0)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SideEffect)) == 0

    # A later to-date request refreshes the same row with the newer figures.
    _booked_call(NOON + timedelta(hours=1), "c2")
    later = NOON + timedelta(hours=3)
    second = store.build(period, ["de"], to_date=True, now=later)
    db.session.expire_all()
    report = db.session.get(Report, first.report_id)
    assert second.report_id == first.report_id and not second.created and second.to_date
    assert report.period_end == later and report.figures["current"]["calls"]["booked"] == 2
    assert "(Stand 15.01.26, 15:00)" in _text(_docs(first.report_id)[0].content)

    # The final build (the schedule's) is not blocked: it replaces the provisional report in place.
    _booked_call(NOON + timedelta(hours=5), "c3")
    final = store.build(period, ["de"], now=period.end + timedelta(hours=9))
    db.session.expire_all()
    report = db.session.get(Report, first.report_id)
    assert final.report_id == first.report_id and not final.to_date and not store.is_to_date(report)
    assert report.period_end == period.end and report.figures["current"]["calls"]["booked"] == 3
    (doc,) = _docs(first.report_id)
    assert doc.filename == "leadchain-report-daily-2026-01-15-de.pdf"
    assert "Laufender Zeitraum bis jetzt (Stand" not in _text(doc.content)  # the appendix defines the term
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 1

    # The final report is emailed once, and a late to-date request leaves it as it is.
    sent = env.run(acts.send_report, SendReportInput(first.report_id))
    assert (sent.recipients, sent.sent, [m.filename for m in mailer.sent]) == (
        1,
        1,
        ["leadchain-report-daily-2026-01-15-de.pdf"],
    )
    sha = doc.sha256
    again = store.build(period, ["de"], to_date=True, now=period.end - timedelta(minutes=1))
    db.session.expire_all()
    assert again.report_id == first.report_id and not again.to_date
    assert db.session.get(Report, first.report_id).period_end == period.end
    assert [d.sha256 for d in _docs(first.report_id)] == [sha]
    assert env.run(acts.send_report, SendReportInput(first.report_id)).sent == 0 and len(mailer.sent) == 1


def test_a_to_date_request_after_the_period_ended_is_final(ctx, app):
    period = daily(DAY)
    stored = store.build(period, ["en"], to_date=True, now=period.end + timedelta(seconds=1))
    report = db.session.get(Report, stored.report_id)
    assert not stored.to_date and report.period_end == period.end
    assert _docs(stored.report_id)[0].filename == "leadchain-report-daily-2026-01-15-en.pdf"
