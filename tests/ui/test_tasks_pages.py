"""GET /tasks and POST /tasks/<id>/done through the Flask test client: tabs, CSRF, ownership, htmx."""

from __future__ import annotations

from datetime import timedelta

from crm.extensions import db
from crm.models import AuditEntry, Task, TaskStatus
from crm.models.types import utcnow


def _tasks(app, team, leads) -> dict[str, int]:
    now = utcnow()
    with app.app_context():
        made = {
            "late": Task(
                title="Angebot nachfassen", owner_id=team.sales_a.id, lead_id=leads.own, due_at=now - timedelta(hours=2)
            ),
            "soon": Task(
                title="Rückruf Olga", owner_id=team.sales_a.id, lead_id=leads.own, due_at=now + timedelta(minutes=5)
            ),
            "bernd": Task(
                title="Bernds Aufgabe", owner_id=team.sales_b.id, lead_id=leads.foreign, due_at=now - timedelta(hours=1)
            ),
            "finished": Task(
                title="Erledigte Sache",
                owner_id=team.sales_a.id,
                lead_id=leads.own,
                status=TaskStatus.DONE,
                completed_at=now - timedelta(hours=1),
            ),
        }
        db.session.add_all(made.values())
        db.session.commit()
        return {k: v.id for k, v in made.items()}


def _status(app, task_id: int) -> TaskStatus:
    with app.app_context():
        return db.session.get(Task, task_id).status


def test_tabs(ui_app, team, leads, as_sales_a):
    ids = _tasks(ui_app, team, leads)
    html = as_sales_a.get("/tasks").get_data(as_text=True)
    assert "Angebot nachfassen" in html and "Rückruf Olga" in html and "Bernds Aufgabe" not in html
    assert 'aria-current="page">Meine <span class="count">2</span>' in html
    assert f'action="/tasks/{ids["late"]}/done"' in html and "überfällig" in html
    overdue = as_sales_a.get("/tasks?tab=overdue").get_data(as_text=True)
    assert "Angebot nachfassen" in overdue and "Rückruf Olga" not in overdue
    done = as_sales_a.get("/tasks?tab=done&lang=en").get_data(as_text=True)
    assert "Erledigte Sache" in done and "Done at" in done and "Mark done" not in done
    assert as_sales_a.get("/tasks?tab=nonsense").status_code == 200  # falls back to "mine"


def test_mark_done_with_csrf(ui_app, team, leads, as_sales_a):
    ids = _tasks(ui_app, team, leads)
    r = as_sales_a.submit(f"/tasks/{ids['late']}/done", {"tab": "overdue"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/tasks?tab=overdue")
    assert _status(ui_app, ids["late"]) == TaskStatus.DONE
    page = as_sales_a.get("/tasks?tab=overdue").get_data(as_text=True)
    assert "Aufgabe als erledigt markiert." in page and "Angebot nachfassen" not in page
    with ui_app.app_context():
        assert db.session.query(AuditEntry).filter_by(action="task.done", entity_id=ids["late"]).count() == 1
    again = as_sales_a.submit(f"/tasks/{ids['late']}/done")
    assert again.status_code == 303
    assert "Die Aufgabe war nicht offen." in as_sales_a.get("/tasks").get_data(as_text=True)


def test_mark_done_needs_csrf(ui_app, team, leads, as_sales_a):
    ids = _tasks(ui_app, team, leads)
    assert as_sales_a.post(f"/tasks/{ids['soon']}/done").status_code == 400
    assert as_sales_a.get(f"/tasks/{ids['soon']}/done").status_code == 405
    assert _status(ui_app, ids["soon"]) == TaskStatus.OPEN


def test_other_reps_task_is_not_found(ui_app, team, leads, as_sales_a, as_manager):
    ids = _tasks(ui_app, team, leads)
    assert as_sales_a.submit(f"/tasks/{ids['bernd']}/done").status_code == 404
    assert as_sales_a.submit("/tasks/999999/done").status_code == 404
    assert _status(ui_app, ids["bernd"]) == TaskStatus.OPEN
    assert as_manager.submit(f"/tasks/{ids['bernd']}/done").status_code == 303
    assert _status(ui_app, ids["bernd"]) == TaskStatus.DONE


def test_htmx_swaps_the_row(ui_app, team, leads, as_sales_a):
    ids = _tasks(ui_app, team, leads)
    r = as_sales_a.submit(f"/tasks/{ids['soon']}/done", {"tab": "mine"}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    row = r.get_data(as_text=True)
    assert row.lstrip().startswith("<tr") and f'id="task-{ids["soon"]}"' in row
    assert 'role="status"' in row and "Erledigt" in row and "<form" not in row
    # The row keeps the id of the focused button, so htmx moves the focus to the "done" badge.
    assert f'id="task-{ids["soon"]}-action" tabindex="-1"' in row
