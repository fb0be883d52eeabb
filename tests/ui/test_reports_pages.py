"""The reports pages through the Flask test client: the list, a PDF download, "generate now" (refused
inputs, Temporal down, and a real run on the Temporal dev server with the reports worker)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import AuditEntry, Direction, Interaction, InteractionKind, Lead
from crm.models.reports import Report, ReportDocument
from crm.reports import store
from crm.reports.periods import daily, weekly
from tests.conftest import TEST_COMPANY_ID, set_settings
from tests.sandbox_fixtures import free_port


def _fake_report(app, day: date, languages=("de",)) -> int:
    period = daily(day)
    with app.app_context():
        report = Report(kind="daily", period_start=period.start, period_end=period.end, figures={}, has_data=True)
        for lang in languages:
            content = b"%PDF-1.7\n" + lang.encode() * 100
            report.documents.append(
                ReportDocument(
                    language=lang,
                    filename=f"leadchain-report-daily-{day}-{lang}.pdf",
                    content=content,
                    size_bytes=len(content),
                    sha256=hashlib.sha256(content).hexdigest(),
                )
            )
        db.session.add(report)
        db.session.commit()
        return report.id


def test_list_and_download(ui_app, team, as_manager):
    rid = _fake_report(ui_app, date(2026, 1, 15), ("de", "en"))
    html = as_manager.get("/reports").get_data(as_text=True)
    assert "Erstellte Berichte" in html and "Tagesbericht" in html and "Donnerstag, 15. Januar 2026" in html
    assert f'href="/reports/{rid}/de.pdf"' in html and f'href="/reports/{rid}/en.pdf"' in html
    r = as_manager.get(f"/reports/{rid}/en.pdf")
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    assert r.headers["Content-Disposition"] == 'attachment; filename="leadchain-report-daily-2026-01-15-en.pdf"'
    assert r.headers["Cache-Control"] == "no-store"
    assert as_manager.get(f"/reports/{rid}/fr.pdf").status_code == 404
    assert as_manager.get(f"/reports/{rid + 1}/de.pdf").status_code == 404
    with ui_app.app_context():
        assert db.session.query(AuditEntry).filter_by(action="report.downloaded", entity_id=rid).count() == 1


def test_a_real_pdf_is_downloadable(ui_app, team, as_admin):
    with ui_app.app_context():
        lead = Lead(first_name="Rita", source="website", score=70)
        db.session.add(lead)
        db.session.flush()
        day = date(2026, 2, 3)
        db.session.add(
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="retell",
                provider_ref="pdf-1",
                status="ended",
                outcome="booked",
                started_at=daily(day).start + timedelta(hours=10),
                data={"answered": True},
            )
        )
        db.session.commit()
        stored = store.build(weekly(day), ["en"])
    html = as_admin.get("/reports?lang=en").get_data(as_text=True)
    assert "Weekly report" in html and "Week 6" in html
    r = as_admin.get(f"/reports/{stored.report_id}/en.pdf")
    assert r.status_code == 200 and r.data.startswith(b"%PDF") and len(r.data) > 5000


def test_sales_may_not(ui_app, team, as_sales_a):
    rid = _fake_report(ui_app, date(2026, 1, 15))
    assert as_sales_a.get("/reports").status_code == 403
    assert as_sales_a.get(f"/reports/{rid}/de.pdf").status_code == 403
    assert as_sales_a.submit("/reports/generate", {"kind": "daily", "day": "2026-01-14"}).status_code == 403


@pytest.mark.parametrize(
    "form, message",
    [
        ({"kind": "yearly", "day": "2026-01-14"}, "Wählen Sie einen Tages-, Wochen- oder Monatsbericht."),
        ({"kind": "daily", "day": "14.01.2026"}, "Geben Sie das Datum als JJJJ-MM-TT ein."),
        ({"kind": "daily", "day": (date.today() + timedelta(days=2)).isoformat()}, "hat noch nicht begonnen"),
        ({"kind": "daily", "day": "2099-01-01"}, "Dieser Zeitraum hat noch nicht begonnen"),
        # the period's bounds fall outside datetime's range (an OverflowError, a 500, before)
        ({"kind": "daily", "day": "9999-12-31"}, "Dieser Zeitraum hat noch nicht begonnen"),
        ({"kind": "monthly", "day": "9999-12-31"}, "Dieser Zeitraum hat noch nicht begonnen"),
        ({"kind": "daily", "day": "0001-01-01"}, "Geben Sie das Datum als JJJJ-MM-TT ein."),
        ({"kind": "weekly", "day": "0001-01-03"}, "Geben Sie das Datum als JJJJ-MM-TT ein."),
    ],
)
def test_generate_refuses_bad_input(ui_app, team, as_manager, form, message):
    r = as_manager.submit("/reports/generate", form)
    assert r.status_code == 303 and r.headers["Location"].endswith("/reports")
    assert message in as_manager.get("/reports").get_data(as_text=True)
    with ui_app.app_context():
        assert db.session.query(AuditEntry).filter_by(action="report.generate_requested").count() == 0


def test_generate_needs_csrf(ui_app, team, as_manager):
    assert as_manager.post("/reports/generate", data={"kind": "daily", "day": "2026-01-14"}).status_code == 400


def test_existing_report_is_not_built_again(ui_app, team, as_manager):
    _fake_report(ui_app, date(2026, 1, 15))
    as_manager.submit("/reports/generate", {"kind": "daily", "day": "2026-01-15"})
    assert "gibt es schon" in as_manager.get("/reports").get_data(as_text=True)


def test_a_provisional_report_does_not_block_generating(ui_app, team, as_manager):
    """A stored period-to-date report is listed as such and does not count as "exists already"."""
    rid = _fake_report(ui_app, date(2026, 1, 15))
    with ui_app.app_context():
        report = db.session.get(Report, rid)
        report.period_end = report.period_start + timedelta(hours=13)  # built at 13:00 Berlin
        db.session.commit()
    html = as_manager.get("/reports").get_data(as_text=True)
    assert "laufender Zeitraum bis jetzt (Stand 15.01.26, 13:00)" in html
    assert "period to date (as of 15/01/2026, 13:00)" in as_manager.get("/reports?lang=en").get_data(as_text=True)
    set_settings(ui_app, temporal_address=f"127.0.0.1:{free_port()}")  # nothing listens there
    as_manager.submit("/reports/generate", {"kind": "daily", "day": "2026-01-15"})
    html = as_manager.get("/reports").get_data(as_text=True)
    assert "gibt es schon" not in html and "Berichtsdienst (Temporal) ist nicht erreichbar" in html


def test_generate_when_temporal_is_down(ui_app, team, as_manager):
    set_settings(ui_app, temporal_address=f"127.0.0.1:{free_port()}")  # nothing listens there
    r = as_manager.submit("/reports/generate?lang=en", {"kind": "daily", "day": "2026-01-14"})
    assert r.status_code == 303
    html = as_manager.get("/reports?lang=en").get_data(as_text=True)
    assert "The report service (Temporal) cannot be reached" in html and "Daily report" in html
    with ui_app.app_context():
        assert db.session.query(AuditEntry).filter_by(action="report.generate_requested").count() == 0


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_generate_now_runs_the_report_workflow(temporal_env, ui_app, team, as_manager):
    from temporalio.client import WorkflowExecutionStatus

    from workers import reports as reports_worker
    from workers.chain import worker_runner

    client = temporal_env.client
    queue = f"reports-ui-{uuid.uuid4().hex[:8]}"
    set_settings(ui_app, temporal_address=client.service_client.config.target_host)
    set_settings(ui_app, "reports", task_queue=queue)
    day = date(2001, 1, 1) + timedelta(days=random.randrange(5000))  # a period no other run used
    loop = asyncio.get_running_loop()
    r = await loop.run_in_executor(
        None, lambda: as_manager.submit("/reports/generate", {"kind": "daily", "day": day.isoformat()})
    )
    assert r.status_code == 303
    page = as_manager.get("/reports").get_data(as_text=True)
    assert "wird erstellt. Er erscheint in dieser Liste" in page
    again = await loop.run_in_executor(
        None, lambda: as_manager.submit("/reports/generate", {"kind": "daily", "day": day.isoformat()})
    )
    assert again.status_code == 303
    assert "wird bereits erstellt" in as_manager.get("/reports").get_data(as_text=True)

    executor = ThreadPoolExecutor(max_workers=2)
    stop = asyncio.Event()
    task = asyncio.create_task(
        worker_runner(reports_worker.reports_worker(client, ui_app, executor, mailer=None, task_queue=queue))(stop)
    )
    try:
        handle = client.get_workflow_handle(f"c{TEST_COMPANY_ID}-report-manual-daily-{day.isoformat()}")
        await asyncio.wait_for(handle.result(), 90)
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        executor.shutdown(wait=False)
    with ui_app.app_context():
        report = db.session.scalar(sa.select(Report))
        assert (report.kind, report.period_start) == ("daily", daily(day).start)
        assert report.created_by.startswith(f"workflow:c{TEST_COMPANY_ID}-report-manual-daily-")
        (doc,) = report.documents  # the manager's language
        assert doc.language == "de"
        requested = db.session.query(AuditEntry).filter_by(action="report.generate_requested").one()
        assert requested.actor == f"user:{team.manager.id}" and requested.after["kind"] == "daily"
        rid = report.id
    html = as_manager.get("/reports").get_data(as_text=True)
    assert f'href="/reports/{rid}/de.pdf"' in html and "keine Daten" in html
    pdf = as_manager.get(f"/reports/{rid}/de.pdf")
    assert pdf.data.startswith(b"%PDF")


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_running_period_gives_a_period_to_date_report(temporal_env, ui_app, team, as_manager):
    """Today (the running period) from the UI: the workflow builds a provisional report, listed and
    labelled "laufender Zeitraum bis jetzt", with the day's data in its PDF, and emails nobody."""
    from pypdf import PdfReader
    from temporalio.client import WorkflowExecutionStatus

    from crm.models.types import utcnow
    from crm.reports.periods import REPORT_TZ, local_date
    from tests.reports.conftest import RecordingMailer
    from workers import reports as reports_worker
    from workers.chain import worker_runner

    client = temporal_env.client
    queue = f"reports-ui-{uuid.uuid4().hex[:8]}"
    set_settings(ui_app, temporal_address=client.service_client.config.target_host)
    set_settings(ui_app, "reports", task_queue=queue)
    today = local_date(utcnow(), REPORT_TZ)
    with ui_app.app_context():
        lead = Lead(first_name="Rita", source="website", score=70)
        db.session.add(lead)
        db.session.flush()
        db.session.add(
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="retell",
                provider_ref="to-date-1",
                status="ended",
                outcome="booked",
                started_at=utcnow() - timedelta(seconds=5),
                data={"answered": True},
            )
        )
        db.session.commit()
    loop = asyncio.get_running_loop()
    r = await loop.run_in_executor(
        None, lambda: as_manager.submit("/reports/generate", {"kind": "daily", "day": today.isoformat()})
    )
    assert r.status_code == 303
    assert "(laufender Zeitraum bis jetzt) wird erstellt" in as_manager.get("/reports").get_data(as_text=True)

    mailer = RecordingMailer()
    executor = ThreadPoolExecutor(max_workers=2)
    stop = asyncio.Event()
    task = asyncio.create_task(
        worker_runner(reports_worker.reports_worker(client, ui_app, executor, mailer=mailer, task_queue=queue))(stop)
    )
    try:
        handle = client.get_workflow_handle(f"c{TEST_COMPANY_ID}-report-manual-daily-{today.isoformat()}-to-date")
        await asyncio.wait_for(handle.result(), 90)
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        executor.shutdown(wait=False)
    assert mailer.sent == []  # the manager gets the final one
    with ui_app.app_context():
        report = db.session.scalar(sa.select(Report))
        assert (report.kind, report.period_start) == ("daily", daily(today).start)
        assert report.has_data and store.is_to_date(report) and report.period_end < daily(today).end
        (doc,) = report.documents
        assert doc.filename == f"leadchain-report-daily-{today.isoformat()}-to-date-de.pdf"
        requested = db.session.query(AuditEntry).filter_by(action="report.generate_requested").one()
        assert requested.after["to_date"] is True
        rid = report.id
    html = as_manager.get("/reports").get_data(as_text=True)
    assert f'href="/reports/{rid}/de.pdf"' in html and "laufender Zeitraum bis jetzt (Stand" in html
    assert "keine Daten" not in html
    pdf = as_manager.get(f"/reports/{rid}/de.pdf").data
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Laufender Zeitraum bis jetzt" in text and "Termine gebucht" in text


