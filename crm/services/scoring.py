"""Lead scoring: 0-100 with a per-factor breakdown, a priority, tags and a recommended next action.

The rules are data, not code: `crm/scoring_rules.yaml` ships the default; `LEADCHAIN_SCORING_RULES`
names another file (see that file for the format); an admin's ruleset stored in Settings wins over both
(crm.services.settings_store, validated by crm.services.app_settings). `compute` is a pure function of `LeadFacts`;
`facts_for` reads them from the CRM and `score_lead` stores the result (history, lead, audit).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
import yaml

from crm.extensions import db
from crm.models import Channel, ConsentRecord, Interaction, InteractionKind, Lead, LegalBasis, Priority, ScoreHistory
from crm.services import audit, settings_store
from crm.services.normalize import fold
from workflows.vocabulary import CallOutcome

RULES_ENV = "LEADCHAIN_SCORING_RULES"
EXPRESS_BASES = (LegalBasis.EXPRESS_CONSENT, LegalBasis.CALLBACK_REQUEST)
# Tags the scorer owns: recomputed on every score, so a stale one ("hot", "consent:phone") is dropped.
# Every other tag on a lead (set by reps or sources) is kept.
SCORING_TAGS = frozenset(
    {"hot", "warm", "cold", "b2b", "freemail", "consent:phone", "consent:email", "interest", "engaged"}
)
POINTS_RANGE = (-100, 100)


class ScoringConfigError(ValueError):
    """A rules file that cannot be used; `key` names the offending entry (dotted path)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


def _frozen(mapping: dict) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ScoringRules:
    version: str
    hot: int
    warm: int
    gate_threshold: int
    source_points: Mapping[str, int] = field(hash=False)
    source_default: int
    completeness: Mapping[str, int] = field(hash=False)  # phone, email, company, full_name
    business_domain: int
    freemail_domain: int
    freemail_domains: frozenset[str]
    phone_consent: int
    email_consent: int
    interest_points: int
    interest_keywords: tuple[str, ...]
    open_points: int
    open_max: int
    click_points: int
    click_max: int
    call_outcomes: Mapping[str, int] = field(hash=False)
    path: str | None = None


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

    def breakdown(self) -> dict[str, Any]:
        """What ScoreHistory.breakdown stores: points by factor, plus the details and the unclamped sum."""
        out: dict[str, Any] = {f.name: f.points for f in self.factors}
        out["details"] = {f.name: f.detail for f in self.factors}
        out["raw_total"] = self.raw_total
        return out


# ---------------------------------------------------------------- loading and validation


