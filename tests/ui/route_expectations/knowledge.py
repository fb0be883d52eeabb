"""Settings → knowledge base (crm/ui/settings/knowledge.py): admins only; sales and managers get 403 and
nothing changes. Changes answer 303 (see other) to the page."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.models import KnowledgeEntry, PhoneNumber
from crm.tenancy.context import require_company_id
from tests.ui.route_expectations import Route, Subject

ADMIN_PAGE = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 200}
ADMIN_CHANGE = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 303}


def _entry(s: Subject) -> dict:
    # A number is one company's (the called number finds the company), so each company that sets up here
    # (the cross-company matrix sets up in two) gets its own.
    e164 = f"+4989123456{70 + require_company_id():02d}"
    number = db.session.scalar(sa.select(PhoneNumber).where(PhoneNumber.e164 == e164))
    if number is None:
        number = PhoneNumber(e164=e164, provider="retell", language="de", holiday_behaviour="open")
        db.session.add(number)
        db.session.flush()
    entry = KnowledgeEntry(phone_number_id=number.id, question="Wann haben Sie geöffnet?", answer="Mo-Fr 8-18 Uhr.")
    db.session.add(entry)
    db.session.commit()
    return {"number_id": number.id, "entry_id": entry.id}


def snapshot(s: Subject):
    return sorted((e.id, e.question, e.answer, e.active) for e in db.session.scalars(sa.select(KnowledgeEntry)))


ROUTES = {
    "settings.knowledge": Route(expect=ADMIN_PAGE),
    "settings.add_knowledge": Route(
        method="POST",
        setup=_entry,
        snapshot=snapshot,
        data=lambda s: {"phone_number_id": str(s.extra["number_id"]), "question": "Parkplatz?", "answer": "Im Hof."},
        expect=ADMIN_CHANGE,
    ),
    "settings.update_knowledge": Route(
        method="POST",
        setup=_entry,
        snapshot=snapshot,
        url_args=lambda s: {"entry_id": s.extra["entry_id"]},
        data=lambda s: {"question": "Wann haben Sie offen?", "answer": "Mo-Sa.", "active": "1"},
        expect=ADMIN_CHANGE,
    ),
    "settings.delete_knowledge": Route(
        method="POST",
        setup=_entry,
        snapshot=snapshot,
        url_args=lambda s: {"entry_id": s.extra["entry_id"]},
        expect=ADMIN_CHANGE,
        isolated=True,
    ),
}
