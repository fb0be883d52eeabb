"""crm.services.deal_metrics on a hand-built set of deals with known dates, on SQLite and PostgreSQL: every
figure is checked against the number worked out by hand (see each comment)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crm.extensions import db
from crm.models import Deal, DealStatus, Lead
from crm.services import deal_metrics, deals
from crm.services.deal_metrics import Money
from tests.deals.conftest import World

TODAY = date(2026, 12, 7)  # company 1 is in Europe/Berlin


def _at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def _deal(lead: Lead, stage_id: int, cents: int, currency: str = "EUR", **columns) -> Deal:
    deal = deals.create_deal(lead=lead, actor="test", value_cents=cents, currency=currency, stage_id=stage_id)
    for name, value in columns.items():
        setattr(deal, name, value)
    db.session.commit()
    return deal


@pytest.fixture
def book(app, world: World) -> dict[str, int]:
    """D1-D3 open, D4-D5 won, D6-D8 lost (dates below)."""
    with app.app_context():
        lead = db.session.get(Lead, world.lead_id)
        first, proposal, negotiation = deals.ensure_defaults()  # 20 %, 50 %, 75 %
        price = deals.active_reasons()[0].id
        made = {
            # 6 days in its stage, closes this month
            "d1": _deal(
                lead, first.id, 100_000, expected_close_on=date(2026, 12, 20), stage_changed_at=_at(2026, 12, 1, 10)
            ),
            # 36 days: stale; closes this month
            "d2": _deal(
                lead, proposal.id, 200_000, expected_close_on=date(2026, 12, 31), stage_changed_at=_at(2026, 11, 1)
            ),
            # 15 days (Nov 22 local): stale; closes next month, in francs
            "d3": _deal(
                lead,
                negotiation.id,
                50_000,
                "CHF",
                expected_close_on=date(2027, 1, 15),
                stage_changed_at=_at(2026, 11, 22, 10),
            ),
            # won this month after 32.5 days
            "d4": _deal(
                lead,
                negotiation.id,
                300_000,
                status=DealStatus.WON,
                created_at=_at(2026, 11, 1),
                closed_at=_at(2026, 12, 3, 12),
            ),
            # won in October after 30 days
            "d5": _deal(
                lead,
                proposal.id,
                100_000,
                status=DealStatus.WON,
                created_at=_at(2026, 9, 1),
                closed_at=_at(2026, 10, 1),
            ),
            "d6": _deal(lead, first.id, 50_000, status=DealStatus.LOST, reason_id=price, closed_at=_at(2026, 11, 15)),
            # one second before the 90 days (Sep 9 00:00 Berlin = Sep 8 22:00 UTC): not counted
            "d7": _deal(
                lead, first.id, 50_000, status=DealStatus.LOST, reason_id=price, closed_at=_at(2026, 9, 8, 21, 59, 59)
            ),
            "d8": _deal(lead, first.id, 70_000, status=DealStatus.LOST, reason_id=price, closed_at=_at(2026, 8, 1)),
        }
        return {name: deal.id for name, deal in made.items()}


def test_the_pipeline_figures_match_the_hand_worked_numbers(app, book):
    with app.app_context():
        s = deal_metrics.pipeline_summary(today=TODAY)
        assert [(x.name, x.count, x.total, x.weighted) for x in s.stages] == [
            ("Erstgespräch", 1, (Money("EUR", 100_000),), (Money("EUR", 20_000),)),
            ("Angebot", 1, (Money("EUR", 200_000),), (Money("EUR", 100_000),)),
            ("Verhandlung", 1, (Money("CHF", 50_000),), (Money("CHF", 37_500),)),
        ]
        assert s.open_count == 3
        assert s.open_total == (Money("CHF", 50_000), Money("EUR", 300_000))
        assert s.open_weighted == (Money("CHF", 37_500), Money("EUR", 120_000))
        assert (s.won, s.lost) == (2, 1) and s.win_rate == pytest.approx(2 / 3)
        assert s.avg_cycle_days == pytest.approx((32.5 + 30) / 2)
        # weighted d1 20,000 + d2 100,000, and d4 won this month 300,000 (d3 closes in January)
        assert s.forecast == (Money("EUR", 420_000),)
        cards = {c.id: c for x in s.stages for c in x.deals}
        assert {cards[book[k]].days_in_stage for k in ("d1", "d2", "d3")} == {6, 36, 15}
        assert [k for k in ("d1", "d2", "d3") if cards[book[k]].stale] == ["d2", "d3"]
        assert s.stale_after_days == 14 and s.stale_count == 2


def test_the_stale_threshold_is_the_companys_and_filters_narrow_the_set(app, book, world: World):
    with app.app_context():
        deals.set_stale_days(30, actor="test")
        assert deal_metrics.pipeline_summary(today=TODAY).stale_count == 1
        d2 = db.session.get(Deal, book["d2"])
        d2.owner_id = None
        db.session.commit()
        mine = deal_metrics.pipeline_summary(owner_id=world.rep_id, today=TODAY)
        assert mine.open_count == 2 and mine.open_total == (Money("CHF", 50_000), Money("EUR", 100_000))
        assert deal_metrics.pipeline_summary(source="web", today=TODAY).open_count == 3
        nothing = deal_metrics.pipeline_summary(source="fax", today=TODAY)
        assert nothing.open_count == 0 and nothing.win_rate is None and nothing.avg_cycle_days is None
        assert nothing.forecast == () and [x.count for x in nothing.stages] == [0, 0, 0]
