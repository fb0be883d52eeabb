"""GET /tasks : the user's tasks in tabs (mine, due today, overdue, done); POST /tasks/<id>/done marks one
done (CSRF; a task the user may not see answers 404). With htmx the row is swapped in place; without
JavaScript the form posts and the page comes back."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from crm.ui import queue_queries as q
from crm.ui.access import any_role, user
from crm.ui.dashboard import ui_formatter
from crm.ui.i18n import _

bp = Blueprint("tasks", __name__)


def tab_names() -> dict[str, str]:
    return {"mine": _("Mine"), "today": _("Due today"), "overdue": _("Overdue"), "done": _("Done")}


def empty_texts() -> dict[str, str]:
    return {"mine": _("You have no open tasks."), "today": _("Nothing else is due today."),
            "overdue": _("Nothing is overdue."), "done": _("No task is done yet.")}


@bp.get("/tasks")
@any_role
def index():
    tab = request.args.get("tab", "mine")
    if tab not in q.TASK_TABS:
        tab = "mine"
    who = user()
    return render_template("ui/tasks/index.html", tab=tab, tabs=tab_names(), counts=q.task_counts(who),
                           rows=q.tasks(who, tab), empty=empty_texts()[tab], fmt=ui_formatter())


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
    return redirect(url_for("tasks.index", tab=tab if tab in q.TASK_TABS else "mine"), code=303)
