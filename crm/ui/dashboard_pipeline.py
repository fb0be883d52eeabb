"""The dashboard's pipeline cards (issue 23): pipeline value, win rate, average sales cycle and the month's
forecast, from crm.services.deal_metrics. Managers and admins see the company's deals, a sales rep their own.
Unlike the figures above them these are no period's counts: the pipeline as it stands now, win rate and cycle
over the last 90 days, the forecast for this month (docs/deals.md, "Metrics")."""

from __future__ import annotations

from dataclasses import dataclass

from crm.models import User
from crm.reports.i18n import Formatter
from crm.reports.pipeline import amounts, has_deals
from crm.services import deal_metrics
from crm.ui.access import MANAGERS
from crm.ui.i18n import _


@dataclass(frozen=True)
class PipelineCard:
    key: str
    label: str
    value: str
    note: str | None = None


def pipeline_cards(who: User, fmt: Formatter) -> list[PipelineCard]:
    """The four cards, or none for a company (or rep) without deals yet."""
    owner_id = None if who.role in MANAGERS else who.id
    s = deal_metrics.pipeline_summary(owner_id=owner_id, today=deal_metrics.company_today())
    if not has_deals(s):
        return []
    cycle = None if s.avg_cycle_days is None else _("%(days)s days", days=fmt.decimal(s.avg_cycle_days))
    return [
        PipelineCard(
            "pipeline_value",
            _("Pipeline value"),
            amounts(fmt, s.open_total),
            _("weighted: %(amount)s", amount=amounts(fmt, s.open_weighted)),
        ),
        PipelineCard(
            "win_rate",
            _("Win rate (90 days)"),
            fmt.pct(s.win_rate),
            _("%(won)s won, %(lost)s lost", won=fmt.count(s.won), lost=fmt.count(s.lost)),
        ),
        PipelineCard("sales_cycle", _("Average sales cycle"), cycle or "–", _("won deals, last 90 days")),
        PipelineCard(
            "forecast",
            _("Forecast this month"),
            amounts(fmt, s.forecast),
            _("%(count)s stale deals", count=fmt.count(s.stale_count)) if s.stale_count else None,
        ),
    ]
