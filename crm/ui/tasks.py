"""GET /tasks : the user's tasks in tabs (mine, due today, overdue, done; managers and admins also
"unassigned"); POST /tasks/<id>/done marks one done (CSRF; a task the user may not see answers 404). With
htmx the row is swapped in place; without JavaScript the form posts and the page comes back.

"Unassigned" lists the open tasks nobody owns (overdue first): a follow-up the assignment rules could not
give to anyone (no active rep) would otherwise be in no one's "Mine", so managers get a list of them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from crm.extensions import db
from crm.models import Task, TaskStatus, User
from crm.models.types import utcnow
from crm.ui import queue_queries as q
from crm.ui.access import MANAGERS, any_role, user
from crm.ui.dashboard import ui_formatter
from crm.ui.i18n import _

bp = Blueprint("tasks", __name__)

UNASSIGNED = "unassigned"


def tab_keys(who: User) -> tuple[str, ...]:
    return (*q.TASK_TABS, UNASSIGNED) if who.role in MANAGERS else q.TASK_TABS


def tab_names(who: User) -> dict[str, str]:
    names = {
        "mine": _("Mine"),
        "today": _("Due today"),
        "overdue": _("Overdue"),
        "done": _("Done"),
        UNASSIGNED: _("Unassigned"),
    }
    return {key: names[key] for key in tab_keys(who)}


def empty_texts() -> dict[str, str]:
    return {
        "mine": _("You have no open tasks."),
        "today": _("Nothing else is due today."),
        "overdue": _("Nothing is overdue."),
        "done": _("No task is done yet."),
        UNASSIGNED: _("Every open task has an owner."),
    }


def _unassigned() -> sa.ColumnElement[bool]:
    return sa.and_(Task.status == TaskStatus.OPEN, Task.owner_id.is_(None))


def unassigned_tasks(who: User, now: datetime) -> list[q.TaskRow]:
    """Open tasks without an owner that `who` may see, the longest overdue first, undated last."""
    stmt = (
        q._task_rows(who, _unassigned())
        .order_by(sa.case((Task.due_at.is_(None), 1), else_=0), Task.due_at, Task.id)
        .limit(q.GROUP_LIMIT)
    )
    return q._task_list(stmt, now)


def unassigned_count(who: User) -> int:
    return db.session.scalar(q._task_select(sa.func.count()).where(q.task_visibility(who), _unassigned())) or 0


@bp.get("/tasks")
@any_role
def index():
    who = user()
    tab = request.args.get("tab", "mine")
    if tab not in tab_keys(who):
        tab = "mine"
    now = utcnow()
    counts = q.task_counts(who, now)
    if UNASSIGNED in tab_keys(who):
        counts[UNASSIGNED] = unassigned_count(who)
    rows = unassigned_tasks(who, now) if tab == UNASSIGNED else q.tasks(who, tab, now)
    return render_template(
        "ui/tasks/index.html",
        tab=tab,
        tabs=tab_names(who),
        counts=counts,
        rows=rows,
        empty=empty_texts()[tab],
        fmt=ui_formatter(),
    )


@bp.post("/tasks/<int:task_id>/done")
@any_role
def done(task_id: int):
    who = user()
    task = q.visible_task(who, task_id)
    if task is None:
        abort(404)
    changed = q.complete_task(task, who)
    tab = request.form.get("tab", "mine")
    if request.headers.get("HX-Request"):
        row = next(iter(q.tasks_by_id(who, [task.id])), None)
        return render_template("ui/tasks/_row.html", r=row, tab=tab, fmt=ui_formatter(), just_done=changed)
    flash(_("Task marked as done.") if changed else _("The task was not open."), "success" if changed else "info")
    return redirect(url_for("tasks.index", tab=tab if tab in tab_keys(who) else "mine"), code=303)