def _visible(response) -> str:
    import html as html_lib
    import re

    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", body)).replace("\xa0", " ").split())


def test_admin_sets_exchange_rates_and_bad_entries_are_named(ui_app, team, as_admin, as_manager):
    from crm.models import AppSetting
    from crm.services import money

    set_settings(ui_app, "reports", fx_rates="USD:EUR=0.90")
    page = _visible(as_admin.get("/reports"))
    assert "Wechselkurse" in page and "Kosten werden in EUR angezeigt" in page
    assert "Konfiguriert (LEADCHAIN_FX_RATES) USD:EUR=0.90" in page and "Von einem Admin gesetzt keine Kurse" in page
    # Two bad entries: a 422 naming both, nothing stored, the typed text kept.
    r = as_admin.submit("/reports/fx-rates", {"fx_rates": "USD:EUR=0; GBP:EUR=1.17; XYZ:EUR=2"})
    assert r.status_code == 422
    refused = _visible(r)
    assert "Nicht gespeichert" in refused and "'USD:EUR=0': the rate must be above 0" in refused
    assert (
        "'XYZ:EUR=2': 'XYZ' is not an ISO 4217 currency code" in refused
        and "GBP:EUR=1.17" not in refused.split("Nicht gespeichert")[1].split("'XYZ")[0]
    )
    with ui_app.app_context():
        assert db.session.get(AppSetting, (1, money.RATES_KEY)) is None
        assert db.session.query(AuditEntry).filter_by(entity_type="app_setting").count() == 0
    # Saved (a German decimal comma is fine), audited, and used over the configured rate.
    r = as_admin.submit("/reports/fx-rates", {"fx_rates": "usd:eur=0,92"})
    assert r.status_code == 303
    assert "Wechselkurse gespeichert: USD:EUR=0.92." in _visible(as_admin.get("/reports"))
    with ui_app.app_context():
        assert db.session.get(AppSetting, (1, money.RATES_KEY)).value == "USD:EUR=0.92"
        entry = db.session.query(AuditEntry).filter_by(entity_type="app_setting").one()
        assert entry.actor == f"user:{team.admin.id}" and entry.after == {"key": "fx.rates", "value": "USD:EUR=0.92"}
    # Managers see the rates but cannot change them.
    seen = _visible(as_manager.get("/reports"))
    assert "Von einem Admin gesetzt USD:EUR=0.92" in seen and "Kurse speichern" not in seen
    assert as_manager.submit("/reports/fx-rates", {"fx_rates": "USD:EUR=1"}).status_code == 403
    # Empty: back to the configured rates.
    assert as_admin.submit("/reports/fx-rates", {"fx_rates": ""}).status_code == 303
    with ui_app.app_context():
        assert db.session.get(AppSetting, (1, money.RATES_KEY)) is None


