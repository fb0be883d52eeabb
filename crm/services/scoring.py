"""Lead scoring: 0-100 with a per-factor breakdown, a priority, tags and a recommended next action.

The rules are data, not code: `crm/scoring_rules.yaml` ships the default; `LEADCHAIN_SCORING_RULES`
names another file (see that file for the format); an admin's ruleset stored in Settings wins over both
(crm.services.settings_store, validated by crm.services.app_settings). `compute` is a pure function of `LeadFacts`;
`facts_for` reads them from the CRM and `score_lead` stores the result (history, lead, audit).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.learning import blend
from crm.models import Channel, ConsentRecord, Interaction, InteractionKind, Lead, LegalBasis, Priority, ScoreHistory
from crm.services import audit, settings_store
from crm.services.normalize import fold

# Re-exported ("as"): the settings pages, app_settings and the tests import the ruleset's API from here.
from crm.services.scoring_config import RULES_ENV as RULES_ENV
from crm.services.scoring_config import ScoringConfigError as ScoringConfigError
from crm.services.scoring_config import ScoringRules as ScoringRules
from crm.services.scoring_config import load_rules as load_rules
from crm.services.scoring_config import rules_from_text as rules_from_text
from crm.services.scoring_config import rules_path as rules_path
from workflows.vocabulary import CallOutcome

EXPRESS_BASES = (LegalBasis.EXPRESS_CONSENT, LegalBasis.CALLBACK_REQUEST)
# Tags the scorer owns: recomputed on every score, so a stale one ("hot", "consent:phone") is dropped.
# Every other tag on a lead (set by reps or sources) is kept.
SCORING_TAGS = frozenset(
    {"hot", "warm", "cold", "b2b", "freemail", "consent:phone", "consent:email", "interest", "engaged"}
)


@dataclass(frozen=True)
class Factor:
    name: str
    points: int
    detail: str


@dataclass(frozen=True)
class Engagement:
    opens: int = 0
    clicks: int = 0
    call_outcomes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeadFacts:
    source: str
    has_phone: bool
    has_email: bool
    has_company: bool
    has_full_name: bool
    email_domain: str | None
    phone_consent: bool
    email_consent: bool
    interest_text: str | None  # the lead's `interest` field: counts whenever it is filled in
    engagement: Engagement = Engagement()
    note_text: str | None = None  # intake notes: count only when they contain an interest keyword


@dataclass(frozen=True)
class Score:
    value: int
    priority: str
    factors: tuple[Factor, ...]
    model_version: str
    tags: tuple[str, ...]
    next_action: str  # "call" | "nurture" | "review" | "stop"
    raw_total: int = 0
    # Set when a learned model took part (crm.learning.blend): the rule score, p_win, weight, contributions.
    learned: dict[str, Any] | None = None

    def breakdown(self) -> dict[str, Any]:
        """What ScoreHistory.breakdown stores: points by factor, plus the details and the unclamped sum."""
        out: dict[str, Any] = {f.name: f.points for f in self.factors}
        out["details"] = {f.name: f.detail for f in self.factors}
        out["raw_total"] = self.raw_total
        if self.learned is not None:
            out["learned"] = self.learned
        return out


# ---------------------------------------------------------------- the ruleset in force

# An admin's stored ruleset, parsed once per change (keyed by the row's updated_at and text).
_stored_lock = threading.Lock()
_stored_cache: tuple[datetime, str, ScoringRules] | None = None


def remember_stored_rules(updated_at: datetime, text: str, rules: ScoringRules) -> None:
    """Cache a ruleset just stored (crm.services.app_settings), so the next score does not parse it again."""
    global _stored_cache
    with _stored_lock:
        _stored_cache = (updated_at, text, rules)


def stored_rules() -> ScoringRules:
    """The ruleset an admin stored (crm.services.settings_store), else the file's."""
    row = settings_store.stored(settings_store.SCORING_RULES)
    if row is None:
        return load_rules()
    cached = _stored_cache
    if cached is not None and cached[0] == row.updated_at and cached[1] == row.value:
        return cached[2]
    rules = rules_from_text(row.value)
    remember_stored_rules(row.updated_at, row.value, rules)
    return rules


