"""Realistic lead history with planted effects, deterministic for a seed (docs/scoring.md "Generated history").

`generate(n, seed)` makes n leads arriving over 18 months, each with source and UTM, industry and company
size (when the qualification knows them), consent, completeness, email engagement, 0-3 calls (the first
after a response time, each with a sentiment and an outcome) and, when decided, an outcome: a won deal,
a lost deal, or the lead given up. What decides winning (log-odds, PLANTED):

* source matters (partner and trade fair best, paid social and list imports worst);
* response time matters: every doubling of the minutes to the first call costs the same (faster wins);
* call sentiment matters (its mean over the lead's calls);
* a little from phone consent, company size and email clicks;
* the weekday of sign-up does NOT (it is drawn independently and nothing reads it).

Call outcomes follow the sentiment (a positive call books or is interested), so the rule score, which reads
outcomes and source, sees part of the truth. `examples()` gives the feature frame directly (no database);
crm.learning.history_writer writes the same leads into the CRM.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from crm.learning.labels import Outcome
from crm.learning.rule_baseline import rule_score
from crm.learning.signals import LeadSignals
from crm.learning.training import Example
from crm.services.scoring import ScoringRules

END = datetime(2026, 11, 30, tzinfo=UTC)
SPAN = timedelta(days=548)  # 18 months
# (source, share, planted log-odds, utm_source, utm_medium)
SOURCES = (
    ("partner", 0.12, 0.9, "partner-network", "referral"),
    ("messe", 0.06, 0.6, None, None),
    ("website", 0.30, 0.2, "google", "organic"),
    ("linkedin", 0.12, 0.0, "linkedin", "social"),
    ("google_ads", 0.18, -0.2, "google", "cpc"),
    ("facebook_ads", 0.14, -0.7, "facebook", "paid_social"),
    ("import", 0.08, -0.9, None, None),
)
INDUSTRIES = ("handwerk", "it", "handel", "gesundheit", "immobilien")
SIZES = (("1-9", -0.2), ("10-49", 0.0), ("50-249", 0.25), ("250+", 0.1))
BASE = -0.9
RESPONSE_PER_LOG = -0.45  # log-odds per unit of log1p(minutes) around the median response
RESPONSE_MEDIAN_MIN = 90.0
SENTIMENT_EFFECT = 1.1
PLANTED = {
    "source": {s[0]: s[2] for s in SOURCES},
    "response_time": RESPONSE_PER_LOG,
    "sentiment": SENTIMENT_EFFECT,
    "weekday": 0.0,
}
# A call's outcome follows its sentiment (and through it, the planted effect): (outcomes, weights).
OUTCOMES_BY_SENTIMENT: dict[str, tuple[tuple[str, ...], list[float]]] = {
    "positive": (("booked", "interested", "callback_requested"), [3, 4, 2]),
    "neutral": (("interested", "callback_requested", "not_interested"), [2, 3, 3]),
    "negative": (("not_interested", "do_not_call", "callback_requested"), [7, 1, 1]),
}
FIRST_NAMES = ("Anna", "Ben", "Clara", "David", "Elif", "Finn", "Greta", "Hannes", "Ida", "Jonas")
LAST_NAMES = ("Adler", "Becker", "Cakir", "Dietrich", "Engel", "Fischer", "Graf", "Hoffmann", "Iversen", "Jung")
FREEMAIL = ("gmail.com", "gmx.de", "web.de", "t-online.de")


@dataclass
class Call:
    at: datetime
    sentiment: str
    outcome: str


@dataclass
class HistoryLead:
    """One generated lead with everything the writer stores; `index` numbers it within the run."""

    index: int
    created_at: datetime
    source: str
    utm_source: str | None
    utm_medium: str | None
    industry: str | None
    company_size: str | None
    first_name: str | None
    last_name: str
    company: str | None
    email_domain: str | None
    has_phone: bool
    phone_consent: bool
    email_consent: bool
    interest: str | None
    opens: int
    clicks: int
    calls: list[Call] = field(default_factory=list)
    # None: still open; else (won, decided at, how: "deal" | "lead")
    outcome: tuple[bool, datetime, str] | None = None
    do_not_contact: bool = False

    def signals(self, lead_id: int | None = None) -> LeadSignals:
        first = self.calls[0].at if self.calls else None
        return LeadSignals(
            lead_id=self.index if lead_id is None else lead_id,
            created_at=self.created_at,
            source=self.source,
            has_phone=self.has_phone,
            has_email=self.email_domain is not None,
            has_company=self.company is not None,
            has_full_name=self.first_name is not None,
            email_domain=self.email_domain,
            phone_consent=self.phone_consent,
            email_consent=self.email_consent,
            interest_text=self.interest,
            opens=self.opens,
            clicks=self.clicks,
            call_outcomes=tuple(c.outcome for c in self.calls),
            sentiments=tuple(c.sentiment for c in self.calls),
            utm_source=self.utm_source,
            utm_medium=self.utm_medium,
            industry=self.industry,
            company_size=self.company_size,
            first_call_minutes=(first - self.created_at).total_seconds() / 60.0 if first else None,
        )


def _pick(rng: random.Random, options: tuple, shares: list[float]) -> tuple:
    return rng.choices(options, weights=shares)[0]


def _calls(rng: random.Random, created: datetime, warmth: float) -> list[Call]:
    """0-3 calls; the first after a log-normal response time; sentiment from the lead's warmth."""
    if rng.random() < 0.1:
        return []
    at = created + timedelta(minutes=RESPONSE_MEDIAN_MIN * math.exp(rng.gauss(0, 1.3)))
    calls = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        mood = warmth + rng.gauss(0, 1)
        sentiment = "positive" if mood > 0.6 else "negative" if mood < -0.6 else "neutral"
        options, shares = OUTCOMES_BY_SENTIMENT[sentiment]
        calls.append(Call(at, sentiment, rng.choices(options, weights=shares)[0]))
        at += timedelta(days=rng.uniform(1, 6))
    return calls