def test_a_call_cost_on_the_lead_page_in_the_company_currency(ui_app, team, leads, as_manager):
    set_settings(ui_app, "reports", fx_rates="USD:EUR=0.92")
    with ui_app.app_context():
        db.session.add(
            Interaction(
                lead_id=leads.own,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="retell",
                provider_ref="cost-1",
                status="ended",
                outcome="interested",
                cost_cents=50,
                currency="USD",
                duration_s=60,
                started_at=daily(date(2026, 1, 15)).start + timedelta(hours=10),
            )
        )
        db.session.commit()
    assert "Kosten 0,46 € (0,50 $ zu 0,92)" in _visible(as_manager.get(f"/leads/{leads.own}"))
    assert "Cost €0.46 (US$0.50 at 0.92)" in _visible(as_manager.get(f"/leads/{leads.own}?lang=en"))
    set_settings(ui_app, "reports", fx_rates=None)  # no rate: as billed, and why
    assert "Kosten 0,50 $ (kein Kurs USD→EUR)" in _visible(as_manager.get(f"/leads/{leads.own}"))


def test_team_costs_on_the_dashboard_name_the_rate(ui_app, team, leads, as_manager):
    from crm.models.types import utcnow

    set_settings(ui_app, "reports", fx_rates="USD:EUR=0.92")
    with ui_app.app_context():
        db.session.add(
            Interaction(
                lead_id=leads.own,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="retell",
                provider_ref="dash-cost-1",
                status="ended",
                outcome="booked",
                cost_cents=50,
                currency="USD",
                duration_s=60,
                data={"answered": True},
                started_at=utcnow() - timedelta(seconds=5),
            )
        )
        db.session.commit()
    page = _visible(as_manager.get("/"))
    assert "Kosten je Anruf 0,46 €" in page and "Kosten in EUR umgerechnet: 1 USD = 0,92 EUR." in page
    assert "Costs converted into EUR: 1 USD = 0.92 EUR." in _visible(as_manager.get("/?lang=en"))


def test_a_final_report_of_the_running_day_is_not_replaced(ui_app, team, as_manager):
    """The daily run at 18:00 stores today's final report: a later "generate now" for today points at it."""
    from crm.models.types import utcnow
    from crm.reports.periods import REPORT_TZ, local_date

    today = local_date(utcnow(), REPORT_TZ)
    rid = _fake_report(ui_app, today)
    as_manager.submit("/reports/generate", {"kind": "daily", "day": today.isoformat()})
    html = as_manager.get("/reports").get_data(as_text=True)
    assert "gibt es schon" in html and "laufender Zeitraum bis jetzt" not in html
    with ui_app.app_context():
        assert db.session.query(AuditEntry).filter_by(action="report.generate_requested").count() == 0
        assert not store.is_to_date(db.session.get(Report, rid))
