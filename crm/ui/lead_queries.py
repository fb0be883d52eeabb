"""The lead list, as queries and typed views (no Flask request objects here).

The list is always restricted by ``access.lead_visibility(user)``; filters arrive as a plain mapping
(``parse_filters(request.args)`` in the view). One SELECT fetches a page of rows with owner, campaign
and the next open task joined in, and one COUNT gives the total: no query per row, no Temporal call.

"Next step" sort: the lead's earliest due open task. The chain's own next timer lives only in the
workflow (its ``status`` query), and asking Temporal once per row would make the list as slow as the
slowest chain, so the list sorts by what the CRM stores; leads without an open task come last. The
lead page (crm.ui.lead_detail) shows the chain's live next step beside it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from crm.extensions import db
from crm.models import (
    Campaign,
    Lead,
    LeadStatus,
    Priority,
    Role,
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
