"""Inbound-call KPIs (crm.inbound.kpis) and their cards on the managers' dashboard, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from crm.extensions import db
from crm.inbound import calls, kpis
from crm.models import Lead, Task
from crm.models.types import utcnow
from crm.tenancy.context import company_scope
from tests.ui.conftest import as_manager, as_sales_a, team, ui_app  # noqa: F401 - fixtures

OUTCOMES = ("booked", "booked", "rescheduled", "cancelled", "question", "transferred", "message", "abandoned")


def _seed(app) -> None:
    now = utcnow() - timedelta(minutes=5)
    with app.app_context(), company_scope(1):
        for number, outcome in enumerate(OUTCOMES):
            row = calls.record("vapi", f"kpi-{number}", number_id=None, lead_id=None, within_hours=True, now=now)
            calls.set_outcome(row, outcome, needed_person=outcome == "transferred")
        db.session.add(Task(kind="callback", title="Inbound call: call back", dedupe_key="inbound:vapi:kpi-6:callback"))
        db.session.commit()
        db.session.remove()


def test_figures_count_each_outcome_and_the_share_without_a_person(ui_app):  # noqa: F811
    _seed(ui_app)
    with ui_app.app_context(), company_scope(1):
        found = kpis.figures(utcnow() - timedelta(hours=1), utcnow() + timedelta(minutes=1))
        owed = kpis.callbacks_owed()
        db.session.remove()
    assert (found.answered, found.booked, found.rescheduled, found.cancelled) == (8, 2, 1, 1)
    assert (found.transferred, found.abandoned, found.without_person) == (1, 1, 5)
    assert found.without_person_share == 5 / 7 and owed == 1


def test_managers_see_the_inbound_cards_reps_do_not(ui_app, as_manager, as_sales_a):  # noqa: F811
    _seed(ui_app)
    page = as_manager.get("/").get_data(as_text=True)
    for label in ("Eingehende Anrufe angenommen", "Eingehend: gebucht", "Eingehend ohne Mitarbeiter erledigt"):
        assert label in page
    assert "Offene Rückrufe" in page
    assert "Eingehende Anrufe angenommen" not in as_sales_a.get("/").get_data(as_text=True)


def test_the_call_queue_lists_the_callbacks_owed(ui_app, as_manager):  # noqa: F811
    with ui_app.app_context(), company_scope(1):
        lead = Lead(source="phone", first_name="Rita", last_name="Rueckruf", phone_e164="+4930777777", tags=[])
        db.session.add(lead)
        db.session.flush()
        db.session.add(
            Task(
                lead_id=lead.id,
                kind="callback",
                title="Missed inbound call: call back",
                dedupe_key="inbound:x:1:missed",
            )
        )
        db.session.commit()
        db.session.remove()
    page = as_manager.get("/queue").get_data(as_text=True)
    assert 'id="callbacks_owed"' in page and "Rita Rueckruf" in page and "Rückruf offen" in page


def test_the_manager_report_has_an_inbound_section_when_calls_came_in(ui_app):  # noqa: F811
    from crm.reports.kpis import compute
    from crm.reports.pdf import Branding, render_html
    from crm.reports.periods import REPORT_TZ, local_date, period_for

    brand = Branding(company="Testfirma", logo_uri=None, color="#123456", imprint="")
    with ui_app.app_context(), company_scope(1):
        period = period_for("daily", local_date(utcnow(), REPORT_TZ), REPORT_TZ)
        empty = render_html(compute(period), "de", brand=brand)
        db.session.remove()
    assert "Eingehende Anrufe angenommen" not in empty
    _seed(ui_app)
    with ui_app.app_context(), company_scope(1):
        for language, label in (("de", "Ohne Mitarbeiter erledigte"), ("en", "handled without a person")):
            html = render_html(compute(period), language, brand=brand)
            assert label in html
        db.session.remove()
