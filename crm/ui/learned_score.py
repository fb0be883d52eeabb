"""The learned score in words, for the lead page's section (templates/ui/leads/_learned_score.html) and the
settings page (crm.ui.settings.learned_score): what the model said about a lead and why, or why the rule
score applies alone ("12 closed deals or lost leads; the learned score needs at least 50")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import format_datetime, format_decimal, format_percent

from crm.catalogs import N_
from crm.extensions import db
from crm.learning import status as learned_status
from crm.models import ScoreHistory
from crm.ui.display_labels import label
from crm.ui.i18n import _

# The learned features' families (crm.learning.features.family) the rule score's factors do not name.
FAMILIES = {
    "utm_source": N_("Campaign source (UTM)"),
    "utm_medium": N_("Campaign medium (UTM)"),
    "industry": N_("Industry"),
    "company_size": N_("Company size"),
    "calls": N_("Calls and their outcomes"),
    "sentiment": N_("Call sentiment"),
    "response_time": N_("Time to the first call"),
    "not_called": N_("Not called yet"),
    "weekday": N_("Weekday of sign-up"),
}
WEEKDAYS = {
    "mon": N_("Monday"),
    "tue": N_("Tuesday"),
    "wed": N_("Wednesday"),
    "thu": N_("Thursday"),
    "fri": N_("Friday"),
    "sat": N_("Saturday"),
    "sun": N_("Sunday"),
}
RUN_OUTCOMES = {
    "not_enough_data": N_("not enough data"),
    "promoted": N_("promoted"),
    "kept": N_("kept the score in force"),
    "trained": N_("trained"),
    "training": N_("training"),
}


@dataclass(frozen=True)
class Effect:
    factor: str
    value: str
    points: float  # contribution in log-odds
    raises: bool


def family_name(name: str) -> str:
    if name in FAMILIES:
        return _(FAMILIES[name])
    return label("factor", name)


def _value(family: str, raw: str) -> str:
    if raw in ("yes", "no") and family not in ("source", "utm_source", "utm_medium", "industry", "company_size"):
        return _(raw)
    if family == "weekday" and raw in WEEKDAYS:
        return _(WEEKDAYS[raw])
    if family == "response_time" and raw.isdigit():
        return _("%(minutes)s min", minutes=raw)
    if family == "sentiment" and raw != "-":
        return ", ".join(label("sentiment", s.strip()) for s in raw.split(","))
    if family == "calls" and raw != "-":
        return ", ".join(label("outcome", s.strip()) for s in raw.split(","))
    return "–" if raw in ("", "-", "none") else raw


def effects(learned: dict[str, Any]) -> list[Effect]:
    shown = learned.get("shown") or {}
    found = []
    for name, points in learned.get("contributions") or []:
        if abs(points) < 0.005:
            continue
        found.append(Effect(family_name(name), _value(name, str(shown.get(name, ""))), points, points > 0))
    return found


def reason_text(st: learned_status.LearnedStatus) -> str | None:
    """Why the rule score applies alone, in the page's language (None while a model is in force)."""
    found = st.counts
    reason = st.reason
    if reason is None:
        return None
    if reason == "weight_zero":
        return _("The learned score's weight is 0, so the rule score applies.")
    if reason == "too_few_closed" and found is not None:
        return _(
            "%(count)d closed deals or lost leads; the learned score needs at least %(minimum)d.",
            count=found.closed,
            minimum=st.min_closed,
        )
    if reason == "too_few_of_a_class" and found is not None:
        return _(
            "%(won)d won and %(lost)d lost; the learned score needs at least %(minimum)d of each.",
            won=found.won,
            lost=found.lost,
            minimum=st.min_each,
        )
    if reason == "holdout_one_class":
        return _("The newest closed leads are all won or all lost, so a model cannot be judged on them yet.")
    if reason == "not_better" and st.last_candidate is not None:
        m = st.last_candidate.metrics or {}
        return _(
            "The last model trained (%(version)s) did not beat the rule score on the newest outcomes "
            "(AUC %(auc)s against %(rival)s).",
            version=st.last_candidate.label,
            auc=format_decimal(m.get("auc") or 0, "0.000"),
            rival=format_decimal(max(m.get("rule_auc") or 0, m.get("in_force_auc") or 0), "0.000"),
        )
    count = found.closed if found is not None else 0
    return _(
        "No model has been trained yet (%(count)d closed deals or lost leads so far); "
        "the retraining runs every Sunday.",
        count=count,
    )


def lead_section(lead_id: int) -> dict[str, Any]:
    """What the lead page's learned-score section shows for one lead."""
    latest = db.session.scalars(
        sa.select(ScoreHistory)
        .where(ScoreHistory.lead_id == lead_id)
        .order_by(ScoreHistory.created_at.desc(), ScoreHistory.id.desc())
        .limit(1)
    ).first()
    learned = (latest.breakdown or {}).get("learned") if latest is not None else None
    if isinstance(learned, dict):
        return {
            "learned": learned,
            "score": latest.score if latest is not None else None,
            "p_win": format_percent(float(learned.get("p_win") or 0), "0 %"),
            "weight": format_decimal(float(learned.get("weight") or 0), "0.##"),
            "effects": effects(learned),
            "message": None,
        }
    st = learned_status.current()
    if st.in_force is not None and st.reason is None:
        message = _(
            "The learned model %(version)s is in force; this score was made before it, and the next score uses it.",
            version=st.in_force.label,
        )
    else:
        message = _("The rule score applies.") + " " + (reason_text(st) or "")
    return {"learned": None, "effects": [], "message": message}


def run_outcome(code: str) -> str:
    return _(RUN_OUTCOMES[code]) if code in RUN_OUTCOMES else code


def when(value: Any) -> str:
    return format_datetime(value, "short") if value else ""
