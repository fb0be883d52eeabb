"""Every KPI of the manager report, from one package: the PDF, the scheduled reports and the dashboard
read the same tree. Definitions: crm/reports/definitions.py (the PDF's appendix; docs/kpis.md is
generated from it).

How it is computed
------------------
The database filters and groups; pandas only shapes what comes back. Every query is a SQLAlchemy Core
select with GROUP BY that returns a few hundred or thousand rows whatever the table size:

* calls, emails and leads are counted per UTC hour with conditional aggregates over the range
  [min(previous start, trend start), period end). Europe/Berlin is a whole number of hours from UTC,
  so each UTC hour is exactly one Berlin hour: pandas turns the hours into the period totals, the
  previous period's totals, the hour-of-day and weekday tables and the 30-day trend without a second
  scan and without time-zone support in the database (SQLite has none);
* the median talk time comes from a GROUP BY duration_s frequency table (exact, and portable:
  SQLite has no percentile function);
* breakdowns (source, campaign, rep, provider, outcome, currency, score bucket) are GROUP BY queries;
* only the two lists (critical calls, follow-up potential) return rows, bounded by LIMIT.

A ratio whose denominator is zero is None (shown as "–"), never an exception.

Modules: model (the report's tree and its JSON), queries (the SQL), shaping (pandas over what the queries
return), breakdowns (per rep, provider, campaign; follow-up lists), compute (compute(), which ties them).
The names below are the package's public ones; importers use `crm.reports.kpis.<name>`.
"""

from crm.reports.kpis.compute import compute
from crm.reports.kpis.model import (
    ANSWERED_OUTCOMES,
    CRITICAL_LIMIT,
    EMAIL_BOUNCED,
    EMAIL_DELIVERED,
    EMAIL_OPENED,
    FOLLOW_UP_OUTCOMES,
    FOLLOW_UPS_PER_REP,
    PRIORITIES,
    SCORE_BUCKETS,
    SENTIMENTS,
    TREND_DAYS,
    WANTED_OUTCOMES,
    Bucket,
    CallFigures,
    CampaignRow,
    CostFigures,
    CriticalCall,
    CurrencyCost,
    EmailFigures,
    FollowUp,
    FxRate,
    Headline,
    HourRow,
    KpiReport,
    LeadFigures,
    PeriodFigures,
    ProviderRow,
    RepFollowUps,
    RepRow,
    TrendDay,
    WeekdayRow,
    ratio,
)
from crm.reports.kpis.queries import campaign_label, score_bucket

__all__ = [
    "ANSWERED_OUTCOMES",
    "CRITICAL_LIMIT",
    "EMAIL_BOUNCED",
    "EMAIL_DELIVERED",
    "EMAIL_OPENED",
    "FOLLOW_UP_OUTCOMES",
    "FOLLOW_UPS_PER_REP",
    "PRIORITIES",
    "SCORE_BUCKETS",
    "SENTIMENTS",
    "TREND_DAYS",
    "WANTED_OUTCOMES",
    "Bucket",
    "CallFigures",
    "CampaignRow",
    "CostFigures",
    "CriticalCall",
    "CurrencyCost",
    "EmailFigures",
    "FollowUp",
    "FxRate",
    "Headline",
    "HourRow",
    "KpiReport",
    "LeadFigures",
    "PeriodFigures",
    "ProviderRow",
    "RepFollowUps",
    "RepRow",
    "TrendDay",
    "WeekdayRow",
    "campaign_label",
    "compute",
    "ratio",
    "score_bucket",
]
