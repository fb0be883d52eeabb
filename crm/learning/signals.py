"""What the learned score reads about a lead, in a fixed number of set-based queries.

Training reads every lead of the company at once (four queries whatever the count: leads, consents,
interactions, nothing per lead); scoring one lead runs the same queries filtered to its id. The fields are
those of the rule score's LeadFacts (crm.services.scoring; this module cannot import it, since scoring
imports the blend) plus what only the learned score uses: UTM, industry and company size where the
qualification recorded them, each call's sentiment, and the response time (lead created -> first call).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Channel, ConsentRecord, Interaction, InteractionKind, Lead, LegalBasis

EXPRESS_BASES = (LegalBasis.EXPRESS_CONSENT, LegalBasis.CALLBACK_REQUEST)  # as crm.services.scoring counts consent
# SQLite allows 999 bound parameters per statement in older builds: ids go in chunks below that.
ID_CHUNK = 900


@dataclass
class LeadSignals:
    lead_id: int
    created_at: datetime
    source: str
    has_phone: bool = False
    has_email: bool = False
    has_company: bool = False
    has_full_name: bool = False
    email_domain: str | None = None
    phone_consent: bool = False
    email_consent: bool = False
    interest_text: str | None = None
    note_text: str | None = None
    opens: int = 0
    clicks: int = 0
    call_outcomes: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()
    utm_source: str | None = None
    utm_medium: str | None = None
    industry: str | None = None
    company_size: str | None = None
    # Minutes from the lead's arrival to its first call; None before any call.
    first_call_minutes: float | None = None
    _calls: list[tuple[datetime, str | None, str | None]] = field(default_factory=list, repr=False)


def _count(data: dict | None, name: str, fallback: bool) -> int:
    # The rule score's reading of an email's opens and clicks (crm.services.scoring._count).
    value = (data or {}).get(name)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 1 if fallback or value is True else 0


def _text(value: object) -> str | None:
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    return str(value).strip().lower()[:64] or None


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


# Built once: scoring one lead runs these three statements, and building a select costs about as much as
# running it on SQLite. The ids are an expanding parameter, so every chunk shares one compiled form.
IDS: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
LEADS = sa.select(
    Lead.id,
    Lead.created_at,
    Lead.source,
    Lead.utm_source,
    Lead.utm_medium,
    Lead.company,
    Lead.first_name,
    Lead.last_name,
    Lead.email,
    Lead.email_status,
    Lead.phone_e164,
    Lead.phone_status,
    Lead.interest,
    Lead.qualification,
).where(Lead.merged_into_id.is_(None))
CONSENTS = sa.select(ConsentRecord.lead_id, ConsentRecord.channel).where(
    ConsentRecord.withdrawn_at.is_(None), ConsentRecord.legal_basis.in_(EXPRESS_BASES)
)
INTERACTIONS = sa.select(
    Interaction.lead_id,
    Interaction.kind,
    Interaction.status,
    Interaction.data,
    Interaction.outcome,
    Interaction.sentiment,
    Interaction.provider,
    Interaction.summary,
    sa.func.coalesce(Interaction.started_at, Interaction.created_at).label("at"),
).where(Interaction.kind.in_((InteractionKind.CALL, InteractionKind.EMAIL, InteractionKind.NOTE)))
BY_ID = {
    "leads": LEADS.where(Lead.id.in_(IDS)),
    "consents": CONSENTS.where(ConsentRecord.lead_id.in_(IDS)),
    "interactions": INTERACTIONS.where(Interaction.lead_id.in_(IDS)),
}
ALL = {"leads": LEADS, "consents": CONSENTS, "interactions": INTERACTIONS}


def _rows(name: str, lead_ids: Sequence[int] | None) -> Iterable[Any]:
    if lead_ids is None:
        yield from db.session.execute(ALL[name])
        return
    for chunk in _chunks(lead_ids):
        yield from db.session.execute(BY_ID[name], {"ids": list(chunk)})


def _from_lead(row: sa.Row) -> LeadSignals:
    email = row.email if row.email and row.email_status not in ("invalid", "bounced") else None
    qualification = row.qualification if isinstance(row.qualification, dict) else {}
    return LeadSignals(
        lead_id=row.id,
        created_at=row.created_at,
        source=(row.source or "").strip().lower(),
        has_phone=bool(row.phone_e164) and row.phone_status != "invalid",
        has_email=email is not None,
        has_company=bool(row.company),
        has_full_name=bool(row.first_name and row.last_name),
        email_domain=email.rpartition("@")[2].lower() if email else None,
        interest_text=row.interest,
        utm_source=_text(row.utm_source),
        utm_medium=_text(row.utm_medium),
        industry=_text(qualification.get("industry")),
        company_size=_text(qualification.get("company_size")),
    )


def read_signals(lead_ids: Sequence[int] | None = None) -> dict[int, LeadSignals]:
    """The signals of `lead_ids` (all live leads of the current company when None), by lead id."""
    found = {row.id: _from_lead(row) for row in _rows("leads", lead_ids)}
    if not found:
        return found
    for lead_id, channel in _rows("consents", lead_ids):
        if (s := found.get(lead_id)) is not None:
            s.phone_consent = s.phone_consent or channel == Channel.PHONE
            s.email_consent = s.email_consent or channel == Channel.EMAIL
    _add_interactions(found, _rows("interactions", lead_ids))
    for s in found.values():
        _finish(s)
    return found


def _add_interactions(found: dict[int, LeadSignals], rows: Iterable[Any]) -> None:
    notes: dict[int, list[str]] = {}
    for row in rows:
        s = found.get(row.lead_id)
        if s is None:
            continue
        if row.kind == InteractionKind.EMAIL:
            s.opens += _count(row.data, "opens", row.status in ("opened", "clicked"))
            s.clicks += _count(row.data, "clicks", row.status == "clicked")
        elif row.kind == InteractionKind.CALL:
            s._calls.append((row.at, row.outcome, row.sentiment))
        elif row.provider == "intake" and row.summary:
            notes.setdefault(row.lead_id, []).append(row.summary)
    for lead_id, texts in notes.items():
        found[lead_id].note_text = "\n".join(texts)


def _finish(s: LeadSignals) -> None:
    """Calls in time order: outcomes and sentiments as the rule score lists them, and the response time."""
    calls = sorted(s._calls, key=lambda c: c[0])
    s.call_outcomes = tuple(o for _, o, _ in calls if o)
    s.sentiments = tuple(m.strip().lower() for _, _, m in calls if m)
    if calls:
        s.first_call_minutes = max(0.0, (calls[0][0] - s.created_at).total_seconds() / 60.0)
    s._calls = []
