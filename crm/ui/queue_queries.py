"""What the call queue and the task list show: pure queries, no Flask request state.

The call queue is built from what the CRM stores, not from one Temporal query per lead (a page that
lists many leads must not fan out to Temporal):

* **in progress**: outbound calls whose record is not ended yet (queued, ringing, in_progress), created
  within the last IN_PROGRESS_MAX_AGE (an older one lost its events; the chain's poll settles it);
* **scheduled retries**: leads whose chain stage (``Lead.chain_stage``, mirrored by the chain's
  ``record_timeline`` activity) is ``waiting_for_retry``; the retry is due ``retry_delay_s`` after the
  chain entered that stage (the audit entry ``chain.waiting_for_retry``). The delay is the chain's
  setting (LEADCHAIN_CHAIN_SETTINGS, else the production default), so it is exact unless the chain was
  started with other settings;
* **waiting for a calling window**: stage ``waiting_for_window``; when it opens is the
  ``next_window_start`` the call gate wrote into its latest ``call.refused`` audit entry (None if unknown);
* **failed**: calls of the last FAILED_DAYS whose end status (or outcome) is ``failed``.

Tasks: mine (open, owned by the user), due today (open, due later today in the user's zone), overdue
(open, due time passed), done (latest first). The three open buckets of a dated task are disjoint.

Visibility: managers and admins see every live lead; sales see their own leads and the unassigned ones
(crm.ui.access.lead_visibility). A sales rep sees a task they own, one on a lead they own, or an
unowned task on an unassigned lead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from crm.config import ChainEnvSettings
from crm.extensions import db
from crm.models import AuditEntry, Direction, Interaction, InteractionKind, Lead, Task, TaskStatus, User
from crm.models.types import UTCDateTime, utcnow
from crm.services import audit
from crm.ui.access import MANAGERS, lead_visibility
from workflows.vocabulary import CallStatus, ChainStage

# A call under way in the queue's sense: dialled and not ended ("created" rows are not yet dialled).
LIVE_CALL_STATUSES = (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS)
IN_PROGRESS_MAX_AGE = timedelta(hours=24)
FAILED_DAYS = 7
GROUP_LIMIT = 200
DONE_LIMIT = 100
DEFAULT_RETRY_DELAY_S = 4 * 3600  # ChainSettings.retry_delay_s
TASK_TABS = ("mine", "today", "overdue", "done")

CALL_TS = sa.func.coalesce(Interaction.started_at, Interaction.created_at, type_=UTCDateTime())
IS_CALL = sa.and_(Interaction.kind == InteractionKind.CALL, Interaction.direction == Direction.OUTBOUND)
END_STATUS = Interaction.data["end_status"].as_string()


@dataclass(frozen=True)
class QueueRow:
    lead_id: int
    lead_name: str
    company: str | None
    owner: str | None
    stage: str | None
    at: datetime | None  # call started / retry due / window opens / call failed
    provider: str | None = None
    status: str | None = None  # the call's status or its last outcome
    attempts: int = 0  # outbound calls to the lead so far
    interaction_id: int | None = None


@dataclass(frozen=True)
class CallQueue:
    in_progress: list[QueueRow]
    retries: list[QueueRow]
    waiting_for_window: list[QueueRow]
    failed: list[QueueRow]

    @property
    def total(self) -> int:
        return len(self.in_progress) + len(self.retries) + len(self.waiting_for_window) + len(self.failed)


def zone_of(who: User) -> ZoneInfo:
    try:
        return ZoneInfo(who.timezone or "Europe/Berlin")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Berlin")


def retry_delay_s(chain: ChainEnvSettings) -> int:
    """The chain's retry delay as the chain worker configures it (LEADCHAIN_CHAIN_SETTINGS, in
    Settings.chain.overrides), else the production default."""
    try:
        return int(chain.overrides.get("retry_delay_s", DEFAULT_RETRY_DELAY_S))
    except (ValueError, TypeError):
        return DEFAULT_RETRY_DELAY_S


def lead_display_name(first: str | None, last: str | None, company: str | None, lead_id: int) -> str:
    return " ".join(p for p in (first, last) if p) or company or f"#{lead_id}"


def _attempts():
    return (
        sa.select(Interaction.lead_id.label("lead_id"), sa.func.count().label("n"))
        .where(IS_CALL)
        .group_by(Interaction.lead_id)
        .subquery("attempts")
    )


def _last_call():
    """The latest outbound call per lead (highest id)."""
    return (
        sa.select(Interaction.lead_id.label("lead_id"), sa.func.max(Interaction.id).label("id"))
        .where(IS_CALL)
        .group_by(Interaction.lead_id)
        .subquery("last_call_id")
    )


def _latest_audit(action: str):
    return (
        sa.select(AuditEntry.entity_id.label("lead_id"), sa.func.max(AuditEntry.id).label("id"))
        .where(AuditEntry.entity_type == "lead", AuditEntry.action == action)
        .group_by(AuditEntry.entity_id)
        .subquery(action.replace(".", "_"))
    )


def in_progress(who: User, now: datetime | None = None) -> list[QueueRow]:
    now = now or utcnow()
    lo = now - IN_PROGRESS_MAX_AGE
    attempts = _attempts()
    stmt = (
        sa.select(
            Interaction.id,
            Interaction.lead_id,
            Interaction.provider,
            Interaction.status,
            CALL_TS.label("at"),
            Lead.first_name,
            Lead.last_name,
            Lead.company,
            Lead.chain_stage,
            User.name.label("owner"),
            attempts.c.n,
        )
        .join(Lead, Lead.id == Interaction.lead_id)
        .outerjoin(User, User.id == Lead.owner_id)
        .outerjoin(attempts, attempts.c.lead_id == Interaction.lead_id)
        .where(
            IS_CALL,
            Interaction.status.in_(LIVE_CALL_STATUSES),
            lead_visibility(who),
            sa.or_(
                Interaction.started_at >= lo, sa.and_(Interaction.started_at.is_(None), Interaction.created_at >= lo)
            ),
        )
        .order_by(CALL_TS, Interaction.id)
        .limit(GROUP_LIMIT)
    )
    return [
        QueueRow(
            r.lead_id,
            lead_display_name(r.first_name, r.last_name, r.company, r.lead_id),
            r.company,
            r.owner,
            r.chain_stage,
            r.at,
            r.provider,
            r.status,
            r.n or 0,
            r.id,
        )
        for r in db.session.execute(stmt)
    ]


def _waiting(who: User, stage: str, audit_action: str):
    attempts, last, entry = _attempts(), _last_call(), _latest_audit(audit_action)
    last_call = aliased(Interaction)
    stmt = (
        sa.select(
            Lead.id,
            Lead.first_name,
            Lead.last_name,
            Lead.company,
            Lead.chain_stage,
            User.name.label("owner"),
            attempts.c.n,
            last_call.provider,
            last_call.outcome,
            last_call.id.label("call_id"),
            last_call.data.label("call_data"),
            AuditEntry.at.label("entered_at"),
            AuditEntry.after.label("audit_after"),
        )
        .outerjoin(User, User.id == Lead.owner_id)
        .outerjoin(attempts, attempts.c.lead_id == Lead.id)
        .outerjoin(last, last.c.lead_id == Lead.id)
        .outerjoin(last_call, last_call.id == last.c.id)
        .outerjoin(entry, entry.c.lead_id == Lead.id)
        .outerjoin(AuditEntry, AuditEntry.id == entry.c.id)
        .where(Lead.chain_stage == stage, lead_visibility(who))
        .limit(GROUP_LIMIT)
    )
    return db.session.execute(stmt).all()


def _call_status(outcome: str | None, data: dict | None) -> str | None:
    return outcome or (data or {}).get("end_status")


def retries(who: User, delay_s: int = DEFAULT_RETRY_DELAY_S) -> list[QueueRow]:
    rows = []
    for r in _waiting(who, ChainStage.WAITING_FOR_RETRY, f"chain.{ChainStage.WAITING_FOR_RETRY}"):
        due = r.entered_at + timedelta(seconds=delay_s) if r.entered_at else None
        rows.append(
            QueueRow(
                r.id,
                lead_display_name(r.first_name, r.last_name, r.company, r.id),
                r.company,
                r.owner,
                r.chain_stage,
                due,
                r.provider,
                _call_status(r.outcome, r.call_data),
                r.n or 0,
                r.call_id,
            )
        )
    return _by_time(rows)


def _parse_moment(value) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def waiting_for_window(who: User) -> list[QueueRow]:
    rows = []
    for r in _waiting(who, ChainStage.WAITING_FOR_WINDOW, "call.refused"):
        opens = _parse_moment((r.audit_after or {}).get("next_window_start"))
        rows.append(
            QueueRow(
                r.id,
                lead_display_name(r.first_name, r.last_name, r.company, r.id),
                r.company,
                r.owner,
                r.chain_stage,
                opens,
                r.provider,
                _call_status(r.outcome, r.call_data),
                r.n or 0,
                r.call_id,
            )
        )
    return _by_time(rows)


def _by_time(rows: list[QueueRow]) -> list[QueueRow]:
    """Soonest first; unknown times last."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: (r.at or far, r.lead_id))


