"""Settings → Lead assignment (admins): rules added, edited, ordered and deleted through the page, validated
field by field (422, nothing stored), audited, German and English; the rules then decide who owns a lead
posted through the API; managers see open tasks nobody owns under Tasks → Unassigned."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from crm.extensions import db
from crm.models import AssignmentRule, AuditEntry, Lead, Task, TaskStatus, User
from crm.models.types import utcnow
from tests.conftest import API_KEY


def _rules(app) -> list[tuple]:
    with app.app_context():
        return [
            (
                r.name,
                r.position,
                r.languages,
                r.countries,
                r.postcode_prefixes,
                r.sources,
                r.rep_ids,
                r.match_rep_language,
                r.active,
            )
            for r in db.session.scalars(sa.select(AssignmentRule).order_by(AssignmentRule.position))
        ]


def test_admin_adds_a_rule_and_a_new_lead_goes_by_it(ui_app, team, as_admin):
    page = as_admin.get("/settings/assignment")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Lead-Zuweisung" in text and "Grundregel" in text and team.sales_a.name in text
    r = as_admin.submit(
        "/settings/assignment/rules",
        {
            "name": "Partner Bayern",
            "active": "1",
            "languages": "de",
            "countries": "de, at",
            "postcode_prefixes": "80 81",
            "sources": "Partner",
            "rep_ids": str(team.sales_b.id),
        },
    )
    assert r.status_code == 302
    assert _rules(ui_app) == [
        ("Partner Bayern", 1, ["de"], ["AT", "DE"], ["80", "81"], ["partner"], [team.sales_b.id], False, True)
    ]
    with ui_app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "assignment_rule.create"))
        assert entry.actor == f"user:{team.admin.id}" and entry.after["name"] == "Partner Bayern"
    # A lead through the real API: the rule gives it to Bernd (the fallback's first turn would be Anna).
    api = ui_app.test_client()
    r = api.post(
        "/api/v1/leads",
        json={
            "first_name": "Sepp",
            "email": "sepp@brauerei-huber.de",
            "country": "DE",
            "postal_code": "80331",
            "source": "partner",
        },
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert r.status_code in (200, 201, 202), r.get_json()
    with ui_app.app_context():
        from crm.models import LeadSubmission
        from crm.services import submissions

        for sub_id in db.session.scalars(sa.select(LeadSubmission.id)):
            submissions.process(sub_id)
        lead = db.session.scalar(sa.select(Lead).where(Lead.email_key == "sepp@brauerei-huber.de"))
        assert lead.owner_id == team.sales_b.id
        entry = db.session.scalar(
            sa.select(AuditEntry).where(
                AuditEntry.entity_id == lead.id, AuditEntry.action == "lead.assigned_automatically"
            )
        )
        assert entry.actor == "assignment" and entry.after["rule"] == "Partner Bayern"
    # It shows on the lead's timeline.
    timeline = as_admin.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "Regel: Partner Bayern" in timeline and "Betreuer automatisch zugewiesen" in timeline
    assert "von den Zuweisungsregeln" in timeline


def test_bad_rule_names_each_field_and_stores_nothing(ui_app, team, as_admin):
    r = as_admin.submit(
        "/settings/assignment/rules",
        {
            "name": "",
            "languages": "it",
            "countries": "Deutschland",
            "postcode_prefixes": "80-81!",
            "sources": "web site!",
            "rep_ids": "²",
        },
    )
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    for field in ("name", "languages", "countries", "postcode_prefixes", "sources", "rep_ids"):
        assert f'id="new-{field}-error"' in page, field
    assert "zweistellige ISO-Codes" in page and "Bitte geben Sie einen Namen" in page
    assert 'value="Deutschland"' in page  # what was typed comes back
    r = as_admin.submit("/settings/assignment/rules", {"name": "X", "rep_ids": "999999"})
    assert r.status_code == 422 and 'id="new-rep_ids-error"' in r.get_data(as_text=True)
    assert _rules(ui_app) == []
    with ui_app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == "assignment_rule")
            )
            == 0
        )


def test_edit_move_and_delete_are_audited(ui_app, team, as_admin):
    for name in ("Erste", "Zweite"):
        assert as_admin.submit("/settings/assignment/rules", {"name": name, "active": "1"}).status_code == 302
    with ui_app.app_context():
        first, second = db.session.scalars(sa.select(AssignmentRule.id).order_by(AssignmentRule.position)).all()
    r = as_admin.submit(
        f"/settings/assignment/rules/{first}", {"name": "Erste (EN)", "languages": "en", "match_rep_language": "1"}
    )
    assert r.status_code == 302
    assert _rules(ui_app)[0] == ("Erste (EN)", 1, ["en"], [], [], [], [], True, False)
    bad = as_admin.submit(f"/settings/assignment/rules/{first}", {"name": "x" * 101})
    assert bad.status_code == 422 and f'id="{first}-name-error"' in bad.get_data(as_text=True)
    assert _rules(ui_app)[0][0] == "Erste (EN)"
    assert as_admin.submit(f"/settings/assignment/rules/{first}/move", {"direction": "down"}).status_code == 302
    assert [r[0] for r in _rules(ui_app)] == ["Zweite", "Erste (EN)"]
    assert as_admin.submit(f"/settings/assignment/rules/{first}/move", {"direction": "sideways"}).status_code == 422
    assert as_admin.submit(f"/settings/assignment/rules/{second}/delete").status_code == 302
    assert [(r[0], r[1]) for r in _rules(ui_app)] == [("Erste (EN)", 1)]
    assert as_admin.submit("/settings/assignment/rules/424242/delete").status_code == 404
    with ui_app.app_context():
        actions = list(
            db.session.scalars(
                sa.select(AuditEntry.action).where(AuditEntry.entity_type == "assignment_rule").order_by(AuditEntry.id)
            )
        )
    assert actions == [
        "assignment_rule.create",
        "assignment_rule.create",
        "assignment_rule.update",
        "assignment_rule.move",
        "assignment_rule.delete",
    ]


def test_page_in_english_and_forbidden_to_others(ui_app, team, as_admin, as_manager, as_sales_a):
    with ui_app.app_context():
        db.session.get(User, team.admin.id).language = "en"
        db.session.commit()
    text = as_admin.get("/settings/assignment").get_data(as_text=True)
    assert "Lead assignment" in text and "Fallback" in text and "Add rule" in text
    assert as_manager.get("/settings/assignment").status_code == 403
    assert as_sales_a.get("/settings/assignment").status_code == 403
    assert as_manager.submit("/settings/assignment/rules", {"name": "Manager"}).status_code == 403
    assert _rules(ui_app) == []


def test_managers_see_unowned_open_tasks_under_unassigned(ui_app, team, leads, as_manager, as_sales_a):
    with ui_app.app_context():
        now = utcnow()
        db.session.add_all(
            [
                Task(
                    lead_id=leads.unassigned,
                    owner_id=None,
                    kind="callback",
                    title="Rückruf ohne Besitzer",
                    due_at=now - timedelta(days=2),
                    status=TaskStatus.OPEN,
                ),
                Task(
                    lead_id=leads.own,
                    owner_id=team.sales_a.id,
                    kind="callback",
                    title="Rückruf von Anna",
                    due_at=now - timedelta(days=1),
                    status=TaskStatus.OPEN,
                ),
                Task(
                    lead_id=leads.unassigned,
                    owner_id=None,
                    kind="todo",
                    title="Erledigt ohne Besitzer",
                    status=TaskStatus.DONE,
                    completed_at=now,
                ),
            ]
        )
        db.session.commit()
    page = as_manager.get("/tasks?tab=unassigned").get_data(as_text=True)
    assert "Nicht zugewiesen" in page and 'href="/tasks?tab=unassigned"' in page
    assert "Rückruf ohne Besitzer" in page and "Rückruf von Anna" not in page and "Erledigt ohne" not in page
    assert '<span class="count">1</span>' in page
    # Sales reps have no such tab: the request falls back to their own list.
    rep_page = as_sales_a.get("/tasks?tab=unassigned").get_data(as_text=True)
    assert 'href="/tasks?tab=unassigned"' not in rep_page and "Rückruf von Anna" in rep_page


def test_assign_now_gives_old_unassigned_leads_and_their_open_tasks_an_owner(ui_app, team, leads, as_admin):
    with ui_app.app_context():
        db.session.add_all(
            [
                Task(lead_id=leads.unassigned, owner_id=None, kind="callback", title="Rückruf", status=TaskStatus.OPEN),
                Task(lead_id=leads.unassigned, owner_id=None, kind="todo", title="Alt", status=TaskStatus.DONE),
            ]
        )
        db.session.commit()
    assert "1 Leads haben keinen Betreuer" in as_admin.get("/settings/assignment").get_data(as_text=True)
    r = as_admin.submit("/settings/assignment/apply")
    assert r.status_code == 302
    with ui_app.app_context():
        lead = db.session.get(Lead, leads.unassigned)
        # The fallback's first turn among the two sales reps (both German): the lower id.
        assert lead.owner_id == min(team.sales_a.id, team.sales_b.id)
        tasks = {t.title: t.owner_id for t in db.session.scalars(sa.select(Task).where(Task.lead_id == lead.id))}
        assert tasks == {"Rückruf": lead.owner_id, "Alt": None}
        others = {other.id: other.owner_id for other in db.session.scalars(sa.select(Lead).where(Lead.id != lead.id))}
        assert others == {leads.own: team.sales_a.id, leads.foreign: team.sales_b.id}
        actions = sorted(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.actor == "assignment")))
        assert actions == ["lead.assigned_automatically", "task.assigned_automatically"]
    timeline = as_admin.get(f"/leads/{leads.unassigned}").get_data(as_text=True)
    assert "Regel: reihum an die Vertriebsmitarbeitenden" in timeline
    page = as_admin.get("/settings/assignment").get_data(as_text=True)
    assert "0 Leads haben keinen Betreuer" in page and "Jetzt zuweisen" not in page
    # Nothing left: a second run changes nothing and says so.
    r = as_admin.submit("/settings/assignment/apply", follow_redirects=True)
    assert "Kein Lead konnte zugewiesen werden" in r.get_data(as_text=True)
