"""Tasks (crm.ui.tasks): the list for every role; marking done only a task the user may see (else 404)."""

from crm.extensions import db
from crm.models import Lead, Task, TaskStatus
from tests.ui.route_expectations import Route


def _task_of_the_lead(s) -> dict:
    """An open task of the subject's lead, owned by that lead's owner."""
    lead = db.session.get(Lead, s.lead)
    task = Task(lead_id=lead.id, owner_id=lead.owner_id, title="Rückruf", status=TaskStatus.OPEN)
    db.session.add(task)
    db.session.commit()
    return {"task_id": task.id}


def _task_status(s):
    task = db.session.get(Task, s.extra["task_id"])
    return (task.status, task.completed_at)


ROUTES = {
    "tasks.index": Route(expect={"anonymous": 302, "sales": 200, "manager": 200, "admin": 200}),
    "tasks.done": Route(
        method="POST",
        setup=_task_of_the_lead,
        url_args=lambda s: {"task_id": s.extra["task_id"]},
        data=lambda s: {"tab": "mine"},
        snapshot=_task_status,
        expect={"anonymous": 302, "sales_own": 303, "sales_foreign": 404, "manager": 303, "admin": 303},
    ),
}
