"""The definitions of the report's periods, leads and calls (crm.reports.definitions lists the sections;
the words: the reports catalogue, see model.py)."""

from __future__ import annotations

from crm.catalogs import NP_
from crm.reports.definition_texts.model import Figure, Section

PERIODS = Section(
    "periods",
    NP_("definition", "Periods and times"),
    [
        Figure("period", NP_("definition", "Period")),
        Figure("previous_period", NP_("definition", "Previous period")),
        Figure("to_date", NP_("definition", "Period to date")),
        Figure("event_time", NP_("definition", "Time of an event")),
        Figure("no_value", NP_("definition", "No value (–)")),
    ],
)

LEADS = Section(
    "leads",
    NP_("definition", "Leads"),
    [
        Figure("leads_in", NP_("definition", "New leads")),
        Figure("by_source", NP_("definition", "By source")),
        Figure("by_campaign", NP_("definition", "By campaign")),
        Figure("qualified", NP_("definition", "Qualified")),
        Figure("qualified_share", NP_("definition", "Qualified share")),
        Figure("score_distribution", NP_("definition", "Score distribution")),
        Figure("priorities", NP_("definition", "Priorities")),
        Figure("chain_stages", NP_("definition", "Chains by stage")),
    ],
)

CALLS = Section(
    "calls",
    NP_("definition", "Calls"),
    [
        Figure("calls_placed", NP_("definition", "Calls placed")),
        Figure("answered", NP_("definition", "Answered")),
        Figure("answer_rate", NP_("definition", "Answer rate")),
        Figure("voicemail_rate", NP_("definition", "Voicemail rate")),
        Figure("no_answer_rate", NP_("definition", "No-answer rate")),
        Figure("talk_time_avg", NP_("definition", "Avg talk time")),
        Figure("talk_time_median", NP_("definition", "Median talk time")),
        Figure("sentiment", NP_("definition", "Sentiment")),
        Figure("outcomes", NP_("definition", "Outcomes")),
        Figure("critical", NP_("definition", "Critical calls")),
        Figure("by_hour", NP_("definition", "By hour and weekday")),
        Figure("trend", NP_("definition", "30-day trend")),
    ],
)
