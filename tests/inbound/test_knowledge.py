"""The inbound numbers' knowledge base: BM25 retrieval with its threshold (crm.inbound.knowledge), and the
admins' settings page that edits it (crm/ui/settings/knowledge.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.inbound.knowledge import answer, best
from crm.models import AuditEntry, KnowledgeEntry, PhoneNumber
from crm.tenancy.context import company_scope
from tests.ui.conftest import as_admin, as_sales_a, team, ui_app  # noqa: F401 - fixtures

ENTRIES = [
    (
        1,
        "Wann haben Sie geöffnet?",
        "Wir haben Montag bis Freitag von 8 bis 18 Uhr geöffnet, samstags von 9 bis 13 Uhr.",
    ),
    (2, "Wo finde ich Sie? Adresse", "Sie finden uns in der Hauptstraße 5 in München, Parkplätze sind im Hof."),
    (3, "Was kostet eine Inspektion?", "Eine Inspektion kostet ab 189 Euro, je nach Modell."),
    (4, "What are your opening hours?", "We are open Monday to Friday from 8 am to 6 pm."),
    (5, "Do you offer financing?", "Yes, we offer financing through our partner bank from 1.9 percent."),
]


def test_questions_find_their_entry_in_any_wording():
    cases = {
        "Wie lange haben Sie heute geöffnet?": 1,
        "Was kostet bei Ihnen die Inspektion?": 3,
        "Wo ist Ihre Adresse?": 2,
        "When are you open?": 4,
        "Can I finance a car?": 5,
    }
    for question, entry_id in cases.items():
        found = best(ENTRIES, question)
        assert found is not None and found.entry_id == entry_id, question


def test_a_question_nothing_answers_well_gets_no_answer():
    for question in ("Verkaufen Sie auch Fahrräder?", "Do you sell bicycles?", "Wie ist das Wetter?", "", "?"):
        assert best(ENTRIES, question) is None, question
    assert best([], "Wann haben Sie geöffnet?") is None


def _number(app) -> int:
    with app.app_context(), company_scope(1):
        number = PhoneNumber(e164="+498912345688", provider="retell", language="de", holiday_behaviour="open")
        db.session.add(number)
        db.session.commit()
        return number.id


def test_admin_adds_edits_and_deletes_entries_the_agent_answers_from(ui_app, as_admin):  # noqa: F811
    number_id = _number(ui_app)
    page = as_admin.get("/settings/knowledge")
    assert page.status_code == 200 and "+498912345688" in page.get_data(as_text=True)
    new = {"phone_number_id": str(number_id), "question": "Wann haben Sie geöffnet?", "answer": "Mo-Fr 8-18 Uhr."}
    assert as_admin.submit("/settings/knowledge", new).status_code == 303
    with ui_app.app_context(), company_scope(1):
        entry_id = db.session.scalar(sa.select(KnowledgeEntry.id))
        assert answer(number_id, "Wie lange haben Sie geöffnet?") is not None
        db.session.remove()
    changed = {"question": "Wann haben Sie geöffnet?", "answer": "Mo-Sa 8-18 Uhr.", "active": "0"}
    assert as_admin.submit(f"/settings/knowledge/{entry_id}", changed).status_code == 303
    with ui_app.app_context(), company_scope(1):
        assert answer(number_id, "Wie lange haben Sie geöffnet?") is None  # switched off
        db.session.remove()
    assert as_admin.submit(f"/settings/knowledge/{entry_id}/delete").status_code == 303
    with ui_app.app_context(), company_scope(1):
        assert db.session.scalar(sa.select(sa.func.count(KnowledgeEntry.id))) == 0
        actions = set(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("knowledge.%"))))
        db.session.remove()
    assert actions == {"knowledge.create", "knowledge.update", "knowledge.delete"}


def test_bad_entries_are_refused_naming_the_field(ui_app, as_admin, as_sales_a):  # noqa: F811
    number_id = _number(ui_app)
    bad = as_admin.submit("/settings/knowledge", {"phone_number_id": "x", "question": "", "answer": "a" * 2001})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert all(word in text for word in ("Rufnummer", "Frage", "Antwort"))
    ok = {"phone_number_id": str(number_id), "question": "Q?", "answer": "A."}
    assert as_sales_a.submit("/settings/knowledge", ok).status_code in (302, 403)
    assert as_admin.submit("/settings/knowledge/999999", ok).status_code == 404
    with ui_app.app_context(), company_scope(1):
        assert db.session.scalar(sa.select(sa.func.count(KnowledgeEntry.id))) == 0
        db.session.remove()