def rules_in_force() -> ScoringRules:
    """stored_rules() with the stored gate threshold, so a score's recommended action ("call") agrees
    with the gate the chain applies."""
    rules = stored_rules()
    threshold = settings_store.gate_threshold()
    if threshold is None or threshold == rules.gate_threshold:
        return rules
    return replace(rules, gate_threshold=threshold)


# ---------------------------------------------------------------- the model


def _source_points(source: str, rules: ScoringRules) -> tuple[int, str]:
    value = (source or "").strip().lower()
    if value in rules.source_points:
        return rules.source_points[value], value
    head = value.replace(".", "-").split("-", 1)[0]
    if head in rules.source_points:
        return rules.source_points[head], f"{value} (as {head})"
    return rules.source_default, f"{value or 'none'} (default)"


def _keyword(text: str | None, rules: ScoringRules) -> str | None:
    # A keyword matches at the start of a word: "termin" finds "Terminwunsch", not "determine".
    folded = f" {fold(text)}"
    return next((k for k in rules.interest_keywords if k and f" {k}" in folded), None)


def priority_for(value: int, rules: ScoringRules) -> str:
    if value >= rules.hot:
        return Priority.HOT.value
    if value >= rules.warm:
        return Priority.WARM.value
    return Priority.COLD.value


def compute(facts: LeadFacts, rules: ScoringRules) -> Score:
    """Score a lead from its facts. Pure: no database, no clock."""
    domain = (facts.email_domain or "").strip().lower() or None
    freemail = domain is not None and domain in rules.freemail_domains
    interest = _interest_factor(facts, rules)
    counts = _outcome_counts(facts.engagement.call_outcomes)
    points, detail = _source_points(facts.source, rules)
    # The breakdown's order: source, completeness, domain, consent, interest, engagement.
    factors = [
        Factor("source", points, detail),
        *_completeness_factors(facts, rules),
        *_domain_factors(domain, freemail, rules),
        *_consent_factors(facts, rules),
        *([interest] if interest is not None else []),
        *_engagement_factors(facts.engagement, counts, rules),
    ]
    raw = sum(f.points for f in factors)
    value = max(0, min(100, raw))
    priority = priority_for(value, rules)
    return Score(
        value=value,
        priority=priority,
        factors=tuple(factors),
        model_version=rules.version,
        tags=_tags(facts, priority, domain, freemail, interested=interest is not None),
        next_action=_next_action(facts, value, counts, rules),
        raw_total=raw,
    )


def _completeness_factors(facts: LeadFacts, rules: ScoringRules) -> list[Factor]:
    present = (
        ("phone", facts.has_phone),
        ("email", facts.has_email),
        ("company", facts.has_company),
        ("full_name", facts.has_full_name),
    )
    return [
        Factor(f"has_{name}", rules.completeness[name], f"has {name.replace('_', ' ')}") for name, has in present if has
    ]


def _domain_factors(domain: str | None, freemail: bool, rules: ScoringRules) -> list[Factor]:
    if not domain:
        return []
    if freemail:
        return [Factor("freemail_domain", rules.freemail_domain, domain)]
    return [Factor("business_domain", rules.business_domain, domain)]


def _consent_factors(facts: LeadFacts, rules: ScoringRules) -> list[Factor]:
    factors = []
    if facts.phone_consent:
        factors.append(Factor("phone_consent", rules.phone_consent, "express phone consent"))
    if facts.email_consent:
        factors.append(Factor("email_consent", rules.email_consent, "email consent"))
    return factors


