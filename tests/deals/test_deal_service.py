"""crm.services.deals on SQLite and PostgreSQL: the default board in the company's language, one deal per
appointment (also when requests race), moves, closes and reopens written to the audit log and the lead's
timeline, and bad input refused with the field named and nothing written."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Appointment, AuditEntry, Company, Deal, DealStage, DealStatus, Lead, LostReason, User
from crm.services import deals
from crm.tenancy.context import company_scope
from crm.ui.lead_detail import AuditItem, lead_detail
from tests.deals.conftest import World


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _actions(deal_id: int) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry.action)
            .where(AuditEntry.entity_type == "deal", AuditEntry.entity_id == deal_id)
            .order_by(AuditEntry.id)
        )
    )


def _race(app, company_id: int, work, threads: int = 4) -> list:
    """Run `work()` in `threads` threads that start together, each in its own app context and company scope."""
    barrier, results, errors = threading.Barrier(threads), [], []

    def run() -> None:
        with app.app_context(), company_scope(company_id):
            barrier.wait(timeout=10)
            try:
                results.append(work())
            except Exception as e:  # noqa: BLE001 (the assertion below shows it)
                errors.append(e)
            finally:
                db.session.remove()

    started = [threading.Thread(target=run) for _ in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join(timeout=30)
    assert errors == []
    return results


def test_the_default_board_is_seeded_once_in_the_companys_language(app):
    with app.app_context():
        stages = deals.ensure_defaults()
        assert [(s.name, s.probability) for s in stages] == [("Erstgespräch", 20), ("Angebot", 50), ("Verhandlung", 75)]
        assert [r.label for r in deals.active_reasons()][:2] == ["Preis", "Zeitpunkt"]
        assert [s.id for s in deals.ensure_defaults()] == [s.id for s in stages]
        db.session.get(Company, 1).language = "en"
        db.session.commit()
        assert deals.ensure_defaults()[0].name == "Erstgespräch"  # a seeded board is the company's own now
        assert _count(DealStage) == 3 and _count(LostReason) == 5


def test_two_requests_seeding_at_once_make_one_board(app):
    results = _race(app, 1, lambda: [s.id for s in deals.ensure_defaults()])
    assert len({tuple(r) for r in results}) == 1 and len(results[0]) == 3
    with app.app_context():
        assert _count(DealStage) == 3 and _count(LostReason) == 5


def test_a_deal_from_an_appointment_takes_the_leads_defaults_and_is_made_once(app, world: World):
    with app.app_context():
        lead, appt = db.session.get(Lead, world.lead_id), db.session.get(Appointment, world.appointment_id)
        deal = deals.create_deal(lead=lead, appointment=appt, actor="test", value_cents=250_000)
        again = deals.create_deal(lead=lead, appointment=appt, actor="test", value_cents=999, title="Other")
        assert again.id == deal.id and again.value_cents == 250_000
        assert deal.title == "Solar A GmbH" and deal.owner_id == world.rep_id and deal.currency == "EUR"
        assert deal.stage.name == "Erstgespräch" and deal.status == DealStatus.OPEN and deal.closed_at is None
        assert _count(Deal) == 1 and _actions(deal.id) == ["deal.created"]


def test_concurrent_creates_for_one_appointment_make_one_deal(app, world: World):
    def create() -> int:
        lead, appt = db.session.get(Lead, world.lead_id), db.session.get(Appointment, world.appointment_id)
        return deals.create_deal(lead=lead, appointment=appt, actor="race").id

    ids = _race(app, 1, create)
    assert len(set(ids)) == 1
    with app.app_context():
        assert _count(Deal) == 1 and _count(DealStage) == 3
        assert _actions(ids[0]) == ["deal.created"]


def test_move_close_reopen_are_audited_and_on_the_leads_timeline(app, world: World):
    with app.app_context():
        lead = db.session.get(Lead, world.lead_id)
        deal = deals.create_deal(lead=lead, actor=f"ui:{world.rep_id}", value_cents=100_000)
        first, proposal, _ = deals.ensure_defaults()
        before = deal.stage_changed_at
        deals.move_deal(deal, proposal.id, actor=f"ui:{world.rep_id}")
        assert deal.stage_id == proposal.id and deal.stage_changed_at > before
        deals.move_deal(deal, proposal.id, actor="test")  # the same stage: nothing to record
        price = deals.active_reasons()[0]
        deals.close_deal(deal, DealStatus.LOST, actor="test", reason_id=price.id, note=" zu teuer ")
        assert deal.status == DealStatus.LOST and deal.closed_at is not None and deal.reason_note == "zu teuer"
        assert deal.stage_id == proposal.id  # closed from its stage
        with pytest.raises(deals.DealError) as refused:
            deals.move_deal(deal, first.id, actor="test")
        assert refused.value.field == "stage_id"
        deals.reopen_deal(deal, actor="test")
        assert deal.status == DealStatus.OPEN and deal.closed_at is None and deal.reason_id is None
        deals.close_deal(deal, DealStatus.WON, actor="test")
        assert _actions(deal.id) == ["deal.created", "deal.moved", "deal.lost", "deal.reopened", "deal.won"]
        moved = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "deal.moved"))
        assert moved.before == {"stage": "Erstgespräch"} and moved.after == {"stage": "Angebot"}
        timeline = lead_detail(db.session.get(User, world.rep_id), lead).timeline
        shown = [i.action for i in timeline if isinstance(i, AuditItem) and i.action.startswith("deal.")]
        assert sorted(shown) == sorted(["deal.created", "deal.moved", "deal.lost", "deal.reopened", "deal.won"])
        lost = next(i for i in timeline if isinstance(i, AuditItem) and i.action == "deal.lost")
        assert lost.changes == {"lost_reason": (None, "Preis")}


def test_lost_needs_a_reason_and_bad_input_changes_nothing(app, world: World):
    with app.app_context():
        lead = db.session.get(Lead, world.lead_id)
        deal = deals.create_deal(lead=lead, actor="test")
        audited = _count(AuditEntry)
        bad = [
            (lambda: deals.close_deal(deal, DealStatus.LOST, actor="t"), "reason_id"),
            (lambda: deals.close_deal(deal, DealStatus.LOST, actor="t", reason_id=999), "reason_id"),
            (lambda: deals.close_deal(deal, DealStatus.OPEN, actor="t"), "outcome"),
            (lambda: deals.move_deal(deal, 999, actor="t"), "stage_id"),
            (lambda: deals.update_deal(deal, actor="t", value_cents=-1), "value_cents"),
            (lambda: deals.update_deal(deal, actor="t", title="ok", currency="EURO"), "currency"),
            (lambda: deals.update_deal(deal, actor="t", title="  "), "title"),
            (lambda: deals.update_deal(deal, actor="t", owner_id=999), "owner_id"),
            (lambda: deals.create_deal(lead=lead, actor="t", value_cents=True), "value_cents"),
            (lambda: deals.create_deal(lead=lead, actor="t", currency="XYZ"), "currency"),
            (lambda: deals.save_stage(actor="t", name="Angebot", probability=30), "name"),
            (lambda: deals.save_stage(actor="t", name="Neu", probability=101), "probability"),
            (lambda: deals.reorder_stages([1, 2], actor="t"), "ids"),
            (lambda: deals.reorder_stages(["x", 1, 2], actor="t"), "ids"),
            (lambda: deals.close_deal(deal, "maybe", actor="t"), "outcome"),  # type: ignore[arg-type]
        ]
        for call, field in bad:
            with pytest.raises(deals.DealError) as refused:
                call()
            assert refused.value.field == field and str(refused.value)
        db.session.expire_all()
        assert deal.status == DealStatus.OPEN and deal.value_cents == 0 and deal.title == "Solar A GmbH"
        assert _count(AuditEntry) == audited and _count(Deal) == 1 and _count(DealStage) == 3


def test_update_changes_only_the_given_fields(app, world: World):
    with app.app_context():
        deal = deals.create_deal(lead=db.session.get(Lead, world.lead_id), actor="test", value_cents=5_000)
        deals.update_deal(deal, actor="test", currency="chf", expected_close_on=date(2027, 1, 31))
        assert (deal.currency, deal.expected_close_on, deal.value_cents) == ("CHF", date(2027, 1, 31), 5_000)
        deals.update_deal(deal, actor="test", owner_id=None)
        assert deal.owner_id is None and deal.title == "Solar A GmbH"
        deals.update_deal(deal, actor="test", currency="CHF")  # no change, no entry
        assert _actions(deal.id) == ["deal.created", "deal.updated", "deal.updated"]


def test_stages_and_reasons_are_the_companys_to_edit(app, world: World):
    with app.app_context():
        first, proposal, negotiation = deals.ensure_defaults()
        deal = deals.create_deal(lead=db.session.get(Lead, world.lead_id), actor="test")
        demo = deals.save_stage(actor="admin", name="Vorführung", probability=35)
        assert demo.position == 3 and deals.active_stages()[-1].id == demo.id
        deals.reorder_stages([first.id, demo.id, proposal.id, negotiation.id], actor="admin")
        assert [s.name for s in deals.active_stages()] == ["Erstgespräch", "Vorführung", "Angebot", "Verhandlung"]
        with pytest.raises(deals.DealError) as refused:
            deals.retire_stage(first.id, actor="admin")  # the deal is in it
        assert refused.value.field == "move_to"
        deals.retire_stage(first.id, actor="admin", move_to=demo.id)
        db.session.expire_all()
        assert deal.stage_id == demo.id and first.id not in [s.id for s in deals.active_stages()]
        with pytest.raises(deals.DealError):
            deals.move_deal(deal, first.id, actor="test")  # retired: takes no deals
        reason = deals.save_reason(actor="admin", label="Finanzierung")
        deals.save_reason(actor="admin", label="Finanzierung", reason_id=reason.id, active=False)
        assert "Finanzierung" not in [r.label for r in deals.active_reasons()]
        assert deals.stale_days() == 14 and deals.set_stale_days(21, actor="admin") == 21 and deals.stale_days() == 21


@pytest.mark.tenancy
def test_a_company_cannot_see_or_change_another_companys_deal(app):
    from tests.deals.conftest import make_world
    from tests.tenancy.companies import second_company

    b = second_company(app)
    world_a, world_b = make_world(app, 1, "a"), make_world(app, b, "b")
    with app.app_context(), company_scope(b):
        b_deal = deals.create_deal(lead=db.session.get(Lead, world_b.lead_id), actor="test")
        b_stage, b_deal_id = b_deal.stage_id, b_deal.id
        assert deals.ensure_defaults()[0].name == "Erstgespräch"  # its own board
        db.session.remove()
    with app.app_context(), company_scope(1):
        assert deals.get_deal(b_deal_id) is None
        lead_a = db.session.get(Lead, world_a.lead_id)
        a_deal = deals.create_deal(lead=lead_a, actor="test")
        assert a_deal.stage_id != b_stage
        with pytest.raises(deals.DealError) as refused:
            deals.move_deal(a_deal, b_stage, actor="test")
        assert refused.value.field == "stage_id"
        with pytest.raises(deals.DealError):
            deals.create_deal(lead=lead_a, actor="test", owner_id=world_b.rep_id)
        db.session.remove()
    with app.app_context(), company_scope(b):
        found = deals.get_deal(b_deal_id)
        assert found is not None and found.stage_id == b_stage and found.status == DealStatus.OPEN
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Deal)) == 1
