"""The deal pipeline in the manager report and on the dashboard (issue 23): crm.services.deal_metrics' figures
as the report's and the dashboard's words and numbers. Definitions: crm/reports/definition_texts/pipeline.py.

The pipeline is a state, not a count over a period: the report shows it as it stood when the report was made
(a report of last month shows today's open deals, and says so); win rate and cycle length look back 90 days
from that day, the forecast is that day's month."""

from __future__ import annotations

from collections.abc import Iterable

from flask import has_app_context

from crm.reports import kpis
from crm.reports.i18n import DASH, Formatter
from crm.reports.periods import local_date
from crm.services import deal_metrics
from crm.services.deal_metrics import Money, PipelineSummary
from crm.tenancy.context import current_company_id


def amounts(fmt: Formatter, money: Iterable[Money]) -> str:
    """Per-currency amounts side by side ("12.000,00 € · 500,00 CHF"); "–" when there is none."""
    return " · ".join(fmt.money(m.cents, m.currency) for m in money) or DASH


def has_deals(summary: PipelineSummary) -> bool:
    return bool(summary.open_count or summary.won or summary.lost or summary.forecast)


def pipeline_section(report: kpis.KpiReport) -> PipelineSummary | None:
    """The company's pipeline on the day the report was made; None for a company without deals (no empty
    section), and outside an app context or a company scope (figures rendered from storage)."""
    if not has_app_context() or current_company_id() is None:
        return None
    today = local_date(report.generated_at, report.period.tz)
    summary = deal_metrics.pipeline_summary(today=today)
    return summary if has_deals(summary) else None
