"""The pipeline where managers read it: the dashboard's cards (the company's deals for a manager, a rep's own
for a rep) and the manager report's section, in German, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from crm.extensions import db
from crm.models import Deal, DealStatus, Lead
from crm.models.types import utcnow
from crm.reports import kpis
from crm.reports.pdf import render_html
from crm.reports.periods import daily, local_date
from crm.services import deals
from tests.ui.conftest import Leads, Team, as_manager, leads, signed_in, team, ui_app  # noqa: F401
from tests.ui.test_leads_pages import text_of


def _pipeline(app, team: Team, leads: Leads) -> None:  # noqa: F811
    """Olga (Anna's): 12.000 € open in Angebot (50 %); Fritz (Bernd's): won 3.000 € after 10 days, and a
    lost one."""
    with app.app_context():
        _, proposal, _ = deals.ensure_defaults()
        olga, fritz = db.session.get(Lead, leads.own), db.session.get(Lead, leads.foreign)
        deals.create_deal(lead=olga, actor="test", value_cents=1_200_000, stage_id=proposal.id)
        won = deals.create_deal(lead=fritz, actor="test", value_cents=300_000)
        deals.close_deal(won, DealStatus.WON, actor="test")
        lost = deals.create_deal(lead=fritz, actor="test", value_cents=100_000)
        deals.close_deal(lost, DealStatus.LOST, actor="test", reason_id=deals.active_reasons()[0].id)
        db.session.get(Deal, won.id).created_at = utcnow() - timedelta(days=10)
        db.session.commit()


def test_the_dashboard_shows_the_pipeline_to_managers_and_reps_their_own(ui_app, team, leads, as_manager):  # noqa: F811
    page = text_of(as_manager.get("/?lang=de"))
    assert "Deal-Pipeline" not in page  # no deals yet: no empty cards
    _pipeline(ui_app, team, leads)
    page = text_of(as_manager.get("/?lang=de"))
    assert "Deal-Pipeline" in page and "12.000,00 €" in page and "gewichtet: 6.000,00 €" in page
    assert "50,0 %" in page and "1 gewonnen, 1 verloren" in page and "10,0 Tage" in page
    # The month's forecast: the deal won today (the open one has no expected close).
    assert "Prognose für diesen Monat" in page and "3.000,00 €" in page
    rep = text_of(signed_in(ui_app, team.sales_a).get("/?lang=de"))
    assert "12.000,00 €" in rep and "1 gewonnen" not in rep  # Anna's deal only


def test_the_manager_report_has_a_pipeline_section(ui_app, team, leads):  # noqa: F811
    with ui_app.app_context():
        empty = render_html(kpis.compute(daily(local_date(utcnow()))), "de", charts=None)
    assert "Pipeline-Wert (offene Deals)" not in empty  # no empty section (the appendix defines it still)
    _pipeline(ui_app, team, leads)
    with ui_app.app_context():
        report = kpis.compute(daily(local_date(utcnow())))
        html = render_html(report, "de", charts=None)
    assert "Deal-Pipeline" in html and "Pipeline-Wert (offene Deals)" in html
    assert "12.000,00" in html and "Abschlussquote" in html and "Angebot" in html
    assert "1 gewonnen, 1 verloren" in html


def test_the_lead_page_shows_the_deals_history_in_german(ui_app, team, leads):  # noqa: F811
    with ui_app.app_context():
        deal = deals.create_deal(lead=db.session.get(Lead, leads.own), actor=f"ui:{team.sales_a.id}")
        deals.move_deal(deal, deals.ensure_defaults()[1].id, actor=f"ui:{team.sales_a.id}")
        deals.close_deal(deal, DealStatus.LOST, actor="api:crm-sync", reason_id=deals.active_reasons()[0].id)
    page = text_of(signed_in(ui_app, team.sales_a).get(f"/leads/{leads.own}?lang=de"))
    assert "Deal angelegt" in page and "Deal verschoben" in page and "Deal verloren" in page
    assert "Phase: Erstgespräch → Angebot" in page and "Grund: – → Preis" in page
    assert "Anna Sales" in page  # the actor by name
