"""Settings → Lead assignment (crm.ui.settings_assignment): admins only; sales and managers get 403 and
no rule changes."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.models import AssignmentRule, Lead, Task
from tests.ui.route_expectations import Route, Subject

ADMIN_PAGE = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 200}
ADMIN_ACTION = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 302}


def rules_snapshot(s: Subject):
    return sorted(
        (
            r.id,
            r.position,
            r.name,
            r.active,
            repr(r.languages),
            repr(r.countries),
            repr(r.sources),
            repr(r.postcode_prefixes),
            repr(r.rep_ids),
            r.match_rep_language,
        )
        for r in db.session.scalars(sa.select(AssignmentRule))
    )


def _two_rules(s: Subject) -> dict:
    """Two rules (so a move has somewhere to go); the first one is the subject."""
    found = list(db.session.scalars(sa.select(AssignmentRule).order_by(AssignmentRule.position)))
    if len(found) < 2:
        for position, name in ((1, "matrix-en"), (2, "matrix-web")):
            if not any(r.name == name for r in found):
                db.session.add(
                    AssignmentRule(
                        position=position,
                        name=name,
                        languages=["en"],
                        countries=[],
                        postcode_prefixes=[],
                        sources=[],
                        rep_ids=[],
                        updated_by="matrix",
                    )
                )
        db.session.commit()
        found = list(db.session.scalars(sa.select(AssignmentRule).order_by(AssignmentRule.position)))
    return {"rule_id": found[0].id}


def owners_snapshot(s: Subject):
    """Who owns each lead and task (the "assign now" action hands unassigned ones out)."""
    return (
        sorted(db.session.execute(sa.select(Lead.id, Lead.owner_id)).all()),
        sorted(db.session.execute(sa.select(Task.id, Task.owner_id)).all()),
    )


RULE_FORM = {
    "name": "Webformular Bayern",
    "active": "1",
    "languages": "de",
    "countries": "DE",
    "postcode_prefixes": "80, 81",
    "sources": "website",
}

ROUTES = {
    "settings_assignment.index": Route(expect=ADMIN_PAGE),
    "settings_assignment.create_rule": Route(
        method="POST", snapshot=rules_snapshot, data=lambda s: RULE_FORM, expect=ADMIN_ACTION
    ),
    "settings_assignment.update_rule": Route(
        method="POST",
        setup=_two_rules,
        snapshot=rules_snapshot,
        url_args=lambda s: {"rule_id": s.extra["rule_id"]},
        data=lambda s: RULE_FORM,
        expect=ADMIN_ACTION,
    ),
    "settings_assignment.move_rule": Route(
        method="POST",
        setup=_two_rules,
        snapshot=rules_snapshot,
        url_args=lambda s: {"rule_id": s.extra["rule_id"]},
        data=lambda s: {"direction": "down"},
        expect=ADMIN_ACTION,
    ),
    "settings_assignment.assign_unassigned": Route(method="POST", snapshot=owners_snapshot, expect=ADMIN_ACTION),
    "settings_assignment.delete_rule": Route(
        method="POST",
        setup=_two_rules,
        snapshot=rules_snapshot,
        url_args=lambda s: {"rule_id": s.extra["rule_id"]},
        expect=ADMIN_ACTION,
    ),
}
