"""The pipeline board, a deal's page, the buttons that make a deal and the pipeline settings through the Flask
test client (SQLite and PostgreSQL): what each role sees, moving with and without the board's script, won and
lost with a reason, idempotent creation from an appointment, and forms that are refused without writing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.extensions import db
from crm.models import Appointment, Branch, Deal, DealStage, DealStatus, Lead, LostReason, User
from crm.services import deals as service
from tests.conftest import TEST_COMPANY_ID
from tests.ui.test_leads_pages import text_of

JSON = {"Accept": "application/json"}


def _stages(app) -> list[int]:
    with app.app_context():
        return [s.id for s in service.ensure_defaults()]


def _deal(app, lead_id: int, *, value_cents: int = 150_000, stage: int | None = None) -> int:
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        return service.create_deal(
            lead=lead, actor="test", title=f"Deal {lead.first_name}", value_cents=value_cents, stage_id=stage
        ).id


def _row(app, deal_id: int) -> tuple:
    with app.app_context():
        d = db.session.get(Deal, deal_id)
        return (d.stage_id, d.status, d.value_cents, d.currency, d.owner_id, d.reason_id, d.expected_close_on)


def _reason(app) -> int:
    with app.app_context():
        service.ensure_defaults()
        return db.session.scalars(db.select(LostReason.id).order_by(LostReason.position)).first()


@pytest.fixture
def stages(ui_app) -> list[int]:
    return _stages(ui_app)


def test_board_columns_cards_and_money_in_the_readers_language(ui_app, as_manager, leads, stages):
    _deal(ui_app, leads.own, value_cents=150_000)
    _deal(ui_app, leads.foreign, value_cents=20_050, stage=stages[1])
    page = text_of(as_manager.get("/deals"))
    assert "Erstgespräch" in page and "Angebot" in page and "Verhandlung" in page  # the company's German defaults
    assert "1.500,00 €" in page and "200,50 €" in page and "Deal Olga" in page and "Deal Fritz" in page
    assert "gewichtet 300,00 €" in page  # 20 % of 1,500 in the first column
    assert "Prognose für" in page
    english = text_of(as_manager.get("/deals?lang=en"))
    assert "€1,500.00" in english and "weighted €300.00" in english and "Forecast for" in english
    assert as_manager.get("/deals?owner=%C2%B2&branch=x&source=%00").status_code in (200, 400)


def test_a_rep_sees_and_moves_only_their_own_deals(ui_app, as_sales_a, as_manager, leads, stages):
    own, foreign = _deal(ui_app, leads.own), _deal(ui_app, leads.foreign)
    page = text_of(as_sales_a.get("/deals"))
    assert "Deal Olga" in page and "Deal Fritz" not in page
    assert as_sales_a.get(f"/deals/{foreign}").status_code == 404
    before = _row(ui_app, foreign)
    assert as_sales_a.submit(f"/deals/{foreign}/move", {"stage_id": stages[2]}).status_code == 404
    assert _row(ui_app, foreign) == before
    assert as_sales_a.get(f"/deals/{own}").status_code == 200
    assert as_manager.get(f"/deals/{foreign}").status_code == 200


def test_move_without_script_and_with_json(ui_app, as_sales_a, leads, stages):
    deal = _deal(ui_app, leads.own, value_cents=100_000)
    r = as_sales_a.submit(f"/deals/{deal}/move", {"stage_id": stages[1], "source": "test"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/deals?source=test")
    assert _row(ui_app, deal)[0] == stages[1]
    r = as_sales_a.submit(f"/deals/{deal}/move", {"stage_id": stages[2]}, headers=JSON)
    assert r.status_code == 200
    data = r.get_json()
    assert data["ok"] and "Verhandlung" in data["message"]
    columns = {c["stage_id"]: c for c in data["columns"]}
    assert columns[str(stages[2])]["count"] == 1 and columns[str(stages[1])]["count"] == 0
    assert columns[str(stages[2])]["weighted"] == "750,00\xa0€"
    assert data["age"] and "forecast" in data
    # An unknown stage: refused, in JSON for the script and as a page without it; nothing moved.
    r = as_sales_a.submit(f"/deals/{deal}/move", {"stage_id": "999999"}, headers=JSON)
    assert r.status_code == 422 and not r.get_json()["ok"]
    assert as_sales_a.submit(f"/deals/{deal}/move", {"stage_id": "²"}).status_code == 422
    assert _row(ui_app, deal)[0] == stages[2]


def test_forecast_follows_a_move(ui_app, as_manager, leads, stages):
    deal = _deal(ui_app, leads.own, value_cents=100_000)
    with ui_app.app_context():
        row = db.session.get(Deal, deal)
        row.expected_close_on = datetime.now(UTC).date()
        db.session.commit()
    first = as_manager.submit(f"/deals/{deal}/move", {"stage_id": stages[1]}, headers=JSON).get_json()
    second = as_manager.submit(f"/deals/{deal}/move", {"stage_id": stages[2]}, headers=JSON).get_json()
    assert first["forecast"] == "500,00\xa0€" and second["forecast"] == "750,00\xa0€"


def test_won_and_lost_with_a_reason_and_reopen(ui_app, as_sales_a, leads, stages):
    deal = _deal(ui_app, leads.own)
    before = _row(ui_app, deal)
    assert as_sales_a.submit(f"/deals/{deal}/close", {"outcome": "lost"}).status_code == 422  # no reason
    assert as_sales_a.submit(f"/deals/{deal}/close", {"outcome": "maybe"}).status_code == 422
    assert _row(ui_app, deal) == before
    reason = _reason(ui_app)
    r = as_sales_a.submit(f"/deals/{deal}/close", {"outcome": "lost", "reason_id": reason, "note": "zu teuer"})
    assert r.status_code == 303
    assert _row(ui_app, deal)[1] == DealStatus.LOST and _row(ui_app, deal)[5] == reason
    assert "Deal Olga" not in text_of(as_sales_a.get("/deals"))  # closed deals leave the board
    page = text_of(as_sales_a.get(f"/deals/{deal}"))
    assert "Verloren" in page and "Preis" in page and "zu teuer" in page
    assert as_sales_a.submit(f"/deals/{deal}/reopen").status_code == 303
    assert _row(ui_app, deal)[1] == DealStatus.OPEN
    r = as_sales_a.submit(f"/deals/{deal}/close", {"outcome": "won", "from": "deal"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/deals/{deal}")
    assert _row(ui_app, deal)[1] == DealStatus.WON


def test_edit_reads_amounts_as_typed_and_refuses_bad_ones(ui_app, as_sales_a, as_manager, team, leads, stages):
    deal = _deal(ui_app, leads.own)
    form = {"title": "Fünf Standorte", "value": "1.500,50", "currency": "CHF", "expected_close_on": "2027-01-31"}
    assert as_sales_a.submit(f"/deals/{deal}", {**form, "owner_id": team.sales_b.id}).status_code == 303
    stage, _status, cents, currency, owner, _reason_id, closes = _row(ui_app, deal)
    assert (cents, currency, owner, closes.isoformat()) == (150_050, "CHF", team.sales_a.id, "2027-01-31")
    before = _row(ui_app, deal)
    for bad in ({"value": "-5"}, {"value": "zwölf"}, {"expected_close_on": "2027-02-30"}, {"currency": "EURO"}):
        r = as_sales_a.submit(f"/deals/{deal}", bad)
        assert r.status_code == 422 and 'aria-invalid="true"' in r.get_data(as_text=True), bad
    assert _row(ui_app, deal) == before
    assert as_manager.submit(f"/deals/{deal}", {"owner_id": team.sales_b.id}).status_code == 303
    assert _row(ui_app, deal)[4] == team.sales_b.id


def test_create_from_the_lead_and_once_from_an_appointment(ui_app, as_sales_a, as_sales_b, team, leads, stages):
    r = as_sales_a.submit(f"/leads/{leads.own}/deals", {"latest": "0"})
    assert r.status_code == 303 and "/deals/" in r.headers["Location"]
    again = as_sales_a.submit(f"/leads/{leads.own}/deals", {"latest": "0"})  # the same page's button again
    assert again.headers["Location"] == r.headers["Location"]
    assert "Deals" in text_of(as_sales_a.get(f"/leads/{leads.own}"))
    assert as_sales_a.submit(f"/leads/{leads.foreign}/deals").status_code == 404
    with ui_app.app_context():
        start = datetime.now(UTC) + timedelta(days=2)
        appt = Appointment(
            lead_id=leads.own, owner_id=team.sales_a.id, starts_at=start, ends_at=start + timedelta(hours=1)
        )
        db.session.add(appt)
        db.session.commit()
        appt_id = appt.id
    url = f"/leads/{leads.own}/appointments/{appt_id}/deal"
    first, again = as_sales_a.submit(url), as_sales_a.submit(url)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]
    with ui_app.app_context():
        assert (
            db.session.scalar(db.select(db.func.count()).select_from(Deal).where(Deal.appointment_id == appt_id)) == 1
        )
    assert "Deal" in text_of(as_sales_a.get(f"/leads/{leads.own}/appointments/{appt_id}"))


def test_pipeline_settings_for_managers_only(ui_app, as_sales_a, as_manager, stages):
    assert as_sales_a.get("/settings/deals").status_code == 403
    assert as_manager.get("/settings/deals").status_code == 200
    assert as_manager.submit("/settings/deals/stages", {"name": "Vertrag", "probability": "90"}).status_code == 303
    with ui_app.app_context():
        new = db.session.scalar(db.select(DealStage).where(DealStage.name == "Vertrag"))
        assert new.probability == 90 and new.active
        new_id = new.id
    assert as_manager.submit("/settings/deals/stages", {"name": "Vertrag", "probability": "90"}).status_code == 422
    assert as_manager.submit("/settings/deals/stages", {"name": "X", "probability": "²"}).status_code == 422
    assert as_manager.submit(f"/settings/deals/stages/{new_id}/move", {"direction": "up"}).status_code == 303
    assert [s for s in _stages(ui_app)][-2] == new_id
    r = as_manager.submit(f"/settings/deals/stages/{new_id}", {"name": "Vertragsprüfung", "probability": "95"})
    assert r.status_code == 303
    assert as_manager.submit(f"/settings/deals/stages/{new_id}/retire", {"move_to": stages[0]}).status_code == 303
    assert new_id not in _stages(ui_app)
    assert as_manager.submit("/settings/deals/reasons", {"label": "Budget gestrichen"}).status_code == 303
    assert as_manager.submit("/settings/deals/stale-days", {"stale_days": "0"}).status_code == 422
    assert as_manager.submit("/settings/deals/stale-days", {"stale_days": "7"}).status_code == 303
    assert 'value="Budget gestrichen"' in as_manager.get("/settings/deals").get_data(as_text=True)


def test_stale_deals_are_highlighted(ui_app, as_manager, leads, stages):
    deal = _deal(ui_app, leads.own)
    with ui_app.app_context():
        db.session.get(Deal, deal).stage_changed_at = datetime.now(UTC) - timedelta(days=30)
        db.session.commit()
    body = as_manager.get("/deals").get_data(as_text=True)
    assert "is-stale" in body and "30 Tage in dieser Phase" in text_of(as_manager.get("/deals"))


def test_a_manager_with_chosen_branches_sees_one_branch_at_a_time(ui_app, as_manager, team, leads, stages):
    with ui_app.app_context():
        nord = Branch(company_id=TEST_COMPANY_ID, name="Nord", slug="nord")
        sued = Branch(company_id=TEST_COMPANY_ID, name="Süd", slug="sued")
        db.session.add_all([nord, sued])
        db.session.flush()
        db.session.get(Lead, leads.own).branch_id = nord.id
        db.session.get(Lead, leads.foreign).branch_id = sued.id
        manager = db.session.get(User, team.manager.id)
        manager.branches.append(nord)
        db.session.commit()
    _deal(ui_app, leads.own)
    foreign = _deal(ui_app, leads.foreign)
    page = text_of(as_manager.get("/deals?branch="))
    assert "Deal Olga" in page and "Deal Fritz" not in page and "Alle Niederlassungen" not in page
    assert as_manager.get(f"/deals/{foreign}").status_code == 404


def test_pages_write_nothing_until_a_manager_sets_up_the_defaults(ui_app, as_sales_a, as_manager):
    """A company without stages: the board and the settings only say so (a GET changes nothing); the
    manager's button seeds the defaults."""
    page = text_of(as_sales_a.get("/deals"))
    assert "Das Board hat noch keine Phasen" in page and "anlegen" not in page  # the button is the managers'
    assert "Voreingestellte Phasen und Gründe anlegen" in text_of(as_manager.get("/settings/deals"))
    assert _stages_now(ui_app) == []
    r = as_manager.submit("/settings/deals/defaults", {"from": "board"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/deals")
    assert len(_stages_now(ui_app)) == 3
    assert "Erstgespräch" in text_of(as_sales_a.get("/deals"))


def _stages_now(app) -> list[int]:
    with app.app_context():
        return [s.id for s in service.active_stages()]
