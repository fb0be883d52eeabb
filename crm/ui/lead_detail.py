"""The lead page, as queries and typed views (no Flask request objects here): the lead, its consents, its
score history, one timeline of calls, emails, notes, tasks, appointments and audit entries, and its open
duplicate flags. Everything in a fixed number of queries (TIMELINE_LIMIT bounds each kind)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from babel.numbers import format_currency

from crm.extensions import db
from crm.models import (
    Appointment,
    AuditEntry,
    Campaign,
    ConsentRecord,
    Deal,
    Interaction,
    InteractionKind,
    Lead,
    PossibleDuplicate,
    ScoreHistory,
    Task,
    TaskStatus,
    User,
)
from crm.ui.access import lead_visibility

# The timeline shows this many of each kind (newest first); the chain writes an audit entry per stage.
TIMELINE_LIMIT = 200


@dataclass(frozen=True)
class ConsentView:
    id: int
    channel: str
    legal_basis: str
    source: str
    proof_text: str
    proof_key: str
    given_at: datetime
    withdrawn_at: datetime | None
    withdrawn_reason: str | None

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None


@dataclass(frozen=True)
class Factor:
    name: str
    points: int
    detail: str | None


@dataclass(frozen=True)
class ScoreEntry:
    at: datetime
    score: int
    priority: str
    model_version: str
    reason: str
    factors: list[Factor]
    raw_total: int | None


@dataclass(frozen=True)
class ScoreView:
    score: int | None
    priority: str | None
    current: ScoreEntry | None  # the latest history entry, with its factor breakdown
    history: list[ScoreEntry]  # newest first


@dataclass(frozen=True)
class Turn:
    speaker: str  # "agent" or "caller"
    text: str
    at_s: float | None


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # call, email, note, meeting, sms, task, appointment, audit
    id: int


@dataclass(frozen=True)
class CallItem(TimelineItem):
    direction: str
    provider: str | None
    status: str
    outcome: str | None
    sentiment: str | None
    summary: str | None
    duration_s: int | None
    cost_cents: int | None
    currency: str | None
    recording_url: str | None
    turns: list[Turn]


@dataclass(frozen=True)
class EmailItem(TimelineItem):
    direction: str
    subject: str | None
    state: str  # sent, processed, delivered, opened, clicked, bounced, blocked, dropped, received
    opens: int
    clicks: int
    flags: list[str]
    summary: str | None
    step: int | None = None  # the chain's nurture step (its subject is the template key)


@dataclass(frozen=True)
class NoteItem(TimelineItem):
    subject: str | None
    text: str | None
    author: str


@dataclass(frozen=True)
class TaskItem(TimelineItem):
    title: str
    task_kind: str
    status: str
    due_at: datetime | None
    owner_name: str | None


@dataclass(frozen=True)
class AppointmentItem(TimelineItem):
    title: str
    starts_at: datetime
    ends_at: datetime
    status: str
    location: str | None
    owner_name: str | None


@dataclass(frozen=True)
class AuditItem(TimelineItem):
    action: str
    actor: str
    changes: dict[str, tuple[Any, Any]]
    detail: str | None
    # What the row recorded besides the changes (a refusal's reason, a consent's channel, ...): the page
    # shows it as labelled text through crm.ui.display.audit_lines, never as a dict.
    after: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DuplicateView:
    id: int  # the PossibleDuplicate id
    other_id: int
    other_name: str
    other_email: str | None
    other_phone: str | None
    similarity: float
    reason: str


@dataclass(frozen=True)
class LeadDetail:
    lead: Lead
    owner_name: str | None
    campaign: str | None
    consents: list[ConsentView]
    score: ScoreView
    timeline: list[TimelineItem]  # newest first
    duplicates: list[DuplicateView]
    open_tasks: list[TaskItem]
    next_due_at: datetime | None


def _turns(transcript: Any) -> list[Turn]:
    turns = []
    for raw in transcript if isinstance(transcript, list) else []:
        if not isinstance(raw, dict) or not str(raw.get("text") or "").strip():
            continue
        who = str(raw.get("speaker") or raw.get("role") or "")
        at = raw.get("at_s")
        turns.append(
            Turn(
                speaker="agent" if who in ("agent", "assistant", "bot") else "caller",
                text=str(raw["text"]),
                at_s=float(at) if isinstance(at, (int, float)) else None,
            )
        )
    return turns


def _safe_url(url: str | None) -> str | None:
    # Rendered into <audio src>: only web URLs, never javascript: or data:.
    return url if url and re.match(r"^https?://", url, re.I) else None


def _interaction(i: Interaction, names: dict[str, str]) -> TimelineItem:
    at = i.started_at or i.created_at
    data = i.data or {}
    if i.kind == InteractionKind.CALL:
        return CallItem(
            at=at,
            kind="call",
            id=i.id,
            direction=i.direction.value,
            provider=i.provider,
            status=i.status,
            outcome=i.outcome,
            sentiment=i.sentiment,
            summary=i.summary,
            duration_s=i.duration_s,
            cost_cents=i.cost_cents,
            currency=i.currency,
            recording_url=_safe_url(i.recording_url),
            turns=_turns(i.transcript),
        )
    if i.kind == InteractionKind.EMAIL:
        state = "received" if i.direction.value == "inbound" else (i.status if i.status != "created" else "sent")
        return EmailItem(
            at=at,
            kind="email",
            id=i.id,
            direction=i.direction.value,
            subject=i.subject,
            state=state,
            opens=int(data.get("opens") or 0),
            clicks=int(data.get("clicks") or 0),
            flags=list(data.get("flags") or []),
            summary=i.summary,
            step=data.get("step") if isinstance(data.get("step"), int) else None,
        )
    return NoteItem(
        at=at,
        kind=i.kind.value,
        id=i.id,
        subject=i.subject,
        text=i.summary,
        author=names.get(i.created_by, i.created_by),
    )


def _score_entry(h: ScoreHistory) -> ScoreEntry:
    breakdown = h.breakdown or {}
    details = breakdown.get("details") or {}
    factors = [
        Factor(name=k, points=int(v), detail=details.get(k))
        for k, v in breakdown.items()
        if k not in ("details", "raw_total") and isinstance(v, (int, float))
    ]
    factors.sort(key=lambda x: (-abs(x.points), x.name))
    return ScoreEntry(
        at=h.created_at,
        score=h.score,
        priority=h.priority,
        model_version=h.model_version,
        reason=h.reason,
        factors=factors,
        raw_total=breakdown.get("raw_total"),
    )


def _audit(entry: AuditEntry, names: dict[str, str]) -> AuditItem:
    before, after = entry.before or {}, entry.after or {}
    changes = {
        k: (before.get(k), after.get(k))
        for k in sorted(set(before) | set(after))
        if k in before and before.get(k) != after.get(k)
    }
    detail = after.get("detail") if isinstance(after.get("detail"), str) else None
    return AuditItem(
        at=entry.at,
        kind="audit",
        id=entry.id,
        action=entry.action,
        actor=names.get(entry.actor, entry.actor),
        changes=changes,
        detail=detail,
        after=after,
    )


def _actor_names(actors: set[str]) -> dict[str, str]:
    # "ui:<id>" (the UI) and "user:<id>" (the settings area) name a user: the page shows the name.
    found = [re.fullmatch(r"(?:ui|user):([0-9]{1,10})", a or "") for a in actors]
    codes = {m.group(0): int(m.group(1)) for m in found if m}
    if not codes:
        return {}
    names = {u.id: u.name for u in db.session.scalars(sa.select(User).where(User.id.in_(set(codes.values()))))}
    return {code: names[uid] for code, uid in codes.items() if uid in names}


def lead_detail(who: User, lead: Lead) -> LeadDetail:
    """Everything the lead page shows, in a fixed number of queries. The caller checked `can_see`."""
    # Keyed by the optional owner id, so an unowned item looks up None and finds no name.
    users: dict[int | None, str] = {u.id: u.name for u in db.session.scalars(sa.select(User))}
    campaign = db.session.get(Campaign, lead.campaign_id) if lead.campaign_id else None
    consents = _consents(lead)
    tasks = list(
        db.session.scalars(
            sa.select(Task)
            .where(Task.lead_id == lead.id)
            .order_by(Task.created_at.desc(), Task.id.desc())
            .limit(TIMELINE_LIMIT)
        )
    )
    task_items = [_task_item(t, users) for t in tasks]
    open_tasks = sorted(
        (t for t in task_items if t.status == TaskStatus.OPEN.value), key=lambda t: (t.due_at is None, t.due_at or t.at)
    )
    return LeadDetail(
        lead=lead,
        owner_name=users.get(lead.owner_id),
        campaign=campaign.name if campaign else None,
        consents=consents,
        score=_score(lead),
        timeline=_timeline(lead, tasks, task_items, consents, users),
        duplicates=duplicates(who, lead),
        open_tasks=open_tasks,
        next_due_at=open_tasks[0].due_at if open_tasks else None,
    )


def _consents(lead: Lead) -> list[ConsentView]:
    return [
        ConsentView(
            id=c.id,
            channel=c.channel.value,
            legal_basis=c.legal_basis.value,
            source=c.source,
            proof_text=c.proof_text,
            proof_key=c.proof_key,
            given_at=c.given_at,
            withdrawn_at=c.withdrawn_at,
            withdrawn_reason=c.withdrawn_reason,
        )
        for c in db.session.scalars(
            sa.select(ConsentRecord)
            .where(ConsentRecord.lead_id == lead.id)
            .order_by(ConsentRecord.given_at.desc(), ConsentRecord.id.desc())
        )
    ]


def _score(lead: Lead) -> ScoreView:
    history = [
        _score_entry(h)
        for h in db.session.scalars(
            sa.select(ScoreHistory)
            .where(ScoreHistory.lead_id == lead.id)
            .order_by(ScoreHistory.created_at.desc(), ScoreHistory.id.desc())
        )
    ]
    return ScoreView(
        score=lead.score,
        priority=lead.priority.value if lead.priority else None,
        current=history[0] if history else None,
        history=history,
    )


def _task_item(t: Task, users: dict[int | None, str]) -> TaskItem:
    return TaskItem(
        at=t.created_at,
        kind="task",
        id=t.id,
        title=t.title,
        task_kind=t.kind,
        status=t.status.value,
        due_at=t.due_at,
        owner_name=users.get(t.owner_id),
    )


def _appointments(lead: Lead, users: dict[int | None, str]) -> list[AppointmentItem]:
    return [
        AppointmentItem(
            at=a.created_at,
            kind="appointment",
            id=a.id,
            title=a.title,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            status=a.status.value,
            location=a.location,
            owner_name=users.get(a.owner_id),
        )
        for a in db.session.scalars(
            sa.select(Appointment)
            .where(Appointment.lead_id == lead.id)
            .order_by(Appointment.created_at.desc())
            .limit(TIMELINE_LIMIT)
        )
    ]


def _audit_entries(lead: Lead, tasks: list[Task], consents: list[ConsentView]) -> list[AuditEntry]:
    """Audit entries of this lead, of the records merged into it, of its tasks, consents and deals."""
    lead_ids = [lead.id, *db.session.scalars(sa.select(Lead.id).where(Lead.merged_into_id == lead.id))]
    which = [sa.and_(AuditEntry.entity_type == "lead", AuditEntry.entity_id.in_(lead_ids))]
    if tasks:
        which.append(sa.and_(AuditEntry.entity_type == "task", AuditEntry.entity_id.in_([t.id for t in tasks])))
    if consents:
        which.append(sa.and_(AuditEntry.entity_type == "consent", AuditEntry.entity_id.in_([c.id for c in consents])))
    # The lead's deals (crm.services.deals audits each change on the deal), in the same query.
    deal_ids = sa.select(Deal.id).where(Deal.lead_id.in_(lead_ids)).scalar_subquery()
    which.append(sa.and_(AuditEntry.entity_type == "deal", AuditEntry.entity_id.in_(deal_ids)))
    return list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(sa.or_(*which))
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(TIMELINE_LIMIT)
        )
    )


def _timeline(
    lead: Lead,
    tasks: list[Task],
    task_items: list[TaskItem],
    consents: list[ConsentView],
    users: dict[int | None, str],
) -> list[TimelineItem]:
    """Calls, emails and notes, tasks, appointments and audit entries: newest first."""
    interactions = list(
        db.session.scalars(
            sa.select(Interaction)
            .where(Interaction.lead_id == lead.id)
            .order_by(Interaction.created_at.desc(), Interaction.id.desc())
            .limit(TIMELINE_LIMIT)
        )
    )
    appointments = _appointments(lead, users)
    entries = _audit_entries(lead, tasks, consents)
    names = _actor_names({e.actor for e in entries} | {i.created_by for i in interactions})
    items: list[TimelineItem] = [_interaction(i, names) for i in interactions]
    items += task_items
    items += appointments
    items += [_audit(e, names) for e in entries]
    # Newest first; at equal times the kind and id keep the order stable.
    items.sort(key=lambda x: (x.at, x.kind, x.id), reverse=True)
    return items


def duplicates(who: User, lead: Lead) -> list[DuplicateView]:
    """Open duplicate flags of `lead` whose other record `who` may see too."""
    other_id = sa.case(
        (PossibleDuplicate.lead_id == lead.id, PossibleDuplicate.candidate_id), else_=PossibleDuplicate.lead_id
    )
    rows = db.session.execute(
        sa.select(PossibleDuplicate, Lead)
        .join(Lead, Lead.id == other_id)
        .where(
            sa.or_(PossibleDuplicate.lead_id == lead.id, PossibleDuplicate.candidate_id == lead.id),
            PossibleDuplicate.status == "open",
            lead_visibility(who),
        )
        .order_by(PossibleDuplicate.similarity.desc(), PossibleDuplicate.id)
    )
    return [
        DuplicateView(
            id=d.id,
            other_id=o.id,
            other_name=o.display_name,
            other_email=o.email,
            other_phone=o.phone_e164,
            similarity=d.similarity,
            reason=d.reason,
        )
        for d, o in rows
    ]


def format_cost(cents: int | None, currency: str | None, locale: str = "de") -> str:
    """Integer cents and an ISO currency as the locale writes money: 42, EUR → '0,42 €' / '€0.42'."""
    if cents is None:
        return ""
    amount = Decimal(cents).scaleb(-2)
    loc = {"de": "de_DE", "en": "en_GB"}.get(locale, locale)
    return format_currency(amount, (currency or "EUR").upper(), locale=loc)
