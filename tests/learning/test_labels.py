"""The label rule (docs/scoring.md "Labels") as a pure function: a won deal wins over everything and dates the
outcome by the first win; otherwise the last lost deal, else the time the lead was given up; nothing decided
is no example."""

from __future__ import annotations

from datetime import UTC, datetime

from crm.learning.labels import Outcome, counts, label
from crm.models import DealStatus

T1, T2, T3 = (datetime(2026, 5, d, tzinfo=UTC) for d in (1, 2, 3))


def test_a_won_deal_wins_and_is_dated_by_the_first_win():
    deals = [(DealStatus.LOST, T1), (DealStatus.WON, T3), (DealStatus.WON, T2), (DealStatus.OPEN, None)]
    assert label(7, deals, lost_lead_at=T1) == Outcome(7, True, T2)


def test_lost_deals_date_the_loss_by_the_last_one_before_a_given_up_lead():
    assert label(7, [(DealStatus.LOST, T1), (DealStatus.LOST, T3)], lost_lead_at=T2) == Outcome(7, False, T3)
    assert label(7, [(DealStatus.OPEN, None)], lost_lead_at=T2) == Outcome(7, False, T2)


def test_an_open_lead_is_no_example():
    assert label(7, [(DealStatus.OPEN, None)], lost_lead_at=None) is None
    assert label(7, [], lost_lead_at=None) is None


def test_counts():
    found = counts([Outcome(1, True, T1), Outcome(2, False, T1), Outcome(3, False, T2)])
    assert (found.closed, found.won, found.lost) == (3, 1, 2)
