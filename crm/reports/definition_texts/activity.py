"""The definitions of the report's periods, leads and calls (crm.reports.definitions lists the sections;
the words: the reports catalogue, see model.py)."""

from __future__ import annotations

from crm.catalogs import N_, NP_
from crm.reports.definition_texts.model import Figure, Section

PERIODS = Section(
    "periods",
    NP_("definition", "Periods and times"),
    [
        Figure("period", NP_("definition", "Period"), N_("definition.period")),
        Figure("previous_period", NP_("definition", "Previous period"), N_("definition.previous_period")),
        Figure("to_date", NP_("definition", "Period to date"), N_("definition.to_date")),
        Figure("event_time", NP_("definition", "Time of an event"), N_("definition.event_time")),
        Figure("no_value", NP_("definition", "No value (–)"), N_("definition.no_value")),
    ],
)

LEADS = Section(
    "leads",
    NP_("definition", "Leads"),
    [
        Figure("leads_in", NP_("definition", "New leads"), N_("definition.leads_in")),
        Figure("by_source", NP_("definition", "By source"), N_("definition.by_source")),
        Figure("by_campaign", NP_("definition", "By campaign"), N_("definition.by_campaign")),
        Figure("qualified", NP_("definition", "Qualified"), N_("definition.qualified")),
        Figure("qualified_share", NP_("definition", "Qualified share"), N_("definition.qualified_share")),
        Figure("score_distribution", NP_("definition", "Score distribution"), N_("definition.score_distribution")),
        Figure("priorities", NP_("definition", "Priorities"), N_("definition.priorities")),
        Figure("chain_stages", NP_("definition", "Chains by stage"), N_("definition.chain_stages")),
    ],
)

CALLS = Section(
    "calls",
    NP_("definition", "Calls"),
    [
        Figure("calls_placed", NP_("definition", "Calls placed"), N_("definition.calls_placed")),
        Figure("answered", NP_("definition", "Answered"), N_("definition.answered")),
        Figure("answer_rate", NP_("definition", "Answer rate"), N_("definition.answer_rate")),
        Figure("voicemail_rate", NP_("definition", "Voicemail rate"), N_("definition.voicemail_rate")),
        Figure("no_answer_rate", NP_("definition", "No-answer rate"), N_("definition.no_answer_rate")),
        Figure("talk_time_avg", NP_("definition", "Avg talk time"), N_("definition.talk_time_avg")),
        Figure("talk_time_median", NP_("definition", "Median talk time"), N_("definition.talk_time_median")),
        Figure("sentiment", NP_("definition", "Sentiment"), N_("definition.sentiment")),
        Figure("outcomes", NP_("definition", "Outcomes"), N_("definition.outcomes")),
        Figure("critical", NP_("definition", "Critical calls"), N_("definition.critical")),
        Figure("by_hour", NP_("definition", "By hour and weekday"), N_("definition.by_hour")),
        Figure("trend", NP_("definition", "30-day trend"), N_("definition.trend")),
    ],
)