def _interest_factor(facts: LeadFacts, rules: ScoringRules) -> Factor | None:
    """A filled-in interest field counts; else an intake note that mentions an interest keyword."""
    if facts.interest_text and facts.interest_text.strip():
        return Factor("stated_interest", rules.interest_points, "interest field filled in")
    if (word := _keyword(facts.note_text, rules)) is not None:
        return Factor("stated_interest", rules.interest_points, f"intake note mentions {word!r}")
    return None


def _outcome_counts(outcomes: tuple[str, ...]) -> dict[str, int]:
    """How many calls ended with each outcome (normalised, blanks ignored), in first-seen order."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        key = (outcome or "").strip().lower()
        if key:
            counts[key] = counts.get(key, 0) + 1
    return counts


def _engagement_factors(eng: Engagement, counts: dict[str, int], rules: ScoringRules) -> list[Factor]:
    """Opens and clicks (each capped), then each call outcome times its count."""
    factors = []
    if eng.opens > 0:
        factors.append(Factor("email_opens", min(eng.opens * rules.open_points, rules.open_max), f"{eng.opens} opens"))
    if eng.clicks > 0:
        factors.append(
            Factor("email_clicks", min(eng.clicks * rules.click_points, rules.click_max), f"{eng.clicks} clicks")
        )
    for outcome, n in counts.items():
        factors.append(
            Factor(f"call:{outcome}", rules.call_outcomes.get(outcome, 0) * n, f"{n} call(s) with outcome {outcome}")
        )
    return factors


def _tags(facts: LeadFacts, priority: str, domain: str | None, freemail: bool, *, interested: bool) -> tuple[str, ...]:
    eng = facts.engagement
    tags = [priority]
    if facts.has_company or (domain and not freemail):
        tags.append("b2b")
    if freemail:
        tags.append("freemail")
    if facts.phone_consent:
        tags.append("consent:phone")
    if facts.email_consent:
        tags.append("consent:email")
    if interested:
        tags.append("interest")
    if eng.opens > 0 or eng.clicks > 0:
        tags.append("engaged")
    return tuple(tags)


def _next_action(facts: LeadFacts, value: int, counts: dict[str, int], rules: ScoringRules) -> str:
    if CallOutcome.DO_NOT_CALL in counts:
        return "stop"
    if value > rules.gate_threshold and facts.phone_consent and facts.has_phone:
        return "call"
    if not facts.has_phone and not facts.email_consent:
        return "review"  # nothing the chain may do on its own: a rep looks at it
    return "nurture"


# ---------------------------------------------------------------- the CRM side


def _count(data: dict | None, name: str, fallback: bool) -> int:
    value = (data or {}).get(name)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 1 if fallback or value is True else 0


def facts_for(lead_id: int) -> LeadFacts:
    """Read what the model scores from the CRM.

    Email engagement: an email interaction's `data["opens"]` / `data["clicks"]` counts when present,
    else one open for status opened/clicked and one click for status clicked.
    Calls: the outcome of every call interaction that has one.
    """
    lead = db.session.get(Lead, lead_id)
    if lead is None:
        raise LookupError(f"lead {lead_id} does not exist")
    consents = db.session.execute(
        sa.select(ConsentRecord.channel, ConsentRecord.legal_basis).where(
            ConsentRecord.lead_id == lead_id, ConsentRecord.withdrawn_at.is_(None)
        )
    ).all()
    notes = db.session.scalars(
        sa.select(Interaction.summary)
        .where(
            Interaction.lead_id == lead_id, Interaction.kind == InteractionKind.NOTE, Interaction.provider == "intake"
        )
        .order_by(Interaction.id)
    ).all()
    emails = db.session.execute(
        sa.select(Interaction.status, Interaction.data).where(
            Interaction.lead_id == lead_id, Interaction.kind == InteractionKind.EMAIL
        )
    ).all()
    outcomes = db.session.scalars(
        sa.select(Interaction.outcome)
        .where(
            Interaction.lead_id == lead_id, Interaction.kind == InteractionKind.CALL, Interaction.outcome.is_not(None)
        )
        .order_by(Interaction.created_at, Interaction.id)
    ).all()

    opens = sum(_count(d, "opens", s in ("opened", "clicked")) for s, d in emails)
    clicks = sum(_count(d, "clicks", s == "clicked") for s, d in emails)
    email = lead.email if lead.email and lead.email_status not in ("invalid", "bounced") else None
    return LeadFacts(
        source=lead.source,
        has_phone=bool(lead.phone_e164) and lead.phone_status != "invalid",
        has_email=email is not None,
        has_company=bool(lead.company),
        has_full_name=bool(lead.first_name and lead.last_name),
        email_domain=email.rpartition("@")[2].lower() if email else None,
        phone_consent=any(c == Channel.PHONE and b in EXPRESS_BASES for c, b in consents),
        email_consent=any(c == Channel.EMAIL and b in EXPRESS_BASES for c, b in consents),
        interest_text=lead.interest,
        engagement=Engagement(
            opens=opens,
            clicks=clicks,
            # The query keeps only calls with an outcome; the filter narrows the column type for mypy.
            call_outcomes=tuple(o for o in outcomes if o is not None),
        ),
        note_text="\n".join(n for n in notes if n) or None,
    )


def _blended(score: Score, learned: blend.Learned, facts: LeadFacts, rules: ScoringRules) -> Score:
    """The rule score blended with the model in force (docs/scoring.md "Blend"): the value, and what follows
    from it (priority, the priority tag, the next action), recorded under the model's version."""
    value = learned.value(score.value)
    priority = priority_for(value, rules)
    return replace(
        score,
        value=value,
        priority=priority,
        tags=(priority, *score.tags[1:]),
        next_action=_next_action(facts, value, _outcome_counts(facts.engagement.call_outcomes), rules),
        model_version=learned.label,
        learned=learned.breakdown(score.value, score.model_version),
    )


