"""A lead's signals as named numbers: the learned score's features (docs/scoring.md "Features").

Pure python, no numpy: scoring one lead builds one short list. The spec (a JSON dict stored with the model)
holds what training learned about the data besides the coefficients: the categories seen often enough to
get a feature of their own (rarer ones share "<fact>=other"), the freemail domains of the ruleset in force,
and the response time a lead without a call is given (the training median, so "no call yet" is told by its
own feature, not by an extreme value).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from crm.learning.signals import LeadSignals
from workflows.vocabulary import CallOutcome

CATEGORICAL = ("source", "utm_source", "utm_medium", "industry", "company_size")
# Rarer categories than this (in the training rows) share "<fact>=other": a coefficient needs examples.
MIN_CATEGORY_ROWS = 20
MAX_CATEGORIES = 20
FLAGS = (
    "has_phone",
    "has_email",
    "has_company",
    "has_full_name",
    "business_domain",
    "freemail_domain",
    "phone_consent",
    "email_consent",
    "stated_interest",
)
OUTCOMES = tuple(o.value for o in CallOutcome)
SENTIMENT = {"positive": 1.0, "negative": -1.0, "neutral": 0.0, "mixed": 0.0}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Sign-up weekday in the company's usual zone: a fact the model is given and must find worthless where it is.
ZONE = ZoneInfo("Europe/Berlin")


def category(s: LeadSignals, fact: str) -> str:
    value = getattr(s, fact)
    return str(value) if value else "none"


def build_spec(rows: Iterable[LeadSignals], freemail: Iterable[str]) -> dict[str, Any]:
    """The spec learned from the training rows."""
    rows = list(rows)
    vocab = {}
    for fact in CATEGORICAL:
        seen = Counter(category(s, fact) for s in rows)
        common = sorted((v for v, n in seen.items() if n >= MIN_CATEGORY_ROWS), key=lambda v: (-seen[v], v))
        vocab[fact] = sorted(common[:MAX_CATEGORIES])
    minutes = sorted(math.log1p(s.first_call_minutes) for s in rows if s.first_call_minutes is not None)
    return {
        "format": 1,
        "vocab": vocab,
        "freemail": sorted({d.strip().lower() for d in freemail}),
        "response_fill": minutes[len(minutes) // 2] if minutes else 0.0,
    }


def feature_names(spec: dict[str, Any]) -> list[str]:
    names = [f"{fact}={v}" for fact in CATEGORICAL for v in [*spec["vocab"][fact], "other"]]
    names += list(FLAGS)
    names += ["email_opens", "email_clicks", "calls", *(f"call:{o}" for o in OUTCOMES)]
    names += ["sentiment", "response_time", "not_called"]
    names += [f"weekday={d}" for d in WEEKDAYS]
    return names


def values(spec: dict[str, Any], s: LeadSignals) -> dict[str, float]:
    """The lead's non-zero feature values by name (raw, before scaling)."""
    out: dict[str, float] = {}
    for fact in CATEGORICAL:
        value = category(s, fact)
        out[f"{fact}={value if value in spec['vocab'][fact] else 'other'}"] = 1.0
    domain = s.email_domain
    freemail = domain is not None and domain in spec["freemail"]
    flags = (
        s.has_phone,
        s.has_email,
        s.has_company,
        s.has_full_name,
        domain is not None and not freemail,
        freemail,
        s.phone_consent,
        s.email_consent,
        bool(s.interest_text and s.interest_text.strip()),
    )
    out.update({name: 1.0 for name, on in zip(FLAGS, flags, strict=True) if on})
    out["email_opens"] = math.log1p(s.opens)
    out["email_clicks"] = math.log1p(s.clicks)
    out["calls"] = math.log1p(len(s.call_outcomes))
    for outcome, n in Counter(o.strip().lower() for o in s.call_outcomes).items():
        if outcome in OUTCOMES:
            out[f"call:{outcome}"] = float(n)
    moods = [SENTIMENT[m] for m in s.sentiments if m in SENTIMENT]
    out["sentiment"] = sum(moods) / len(moods) if moods else 0.0
    if s.first_call_minutes is None:
        out["response_time"], out["not_called"] = float(spec["response_fill"]), 1.0
    else:
        out["response_time"] = math.log1p(s.first_call_minutes)
    out[f"weekday={WEEKDAYS[s.created_at.astimezone(ZONE).weekday()]}"] = 1.0
    return out


def vector(names: Sequence[str], spec: dict[str, Any], s: LeadSignals) -> list[float]:
    found = values(spec, s)
    return [found.get(name, 0.0) for name in names]


def family(name: str) -> str:
    """What a feature is about, for the explanation: "source=partner" -> "source", "call:booked" -> "calls"."""
    if "=" in name:
        return name.split("=", 1)[0]
    return "calls" if name.startswith("call:") or name == "calls" else name
