"""The rule score of a lead from its learned-score signals: the rival every candidate model must beat on the
hold-out, computed from the same reading of the CRM (crm.services.scoring.compute, the ruleset in force)."""

from __future__ import annotations

from crm.learning.signals import LeadSignals
from crm.services.scoring import Engagement, LeadFacts, ScoringRules, compute


def rule_facts(s: LeadSignals) -> LeadFacts:
    return LeadFacts(
        source=s.source,
        has_phone=s.has_phone,
        has_email=s.has_email,
        has_company=s.has_company,
        has_full_name=s.has_full_name,
        email_domain=s.email_domain,
        phone_consent=s.phone_consent,
        email_consent=s.email_consent,
        interest_text=s.interest_text,
        engagement=Engagement(opens=s.opens, clicks=s.clicks, call_outcomes=s.call_outcomes),
        note_text=s.note_text,
    )


def rule_score(s: LeadSignals, rules: ScoringRules) -> int:
    return compute(rule_facts(s), rules).value