class _Section:
    """A YAML mapping being validated: every read names its dotted key; leftovers are refused."""

    def __init__(self, data: Any, key: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ScoringConfigError(key, "must be a mapping")
        self.data, self.key = data, key
        self.seen: set[str] = set()

    def _k(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def raw(self, name: str, required: bool = False) -> Any:
        if name not in self.data:
            if required:
                raise ScoringConfigError(self._k(name), "is required")
            return None
        self.seen.add(name)
        return self.data[name]

    def points(self, name: str, *, required: bool = False, lo: int = POINTS_RANGE[0], hi: int = POINTS_RANGE[1]) -> int:
        value = self.raw(name, required)
        if value is None and not required:
            return 0
        return _int(value, self._k(name), lo, hi)

    def section(self, name: str, required: bool = False) -> _Section:
        return _Section(self.raw(name, required), self._k(name))

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ScoringConfigError(self._k(name), "must be a list of strings")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise ScoringConfigError(f"{self._k(name)}[{i}]", "must be a non-empty string")
            out.append(item.strip().lower())
        return tuple(out)

    def int_table(self, name: str) -> dict[str, int]:
        table = self.section(name)
        out = {}
        for k in list(table.data):
            if not isinstance(k, str) or not k.strip():
                raise ScoringConfigError(table._k(str(k)), "names must be non-empty strings")
            out[k.strip().lower()] = table.points(k)
        return out

    def done(self) -> None:
        extra = [k for k in self.data if k not in self.seen]
        if extra:
            raise ScoringConfigError(self._k(str(extra[0])), "unknown key")


def _int(value: Any, key: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScoringConfigError(key, f"must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ScoringConfigError(key, f"must be between {lo} and {hi}, got {value}")
    return value


def parse_rules(data: Any, path: str | None = None) -> ScoringRules:
    """Validate a parsed YAML document into ScoringRules (ScoringConfigError names the bad key)."""
    if not isinstance(data, dict):
        raise ScoringConfigError("", "a scoring rules file must be a YAML mapping (version, thresholds, ...)")
    top = _Section(data, "")
    version = top.raw("version", required=True)
    if not isinstance(version, str) or not version.strip() or len(version) > 32:
        raise ScoringConfigError("version", 'must be a string of 1 to 32 characters (quote it: "v1")')
    thresholds = top.section("thresholds", required=True)
    hot = thresholds.points("hot", required=True, lo=0, hi=100)
    warm = thresholds.points("warm", required=True, lo=0, hi=100)
    thresholds.done()
    if warm >= hot:
        raise ScoringConfigError("thresholds.warm", f"must be below thresholds.hot ({hot})")
    gate = top.points("gate_threshold", required=True, lo=0, hi=100)

    source = top.section("source")
    source_default = source.points("default")
    source_points = source.int_table("points")
    source.done()

    comp = top.section("completeness")
    completeness = {name: comp.points(name) for name in ("phone", "email", "company", "full_name")}
    comp.done()

    dom = top.section("email_domain")
    business, freemail = dom.points("business"), dom.points("freemail")
    freemail_domains = frozenset(dom.strings("freemail_domains"))
    dom.done()

    consent = top.section("consent")
    phone_consent, email_consent = consent.points("phone_express"), consent.points("email")
    consent.done()

    interest = top.section("interest")
    interest_points = interest.points("points")
    keywords = tuple(fold(k) for k in interest.strings("keywords"))
    interest.done()

    eng = top.section("engagement")
    caps = {}
    for name in ("email_open", "email_click"):
        sec = eng.section(name)
        caps[name] = (sec.points("points", lo=0), sec.points("max_points", lo=0))
        sec.done()
    outcomes = eng.int_table("call_outcomes")
    eng.done()
    top.done()

    return ScoringRules(
        version=version.strip(),
        hot=hot,
        warm=warm,
        gate_threshold=gate,
        source_points=_frozen(source_points),
        source_default=source_default,
        completeness=_frozen(completeness),
        business_domain=business,
        freemail_domain=freemail,
        freemail_domains=freemail_domains,
        phone_consent=phone_consent,
        email_consent=email_consent,
        interest_points=interest_points,
        interest_keywords=keywords,
        open_points=caps["email_open"][0],
        open_max=caps["email_open"][1],
        click_points=caps["email_click"][0],
        click_max=caps["email_click"][1],
        call_outcomes=_frozen(outcomes),
        path=path,
    )


_cache: dict[str, tuple[tuple[int, int], ScoringRules]] = {}


def rules_from_text(text: str, path: str | None = None) -> ScoringRules:
    """Validate the YAML text of a ruleset (a file's, or one an admin stored) into ScoringRules."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = f"scoring rules file {path!r}" if path else "the scoring rules"
        raise ScoringConfigError("", f"{where} is not valid YAML: {e}") from None
    return parse_rules(data, path)


def rules_path(path: str | os.PathLike | None = None) -> Path:
    """The rules file: `path`, else $LEADCHAIN_SCORING_RULES, else the shipped default."""
    if path is None:
        path = os.environ.get(RULES_ENV) or None
    if path is None:
        return Path(str(resources.files("crm").joinpath("scoring_rules.yaml")))
    return Path(path)


def load_rules(path: str | os.PathLike | None = None) -> ScoringRules:
    """Load and validate a rules file: `path`, else $LEADCHAIN_SCORING_RULES, else the shipped default.

    Re-reads the file when it changed on disk, so an edited ruleset takes effect without a restart.
    """
    target = rules_path(path)
    try:
        stat = target.stat()
    except OSError as e:
        raise ScoringConfigError("", f"scoring rules file {str(target)!r} cannot be read: {e.strerror}") from None
    key, stamp = str(target.resolve()), (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(key)
    if cached and cached[0] == stamp:
        return cached[1]
    rules = rules_from_text(target.read_text(encoding="utf-8"), str(target))
    _cache[key] = (stamp, rules)
    return rules


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
    factors: list[Factor] = []
    points, detail = _source_points(facts.source, rules)
    factors.append(Factor("source", points, detail))
    for name, present in (
        ("phone", facts.has_phone),
        ("email", facts.has_email),
        ("company", facts.has_company),
        ("full_name", facts.has_full_name),
    ):
        if present:
            factors.append(Factor(f"has_{name}", rules.completeness[name], f"has {name.replace('_', ' ')}"))
    domain = (facts.email_domain or "").strip().lower() or None
    freemail = domain is not None and domain in rules.freemail_domains
    if domain:
        if freemail:
            factors.append(Factor("freemail_domain", rules.freemail_domain, domain))
        else:
            factors.append(Factor("business_domain", rules.business_domain, domain))
    if facts.phone_consent:
        factors.append(Factor("phone_consent", rules.phone_consent, "express phone consent"))
    if facts.email_consent:
        factors.append(Factor("email_consent", rules.email_consent, "email consent"))
    interested = False
    if facts.interest_text and facts.interest_text.strip():
        interested = True
        factors.append(Factor("stated_interest", rules.interest_points, "interest field filled in"))
    elif (word := _keyword(facts.note_text, rules)) is not None:
        interested = True
        factors.append(Factor("stated_interest", rules.interest_points, f"intake note mentions {word!r}"))

    eng = facts.engagement
    if eng.opens > 0:
        factors.append(Factor("email_opens", min(eng.opens * rules.open_points, rules.open_max), f"{eng.opens} opens"))
    if eng.clicks > 0:
        factors.append(
            Factor("email_clicks", min(eng.clicks * rules.click_points, rules.click_max), f"{eng.clicks} clicks")
        )
    counts: dict[str, int] = {}
    for outcome in eng.call_outcomes:
        key = (outcome or "").strip().lower()
        if key:
            counts[key] = counts.get(key, 0) + 1
    for outcome, n in counts.items():
        factors.append(
            Factor(f"call:{outcome}", rules.call_outcomes.get(outcome, 0) * n, f"{n} call(s) with outcome {outcome}")
        )

    raw = sum(f.points for f in factors)
    value = max(0, min(100, raw))
    priority = priority_for(value, rules)

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

    if CallOutcome.DO_NOT_CALL in counts:
        action = "stop"
    elif value > rules.gate_threshold and facts.phone_consent and facts.has_phone:
        action = "call"
    elif not facts.has_phone and not facts.email_consent:
        action = "review"  # nothing the chain may do on its own: a rep looks at it
    else:
        action = "nurture"
    return Score(
        value=value,
        priority=priority,
        factors=tuple(factors),
        model_version=rules.version,
        tags=tuple(tags),
        next_action=action,
        raw_total=raw,
    )


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
    score = compute(facts_for(lead_id), rules)

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