def score_lead(lead_id: int, *, actor: str, reason: str, rules: ScoringRules | None = None) -> Score:
    """Score a lead and record it: a ScoreHistory row, the lead's score/priority/tags, an audit entry
    when any of those changed. Runs in the caller's transaction and does not commit.

    Without `rules`: the ruleset and gate threshold in force (an admin's stored ones, else the file's;
    crm.services.app_settings)."""
    if not reason or len(reason) > 64:
        raise ValueError("reason must be 1 to 64 characters")
    if rules is None:
        rules = rules_in_force()
    # Lock the row (PostgreSQL) so concurrent re-scores of one lead apply one after the other.
    lead = db.session.get(Lead, lead_id, with_for_update=True)
    if lead is None:
        raise LookupError(f"lead {lead_id} does not exist")
    if lead.merged_into_id is not None:
        raise ValueError(f"lead {lead_id} was merged into {lead.merged_into_id}; score that one")
    facts = facts_for(lead_id)
    score = compute(facts, rules)
    learned = blend.for_lead(lead_id)
    if learned is not None:
        score = _blended(score, learned, facts, rules)

    db.session.add(
        ScoreHistory(
            lead_id=lead_id,
            score=score.value,
            priority=score.priority,
            breakdown=score.breakdown(),
            model_version=score.model_version,
            reason=reason,
        )
    )
    old_tags = list(lead.tags or [])
    new_tags = [t for t in old_tags if t not in SCORING_TAGS]
    new_tags += [t for t in score.tags if t not in new_tags]
    if set(new_tags) == set(old_tags):
        new_tags = old_tags
    before = {"score": lead.score, "priority": lead.priority.value if lead.priority else None, "tags": old_tags}
    after = {"score": score.value, "priority": score.priority, "tags": new_tags}
    lead.score, lead.priority, lead.tags = score.value, Priority(score.priority), new_tags
    if before != after:
        audit.record(
            actor,
            "lead.scored",
            "lead",
            lead_id,
            before=before,
            after={**after, "model_version": score.model_version, "reason": reason},
        )
    db.session.flush()
    return score