def _lead(rng: random.Random, index: int) -> tuple[HistoryLead, float]:
    """A lead and its planted log-odds of winning."""
    created = END - SPAN + timedelta(seconds=rng.uniform(0, SPAN.total_seconds()))
    source, _share, source_effect, utm_source, utm_medium = _pick(rng, SOURCES, [s[1] for s in SOURCES])
    size, size_effect = _pick(rng, SIZES, [3, 4, 2, 1]) if rng.random() < 0.6 else (None, 0.0)
    known_name = rng.random() < 0.85
    lead = HistoryLead(
        index=index,
        created_at=created,
        source=source,
        utm_source=utm_source,
        utm_medium=utm_medium,
        industry=rng.choice(INDUSTRIES) if rng.random() < 0.6 else None,
        company_size=size,
        first_name=rng.choice(FIRST_NAMES) if known_name else None,
        last_name=rng.choice(LAST_NAMES),
        company=f"Firma {index}" if rng.random() < 0.55 else None,
        email_domain=(rng.choice(FREEMAIL) if rng.random() < 0.5 else f"firma{index}.example")
        if rng.random() < 0.9
        else None,
        has_phone=rng.random() < 0.92,
        phone_consent=rng.random() < 0.7,
        email_consent=rng.random() < 0.6,
        interest="Beratung" if rng.random() < 0.3 else None,
        opens=min(6, int(rng.expovariate(0.8))),
        clicks=0,
    )
    lead.clicks = sum(rng.random() < 0.3 for _ in range(lead.opens))
    lead.calls = _calls(rng, created, warmth=rng.gauss(0, 1)) if lead.has_phone else []
    logit = BASE + source_effect + size_effect + 0.25 * lead.phone_consent + 0.12 * lead.clicks
    if lead.calls:
        minutes = (lead.calls[0].at - created).total_seconds() / 60.0
        logit += RESPONSE_PER_LOG * (math.log1p(minutes) - math.log1p(RESPONSE_MEDIAN_MIN))
        moods = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}
        logit += SENTIMENT_EFFECT * sum(moods[c.sentiment] for c in lead.calls) / len(lead.calls)
    else:
        logit -= 0.8  # never reached by phone
    return lead, logit


def generate(n: int, seed: int = 23) -> list[HistoryLead]:
    """n leads in arrival order, each decided (or not yet) by its planted chance."""
    rng = random.Random(seed)
    leads = []
    for index in range(1, n + 1):
        lead, logit = _lead(rng, index)
        last = lead.calls[-1].at if lead.calls else lead.created_at
        decided = last + timedelta(days=rng.lognormvariate(math.log(15), 0.6))
        if decided < END and rng.random() < 0.93:
            won = rng.random() < 1.0 / (1.0 + math.exp(-logit))
            how = "deal" if won or rng.random() < 0.45 else "lead"
            lead.outcome = (won, decided, how)
            lead.do_not_contact = not won and how == "lead" and any(c.outcome == "do_not_call" for c in lead.calls)
        leads.append(lead)
    leads.sort(key=lambda lead: lead.created_at)
    return leads


def outcome(lead: HistoryLead, lead_id: int | None = None) -> Outcome | None:
    if lead.outcome is None:
        return None
    won, at, _how = lead.outcome
    return Outcome(lead.index if lead_id is None else lead_id, won, at)


def examples(leads: list[HistoryLead], rules: ScoringRules) -> list[Example]:
    """The decided leads as training examples, straight from memory (no database)."""
    found = []
    for lead in leads:
        decided = outcome(lead)
        if decided is not None:
            signals = lead.signals()
            found.append(Example(signals, decided, rule_score(signals, rules)))
    return found