def failed(who: User, now: datetime | None = None, days: int = FAILED_DAYS) -> list[QueueRow]:
    now = now or utcnow()
    lo = now - timedelta(days=days)
    attempts = _attempts()
    stmt = (
        sa.select(
            Interaction.id,
            Interaction.lead_id,
            Interaction.provider,
            Interaction.summary,
            Interaction.outcome,
            END_STATUS.label("end_status"),
            sa.func.coalesce(
                Interaction.ended_at, Interaction.started_at, Interaction.created_at, type_=UTCDateTime()
            ).label("at"),
            Lead.first_name,
            Lead.last_name,
            Lead.company,
            Lead.chain_stage,
            User.name.label("owner"),
            attempts.c.n,
        )
        .join(Lead, Lead.id == Interaction.lead_id)
        .outerjoin(User, User.id == Lead.owner_id)
        .outerjoin(attempts, attempts.c.lead_id == Interaction.lead_id)
        .where(
            IS_CALL,
            sa.or_(
                END_STATUS == CallStatus.FAILED,
                Interaction.outcome == CallStatus.FAILED,
                Interaction.status == CallStatus.FAILED,
            ),
            sa.or_(
                Interaction.started_at >= lo, sa.and_(Interaction.started_at.is_(None), Interaction.created_at >= lo)
            ),
            lead_visibility(who),
        )
        .order_by(CALL_TS.desc(), Interaction.id.desc())
        .limit(GROUP_LIMIT)
    )
    return [
        QueueRow(
            r.lead_id,
            lead_display_name(r.first_name, r.last_name, r.company, r.lead_id),
            r.company,
            r.owner,
            r.chain_stage,
            r.at,
            r.provider,
            CallStatus.FAILED,
            r.n or 0,
            r.id,
        )
        for r in db.session.execute(stmt)
    ]


