"""The definitions of the deal pipeline's figures (issue 23; crm.services.deal_metrics computes them, the words:
the reports catalogue, see model.py)."""

from __future__ import annotations

from crm.catalogs import N_, NP_
from crm.reports.definition_texts.model import Figure, Section

PIPELINE = Section(
    "pipeline",
    NP_("definition", "Deal pipeline"),
    [
        Figure("pipeline_value", NP_("definition", "Pipeline value"), N_("definition.pipeline_value")),
        Figure("pipeline_weighted", NP_("definition", "Weighted pipeline value"), N_("definition.pipeline_weighted")),
        Figure("win_rate", NP_("definition", "Win rate"), N_("definition.win_rate")),
        Figure("sales_cycle", NP_("definition", "Average sales cycle"), N_("definition.sales_cycle")),
        Figure("forecast", NP_("definition", "Forecast for the month"), N_("definition.forecast")),
        Figure("stale_deals", NP_("definition", "Stale deals"), N_("definition.stale_deals")),
    ],
)
