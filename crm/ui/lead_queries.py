"""The lead list and the lead page, as queries and typed views (no Flask request objects here).

The list is always restricted by ``access.lead_visibility(user)``; filters arrive as a plain mapping
(``parse_filters(request.args)`` in the view). One SELECT fetches a page of rows with owner, campaign
and the next open task joined in, and one COUNT gives the total: no query per row, no Temporal call.

"Next step" sort: the lead's earliest due open task. The chain's own next timer lives only in the
workflow (its ``status`` query), and asking Temporal once per row would make the list as slow as the
slowest chain, so the list sorts by what the CRM stores; leads without an open task come last. The
lead page shows the chain's live next step beside it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from babel.numbers import format_currency
from sqlalchemy.orm import aliased

from crm.extensions import db
from crm.models import (
    Appointment,
    AuditEntry,
    Campaign,
    ConsentRecord,
    Interaction,
    InteractionKind,
    Lead,
    LeadStatus,
    PossibleDuplicate,
    Priority,
    Role,
    ScoreHistory,
    Task,
    TaskStatus,
    User,
)
from crm.services import normalize
from crm.ui.access import lead_visibility
from crm.ui.security import MAX_RECORD_ID

SORTS = ("score", "created", "next_step")
PER_PAGE = 25
MAX_PER_PAGE = 100
MAX_QUERY = 200
# The timeline shows this many of each kind (newest first); the chain writes an audit entry per stage.
TIMELINE_LIMIT = 200
_PHONEISH = re.compile(r"^[+(]?[\d\s()./-]{3,}$")
# A bigger number names no record, and binding it would overflow the database driver (crm.ui.security).
# Only ASCII digits: str.isdigit() also accepts "²" and "١".
MAX_ID = MAX_RECORD_ID
_ASCII_ID = re.compile(r"[0-9]{1,10}")
_ASCII_INT = re.compile(r"(-?)([0-9]+)")


def parse_id(raw: str | None) -> int | None:
    """A record id from a form or query value, or None when it is not one (never an exception)."""
    raw = (raw or "").strip()
    if not _ASCII_ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


# ---------------------------------------------------------------- the list


@dataclass(frozen=True)
class LeadFilters:
    q: str = ""
    status: LeadStatus | None = None
    priority: Priority | None = None
    stage: str | None = None
    owner: str | None = None  # "me", "none" (unassigned) or a user id as text
    source: str | None = None
    campaign_id: int | None = None
    has_open_task: bool | None = None
    sort: str = "created"
    page: int = 1
    per_page: int = PER_PAGE

    def as_args(self, **override: Any) -> dict[str, str]:
        """The non-default filters as query parameters (for links to other pages and sorts)."""
        values = {
            "q": self.q,
            "status": self.status.value if self.status else None,
            "priority": self.priority.value if self.priority else None,
            "stage": self.stage,
            "owner": self.owner,
            "source": self.source,
            "campaign": self.campaign_id,
            "open_task": None if self.has_open_task is None else ("yes" if self.has_open_task else "no"),
            "sort": None if self.sort == "created" else self.sort,
            "page": None if self.page == 1 else self.page,
        }
        values.update(override)
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


def _enum(cls, raw: str | None):
    try:
        return cls(raw) if raw else None
    except ValueError:
        return None


def _int(raw: str | None, default: int | None = None, lo: int = 1, hi: int | None = None) -> int | None:
    # ASCII digits only (int() would take "١٢"); a number beyond an id's size is clamped, never bound
    # to the database as is (it would overflow the driver).
    match = _ASCII_INT.fullmatch((raw or "").strip())
    if match is None:
        value = default
    elif len(match.group(2).lstrip("0")) > 10:
        value = -MAX_ID if match.group(1) else MAX_ID
    else:
        value = int(match.group(0))
    if value is None:
        return None
    value = max(lo, value)
    return min(value, hi or MAX_ID)


def parse_filters(args: Mapping[str, str]) -> LeadFilters:
    """Read filters from query parameters. A value that is not one of the choices is ignored (the list
    shows everything for that filter) rather than answered with an error: links get stale."""
    owner = (args.get("owner") or "").strip() or None
    if owner not in (None, "me", "none") and parse_id(owner) is None:
        owner = None
    open_task = {"yes": True, "no": False}.get((args.get("open_task") or "").strip())
    requested_sort = args.get("sort") or ""
    sort = requested_sort if requested_sort in SORTS else "created"
    return LeadFilters(
        q=(args.get("q") or "").strip()[:MAX_QUERY],
        status=_enum(LeadStatus, args.get("status")),
        priority=_enum(Priority, args.get("priority")),
        stage=(args.get("stage") or "").strip()[:32] or None,
        owner=owner,
        source=(args.get("source") or "").strip()[:64] or None,
        campaign_id=_int(args.get("campaign")),
        has_open_task=open_task,
        sort=sort,
        page=_int(args.get("page"), 1) or 1,
        per_page=_int(args.get("per_page"), PER_PAGE, hi=MAX_PER_PAGE) or PER_PAGE,
    )


@dataclass(frozen=True)
class LeadRow:
    id: int
    name: str
    company: str | None
    email: str | None
    phone: str | None
    status: str
    priority: str | None
    score: int | None
    stage: str | None
    owner_id: int | None
    owner_name: str | None
    source: str
    campaign: str | None
    created_at: datetime
    next_due_at: datetime | None
    open_tasks: int
    do_not_contact: bool


@dataclass(frozen=True)
class LeadPage:
    rows: list[LeadRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _phone_terms(q: str) -> list[sa.ColumnElement[bool]]:
    """A phone-looking search matches E.164 numbers: '0151 123', '+49 151 123' and '0049151123' all find
    +49151123…; a complete number is normalised the way intake stores it."""
    if not _PHONEISH.match(q):
        return []
    digits = re.sub(r"\D", "", q)
    if len(digits) < 3:
        return []
    if q.lstrip().startswith("+"):
        needle = "+" + digits
    elif digits.startswith("00"):
        needle = "+" + digits[2:]
    else:
        needle = digits.lstrip("0") or digits  # national format: drop the trunk prefix
    terms = [Lead.phone_e164.contains(needle, autoescape=True)]
    try:
        terms.append(Lead.phone_e164 == normalize.normalise_phone(q, "DE").e164)
    except normalize.FieldError:
        pass
    return terms


def _search(q: str) -> sa.ColumnElement[bool] | None:
    if not q:
        return None
    phone = _phone_terms(q)
    full_name = sa.func.coalesce(Lead.first_name, "") + " " + sa.func.coalesce(Lead.last_name, "")
    # Every word must match one of the fields: "anna acme" finds Anna Schmidt of ACME GmbH.
    words = [
        sa.or_(
            full_name.icontains(w, autoescape=True),
            Lead.company.icontains(w, autoescape=True),
            Lead.email.icontains(w, autoescape=True),
        )
        for w in q.split()
    ]
    text = sa.and_(*words)
    return sa.or_(text, *phone) if phone else text


def _open_tasks():
    return (
        sa.select(
            Task.lead_id.label("lead_id"),
            sa.func.min(Task.due_at).label("next_due_at"),
            sa.func.count(Task.id).label("open_tasks"),
        )
        .where(Task.status == TaskStatus.OPEN, Task.lead_id.is_not(None))
        .group_by(Task.lead_id)
        .subquery("open_tasks")
    )


def _where(who: User, f: LeadFilters, tasks) -> list[sa.ColumnElement[bool]]:
    where = [lead_visibility(who)]
    search = _search(f.q)
    if search is not None:
        where.append(search)
    if f.status:
        where.append(Lead.status == f.status)
    if f.priority:
        where.append(Lead.priority == f.priority)
    if f.stage:
        where.append(Lead.chain_stage == f.stage)
    if f.owner == "me":
        where.append(Lead.owner_id == who.id)
    elif f.owner == "none":
        where.append(Lead.owner_id.is_(None))
    elif f.owner:
        where.append(Lead.owner_id == int(f.owner))
    if f.source:
        where.append(Lead.source == f.source)
    if f.campaign_id:
        where.append(Lead.campaign_id == f.campaign_id)
    if f.has_open_task is True:
        where.append(tasks.c.open_tasks > 0)
    elif f.has_open_task is False:
        where.append(tasks.c.lead_id.is_(None))
    return where


def _order(f: LeadFilters, tasks) -> list:
    # Explicit NULL placement: SQLite and PostgreSQL disagree on the default. Ties break on id.
    if f.sort == "score":
        return [Lead.score.is_(None), Lead.score.desc(), Lead.id.desc()]
    if f.sort == "next_step":
        return [tasks.c.next_due_at.is_(None), tasks.c.next_due_at.asc(), Lead.id.asc()]
    return [Lead.created_at.desc(), Lead.id.desc()]


def list_leads(who: User, f: LeadFilters) -> LeadPage:
    tasks = _open_tasks()
    where = _where(who, f, tasks)
    base = sa.select(Lead).outerjoin(tasks, tasks.c.lead_id == Lead.id).where(*where)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(base.subquery())) or 0
    pages = max(1, -(-total // f.per_page))
    page = min(f.page, pages)
    owner = aliased(User)
    stmt = (
        sa.select(Lead, owner.name, Campaign.name, tasks.c.next_due_at, tasks.c.open_tasks)
        .outerjoin(tasks, tasks.c.lead_id == Lead.id)
        .outerjoin(owner, owner.id == Lead.owner_id)
        .outerjoin(Campaign, Campaign.id == Lead.campaign_id)
        .where(*where)
        .order_by(*_order(f, tasks))
        .limit(f.per_page)
        .offset((page - 1) * f.per_page)
    )
    rows = [
        LeadRow(
            id=lead.id,
            name=lead.display_name,
            company=lead.company,
            email=lead.email,
            phone=lead.phone_e164,
            status=lead.status.value,
            priority=lead.priority.value if lead.priority else None,
            score=lead.score,
            stage=lead.chain_stage,
            owner_id=lead.owner_id,
            owner_name=owner_name,
            source=lead.source,
            campaign=campaign,
            created_at=lead.created_at,
            next_due_at=due,
            open_tasks=count or 0,
            do_not_contact=lead.do_not_contact,
        )
        for lead, owner_name, campaign, due, count in db.session.execute(stmt)
    ]
    return LeadPage(rows=rows, total=total, page=page, per_page=f.per_page)


@dataclass(frozen=True)
class FilterChoices:
    owners: list[tuple[int, str]]
    sources: list[str]
    stages: list[str]
    campaigns: list[tuple[int, str]]


def filter_choices(who: User) -> FilterChoices:
    """The values the filter menus offer: only what occurs among the leads `who` may see."""
    visible = lead_visibility(who)
    sources = list(db.session.scalars(sa.select(Lead.source).where(visible).distinct().order_by(Lead.source)))
    stages = [
        stage  # the query skips NULL; the test narrows the column type for mypy
        for stage in db.session.scalars(
            sa.select(Lead.chain_stage)
            .where(visible, Lead.chain_stage.is_not(None))
            .distinct()
            .order_by(Lead.chain_stage)
        )
        if stage is not None
    ]
    campaigns = [(c.id, c.name) for c in db.session.scalars(sa.select(Campaign).order_by(Campaign.name))]
    return FilterChoices(owners=assignable_users(who), sources=sources, stages=stages, campaigns=campaigns)


def assignable_users(who: User) -> list[tuple[int, str]]:
    """Owners a lead may be given: every active user for managers and admins; a rep only sees themself."""
    if who.role == Role.SALES:
        return [(who.id, who.name)]
    return [
        (u.id, u.name) for u in db.session.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.name))
    ]


# ---------------------------------------------------------------- the lead page


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
    consents = [
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
    history = [
        _score_entry(h)
        for h in db.session.scalars(
            sa.select(ScoreHistory)
            .where(ScoreHistory.lead_id == lead.id)
            .order_by(ScoreHistory.created_at.desc(), ScoreHistory.id.desc())
        )
    ]
    score = ScoreView(
        score=lead.score,
        priority=lead.priority.value if lead.priority else None,
        current=history[0] if history else None,
        history=history,
    )

    interactions = list(
        db.session.scalars(
            sa.select(Interaction)
            .where(Interaction.lead_id == lead.id)
            .order_by(Interaction.created_at.desc(), Interaction.id.desc())
            .limit(TIMELINE_LIMIT)
        )
    )
    tasks = list(
        db.session.scalars(
            sa.select(Task)
            .where(Task.lead_id == lead.id)
            .order_by(Task.created_at.desc(), Task.id.desc())
            .limit(TIMELINE_LIMIT)
        )
    )
    task_items = [
        TaskItem(
            at=t.created_at,
            kind="task",
            id=t.id,
            title=t.title,
            task_kind=t.kind,
            status=t.status.value,
            due_at=t.due_at,
            owner_name=users.get(t.owner_id),
        )
        for t in tasks
    ]
    appointments = [
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
    # Audit entries of this lead, of the records merged into it, of its tasks and its consents.
    lead_ids = [lead.id, *db.session.scalars(sa.select(Lead.id).where(Lead.merged_into_id == lead.id))]
    which = [sa.and_(AuditEntry.entity_type == "lead", AuditEntry.entity_id.in_(lead_ids))]
    if tasks:
        which.append(sa.and_(AuditEntry.entity_type == "task", AuditEntry.entity_id.in_([t.id for t in tasks])))
    if consents:
        which.append(sa.and_(AuditEntry.entity_type == "consent", AuditEntry.entity_id.in_([c.id for c in consents])))
    entries = list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(sa.or_(*which))
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(TIMELINE_LIMIT)
        )
    )
    names = _actor_names({e.actor for e in entries} | {i.created_by for i in interactions})
    items: list[TimelineItem] = [_interaction(i, names) for i in interactions]
    items += task_items
    items += appointments
    items += [_audit(e, names) for e in entries]
    # Newest first; at equal times the kind and id keep the order stable.
    items.sort(key=lambda x: (x.at, x.kind, x.id), reverse=True)

    open_tasks = sorted(
        (t for t in task_items if t.status == TaskStatus.OPEN.value), key=lambda t: (t.due_at is None, t.due_at or t.at)
    )
    return LeadDetail(
        lead=lead,
        owner_name=users.get(lead.owner_id),
        campaign=campaign.name if campaign else None,
        consents=consents,
        score=score,
        timeline=items,
        duplicates=duplicates(who, lead),
        open_tasks=open_tasks,
        next_due_at=open_tasks[0].due_at if open_tasks else None,
    )


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
