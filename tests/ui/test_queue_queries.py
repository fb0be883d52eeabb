"""The call queue and task queries on SQLite and PostgreSQL: groups, times, role and ownership."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.config import Settings, SettingsError
from crm.extensions import db
from crm.models import AuditEntry, Direction, Interaction, InteractionKind, Lead, Role, Task, TaskStatus, User
from crm.ui import queue_queries as q

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # Tuesday, 11:00 in Berlin (CET)


def _user(name: str, role: Role = Role.SALES, tz: str = "Europe/Berlin") -> User:
    u = User(email=f"{name.lower()}@example.test", name=name, role=role, timezone=tz)
    db.session.add(u)
    db.session.flush()
    return u


def _lead(first: str, owner: User | None, stage: str | None = None, merged_into: Lead | None = None) -> Lead:
    lead = Lead(
        first_name=first,
        last_name="Test",
        source="website",
        owner_id=owner.id if owner else None,
        chain_stage=stage,
        merged_into_id=merged_into.id if merged_into else None,
    )
    db.session.add(lead)
    db.session.flush()
    return lead


_refs = iter(range(1, 100_000))


def _call(
    lead: Lead,
    status: str,
    at: datetime,
    *,
    outcome: str | None = None,
    end_status: str | None = None,
    provider: str = "retell",
) -> Interaction:
    row = Interaction(
        lead_id=lead.id,
        kind=InteractionKind.CALL,
        direction=Direction.OUTBOUND,
        provider=provider,
        provider_ref=f"q-{next(_refs)}",
        status=status,
        started_at=at,
        created_at=at,
        outcome=outcome,
        data={"end_status": end_status} if end_status else {},
    )
    db.session.add(row)
    db.session.flush()
    return row


def _audit(lead: Lead, action: str, at: datetime, after: dict | None = None) -> None:
    db.session.add(
        AuditEntry(actor="chain", action=action, entity_type="lead", entity_id=lead.id, at=at, after=after or {})
    )


@pytest.fixture
def world(ctx):
    anna, ben = _user("Anna"), _user("Ben")
    mia = _user("Mia", Role.MANAGER)
    own, foreign, pool = (
        _lead("Own", anna, "calling"),
        _lead("Foreign", ben, "waiting_for_retry"),
        _lead("Pool", None, "waiting_for_window"),
    )
    retry = _lead("Retry", anna, "waiting_for_retry")
    merged = _lead("Merged", anna, "waiting_for_retry", merged_into=own)
    # In progress: own ringing (now), foreign in progress, a stale queued one (2 days), an ended one.
    ringing = _call(own, "ringing", NOW - timedelta(minutes=1))
    _call(foreign, "in_progress", NOW - timedelta(minutes=3))
    _call(own, "queued", NOW - timedelta(days=2))
    _call(pool, "ended", NOW - timedelta(hours=1), outcome="no_answer", end_status="no_answer")
    # Retries: entered the stage at 09:00 and 08:00 UTC; the last call was a no-answer.
    _call(retry, "ended", NOW - timedelta(hours=2, minutes=5), outcome="voicemail", end_status="voicemail")
    _audit(retry, "chain.waiting_for_retry", NOW - timedelta(hours=2))
    _audit(retry, "chain.waiting_for_retry", NOW - timedelta(hours=1))  # the latest entry counts
    _audit(foreign, "chain.waiting_for_retry", NOW - timedelta(minutes=30))
    _audit(merged, "chain.waiting_for_retry", NOW - timedelta(minutes=30))
    # Window: the gate refused at 06:00 UTC, the window opens at 08:00 Berlin next day.
    _audit(
        pool,
        "call.refused",
        NOW - timedelta(hours=4),
        {"reason": "outside_hours", "next_window_start": "2026-03-11T07:00:00+00:00"},
    )
    # Failed: one within the week (own), one 9 days ago, one foreign.
    failed = _call(own, "ended", NOW - timedelta(days=1), outcome="failed", end_status="failed")
    _call(own, "ended", NOW - timedelta(days=9), end_status="failed")
    _call(foreign, "ended", NOW - timedelta(hours=5), end_status="failed", provider="vapi")
    db.session.commit()
    return dict(
        anna=anna,
        ben=ben,
        mia=mia,
        own=own,
        foreign=foreign,
        pool=pool,
        retry=retry,
        merged=merged,
        ringing=ringing,
        failed=failed,
    )


def test_in_progress_is_live_recent_and_visible(world):
    rows = q.in_progress(world["anna"], NOW)
    assert [(r.lead_id, r.status) for r in rows] == [(world["own"].id, "ringing")]
    assert rows[0].interaction_id == world["ringing"].id and rows[0].owner == "Anna" and rows[0].attempts == 4
    manager = q.in_progress(world["mia"], NOW)
    assert [r.lead_id for r in manager] == [world["foreign"].id, world["own"].id]  # oldest first


def test_retries_with_due_time(world):
    rows = q.retries(world["anna"], delay_s=3600)
    assert [r.lead_id for r in rows] == [world["retry"].id]  # not Ben's, not the merged record
    assert rows[0].at == NOW  # entered 09:00 UTC + 1 h
    assert rows[0].status == "voicemail" and rows[0].attempts == 1
    manager = q.retries(world["mia"], delay_s=3600)
    assert [r.lead_id for r in manager] == [world["retry"].id, world["foreign"].id]


def test_waiting_for_window_knows_when_it_opens(world):
    for who in ("anna", "ben", "mia"):  # the unassigned lead: everybody
        rows = q.waiting_for_window(world[who])
        assert [r.lead_id for r in rows] == [world["pool"].id]
        assert rows[0].at == datetime(2026, 3, 11, 7, 0, tzinfo=UTC)
        assert rows[0].status == "no_answer"


def test_window_time_unknown_without_a_gate_entry(ctx):
    anna = _user("Anna")
    lead = _lead("Late", anna, "waiting_for_window")
    db.session.commit()
    (row,) = q.waiting_for_window(anna)
    assert row.lead_id == lead.id and row.at is None and row.attempts == 0


def test_failed_calls_of_the_week(world):
    rows = q.failed(world["anna"], NOW)
    assert [r.interaction_id for r in rows] == [world["failed"].id]
    assert len(q.failed(world["mia"], NOW)) == 2
    assert len(q.failed(world["mia"], NOW, days=10)) == 3


def test_call_queue_groups(world):
    queue = q.call_queue(world["ben"], NOW, delay_s=60)
    assert [r.lead_id for r in queue.in_progress] == [world["foreign"].id]
    assert [r.lead_id for r in queue.retries] == [world["foreign"].id]
    assert [r.lead_id for r in queue.waiting_for_window] == [world["pool"].id]
    assert [r.provider for r in queue.failed] == ["vapi"]
    assert queue.total == 4


def test_retry_delay_from_chain_settings():
    def chain(raw: str | None):
        return Settings.from_env({"LEADCHAIN_CHAIN_SETTINGS": raw} if raw else {}).chain

    assert q.retry_delay_s(chain(None)) == 4 * 3600
    assert q.retry_delay_s(chain('{"retry_delay_s": 90}')) == 90
    assert q.retry_delay_s(chain('{"max_call_attempts": 5}')) == 4 * 3600
    with pytest.raises(SettingsError, match="LEADCHAIN_CHAIN_SETTINGS"):
        chain("not json")


# ------------------------------------------------------------------------------------------- tasks


def _task(
    title: str,
    owner: User | None,
    lead: Lead | None,
    due: datetime | None,
    status: TaskStatus = TaskStatus.OPEN,
    completed: datetime | None = None,
) -> Task:
    t = Task(
        title=title,
        owner_id=owner.id if owner else None,
        lead_id=lead.id if lead else None,
        due_at=due,
        status=status,
        completed_at=completed,
    )
    db.session.add(t)
    db.session.flush()
    return t


@pytest.fixture
def tasks(ctx):
    anna, ben = _user("Anna"), _user("Ben")
    mia = _user("Mia", Role.MANAGER)
    own, foreign, pool = _lead("Own", anna), _lead("Foreign", ben), _lead("Pool", None)
    t = {
        "overdue": _task("overdue", anna, own, NOW - timedelta(hours=1)),
        "yesterday": _task("yesterday", anna, own, NOW - timedelta(days=1)),
        # Berlin day of NOW: [2026-03-09 23:00, 2026-03-10 23:00) UTC.
        "today": _task("today", anna, own, NOW + timedelta(hours=5)),
        "late_today": _task("late today", None, pool, datetime(2026, 3, 10, 22, 59, tzinfo=UTC)),
        "tomorrow": _task("tomorrow", anna, None, datetime(2026, 3, 10, 23, 0, tzinfo=UTC)),
        "undated": _task("undated", anna, None, None),
        "done": _task("done", anna, own, NOW, TaskStatus.DONE, NOW - timedelta(minutes=5)),
        "done_old": _task("done old", anna, own, NOW, TaskStatus.DONE, NOW - timedelta(days=3)),
        "cancelled": _task("cancelled", anna, own, NOW - timedelta(hours=1), TaskStatus.CANCELLED),
        "bens": _task("bens", ben, foreign, NOW - timedelta(hours=2)),
        "bens_on_pool": _task("bens on pool", ben, pool, NOW + timedelta(hours=1)),
        "unowned_on_foreign": _task("unowned on foreign", None, foreign, NOW + timedelta(hours=1)),
        "ben_on_annas": _task("ben on annas", ben, own, NOW + timedelta(hours=2)),
    }
    db.session.commit()
    return dict(anna=anna, ben=ben, mia=mia, own=own, pool=pool, **t)


def _titles(rows) -> list[str]:
    return [r.title for r in rows]


def test_task_tabs_for_sales(tasks):
    anna = tasks["anna"]
    assert _titles(q.tasks(anna, "mine", NOW)) == ["yesterday", "overdue", "today", "tomorrow", "undated"]
    assert _titles(q.tasks(anna, "overdue", NOW)) == ["yesterday", "overdue"]
    assert _titles(q.tasks(anna, "today", NOW)) == ["ben on annas", "today", "late today"]
    assert _titles(q.tasks(anna, "done", NOW)) == ["done", "done old"]
    assert q.task_counts(anna, NOW) == {"mine": 5, "today": 3, "overdue": 2, "done": 2}
    overdue = q.tasks(anna, "overdue", NOW)
    assert all(r.overdue for r in overdue) and overdue[0].lead_name == "Own Test"


def test_task_tabs_for_the_other_rep_and_the_manager(tasks):
    ben, mia = tasks["ben"], tasks["mia"]
    assert _titles(q.tasks(ben, "overdue", NOW)) == ["bens"]
    # Ben's own task on the pool lead, the unowned one on his lead, the pool's unowned one; not Anna's lead.
    assert _titles(q.tasks(ben, "today", NOW)) == ["bens on pool", "unowned on foreign", "late today"]
    assert q.task_counts(mia, NOW)["overdue"] == 3
    assert len(q.tasks(mia, "today", NOW)) == 5
    assert q.tasks(mia, "mine", NOW) == []


def test_today_follows_the_users_zone(tasks):
    anna = tasks["anna"]
    anna.timezone = "America/New_York"  # 06:00 there; the day ends 2026-03-11 04:00 UTC
    db.session.commit()
    assert "tomorrow" in _titles(q.tasks(anna, "today", NOW))
    anna.timezone = "Not/AZone"  # a bad zone falls back to Berlin
    assert "tomorrow" not in _titles(q.tasks(anna, "today", NOW))


def test_visible_task_and_complete(tasks):
    anna, ben = tasks["anna"], tasks["ben"]
    assert q.visible_task(ben, tasks["today"].id) is None
    assert q.visible_task(anna, tasks["bens"].id) is None
    assert q.visible_task(anna, tasks["ben_on_annas"].id) is not None  # on her lead
    assert q.visible_task(tasks["mia"], tasks["bens"].id) is not None
    task = q.visible_task(anna, tasks["today"].id)
    assert q.complete_task(task, anna, NOW) is True
    assert task.status == TaskStatus.DONE and task.completed_at == NOW
    assert q.complete_task(task, anna, NOW) is False  # twice: no change
    cancelled = q.visible_task(anna, tasks["cancelled"].id)
    assert q.complete_task(cancelled, anna, NOW) is False and cancelled.status == TaskStatus.CANCELLED
    entries = db.session.query(AuditEntry).filter_by(action="task.done").all()
    assert [(e.entity_id, e.actor) for e in entries] == [(task.id, f"user:{anna.id}")]


def test_merged_leads_tasks_are_hidden(ctx):
    anna = _user("Anna")
    live = _lead("Live", anna)
    merged = _lead("Merged", anna, merged_into=live)
    _task("on merged", anna, merged, NOW)
    db.session.commit()
    assert q.tasks(anna, "mine", NOW) == []