def call_queue(who: User, now: datetime | None = None, *, delay_s: int = DEFAULT_RETRY_DELAY_S) -> CallQueue:
    now = now or utcnow()
    return CallQueue(
        in_progress=in_progress(who, now),
        retries=retries(who, delay_s),
        waiting_for_window=waiting_for_window(who),
        failed=failed(who, now),
    )


# ------------------------------------------------------------------------------------------------ tasks


@dataclass(frozen=True)
class TaskRow:
    id: int
    title: str
    kind: str
    details: str | None
    due_at: datetime | None
    status: str
    completed_at: datetime | None
    owner_id: int | None
    owner: str | None
    lead_id: int | None
    lead_name: str | None
    overdue: bool


def task_visibility(who: User) -> sa.ColumnElement[bool]:
    """The WHERE clause of the tasks `who` may see and complete (Task outer-joined to Lead)."""
    lead_ok = sa.or_(Task.lead_id.is_(None), lead_visibility(who))
    if who.role in MANAGERS:
        return lead_ok
    mine = sa.or_(
        Task.owner_id == who.id,
        Lead.owner_id == who.id,
        sa.and_(Task.owner_id.is_(None), Task.lead_id.is_not(None), Lead.owner_id.is_(None)),
    )
    return sa.and_(lead_ok, mine)


def day_bounds(who: User, now: datetime) -> tuple[datetime, datetime]:
    """[today 00:00, tomorrow 00:00) in the user's zone, as UTC."""
    zone = zone_of(who)
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(0), zone).astimezone(UTC)
    end = datetime.combine(today + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


def _tab_filter(tab: str, who: User, now: datetime) -> sa.ColumnElement[bool]:
    open_ = Task.status == TaskStatus.OPEN
    if tab == "mine":
        return sa.and_(open_, Task.owner_id == who.id)
    if tab == "today":
        _, end = day_bounds(who, now)
        return sa.and_(open_, Task.due_at >= now, Task.due_at < end)
    if tab == "overdue":
        return sa.and_(open_, Task.due_at < now)
    if tab == "done":
        return Task.status == TaskStatus.DONE
    raise ValueError(f"unknown task tab {tab!r}")


def _task_select(*columns):
    return sa.select(*columns).select_from(Task).outerjoin(Lead, Lead.id == Task.lead_id)


def _task_rows(who: User, *where):
    owner = aliased(User)
    return (
        _task_select(
            Task.id,
            Task.title,
            Task.kind,
            Task.details,
            Task.due_at,
            Task.status,
            Task.completed_at,
            Task.owner_id,
            owner.name.label("owner"),
            Task.lead_id,
            Lead.first_name,
            Lead.last_name,
            Lead.company,
        )
        .outerjoin(owner, owner.id == Task.owner_id)
        .where(task_visibility(who), *where)
    )


def tasks(who: User, tab: str, now: datetime | None = None) -> list[TaskRow]:
    now = now or utcnow()
    stmt = _task_rows(who, _tab_filter(tab, who, now))
    if tab == "done":
        stmt = stmt.order_by(
            sa.case((Task.completed_at.is_(None), 1), else_=0), Task.completed_at.desc(), Task.id.desc()
        ).limit(DONE_LIMIT)
    else:
        # Undated tasks last (the portable spelling of NULLS LAST).
        stmt = stmt.order_by(sa.case((Task.due_at.is_(None), 1), else_=0), Task.due_at, Task.id).limit(GROUP_LIMIT)
    return _task_list(stmt, now)


def tasks_by_id(who: User, ids: list[int], now: datetime | None = None) -> list[TaskRow]:
    """The visible tasks among `ids` (e.g. the row to redraw after a change)."""
    return _task_list(_task_rows(who, Task.id.in_(ids)).order_by(Task.id), now or utcnow())


def _task_list(stmt, now: datetime) -> list[TaskRow]:
    out = []
    for r in db.session.execute(stmt):
        status = getattr(r.status, "value", r.status)
        out.append(
            TaskRow(
                r.id,
                r.title,
                r.kind,
                r.details,
                r.due_at,
                status,
                r.completed_at,
                r.owner_id,
                r.owner,
                r.lead_id,
                lead_display_name(r.first_name, r.last_name, r.company, r.lead_id) if r.lead_id else None,
                overdue=status == TaskStatus.OPEN.value and r.due_at is not None and r.due_at < now,
            )
        )
    return out


def task_counts(who: User, now: datetime | None = None) -> dict[str, int]:
    """The number of tasks behind each tab (done: all done tasks, not only the listed ones)."""
    now = now or utcnow()
    columns = [sa.func.count(sa.case((_tab_filter(tab, who, now), 1))).label(tab) for tab in TASK_TABS]
    row = db.session.execute(_task_select(*columns).where(task_visibility(who))).one()
    return {tab: int(getattr(row, tab) or 0) for tab in TASK_TABS}


def visible_task(who: User, task_id: int) -> Task | None:
    """The task if `who` may see (and so complete) it, else None."""
    return db.session.scalar(
        sa.select(Task).outerjoin(Lead, Lead.id == Task.lead_id).where(Task.id == task_id, task_visibility(who))
    )


def complete_task(task: Task, who: User, now: datetime | None = None) -> bool:
    """Mark done (audited). False when it was not open (done twice, or cancelled): nothing changes."""
    if task.status != TaskStatus.OPEN:
        return False
    task.status, task.completed_at = TaskStatus.DONE, now or utcnow()
    audit.record(
        f"user:{who.id}",
        "task.done",
        "task",
        task.id,
        before={"status": "open"},
        after={"status": "done", "lead_id": task.lead_id},
    )
    db.session.commit()
    return True
