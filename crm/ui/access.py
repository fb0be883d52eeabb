"""Who may see and do what. Roles: sales (own leads and the team's unassigned ones), manager (every
lead, reports, reassigning), admin (everything a manager may, plus users and settings).

A record the user may not see answers 404 (its existence is not revealed); a route the role may not use
answers 403."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

import sqlalchemy as sa
from flask import abort, request
from flask_login import current_user, login_required

from crm.extensions import db
from crm.models import Lead, Role, User

F = TypeVar("F", bound=Callable)
log = logging.getLogger(__name__)

MANAGERS = (Role.MANAGER, Role.ADMIN)


def user() -> User:
    # flask_login ships no types, so current_user (a LocalProxy) is Any to mypy.
    return current_user._get_current_object()


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Signed in (else the login page) and one of `roles` (else 403)."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if user().role not in roles:
                # authorisation failures are logged (docs/compliance.md §S13): ids only, no personal data
                log.warning("forbidden user=%s role=%s endpoint=%s", user().id, user().role.value, request.endpoint)
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


any_role = roles_required(Role.SALES, Role.MANAGER, Role.ADMIN)
manager_only = roles_required(*MANAGERS)
admin_only = roles_required(Role.ADMIN)


def lead_visibility(who: User) -> sa.ColumnElement[bool]:
    """The WHERE clause of the leads `who` may see (merged records are never listed)."""
    live = Lead.merged_into_id.is_(None)
    if who.role in MANAGERS:
        return live
    return sa.and_(live, sa.or_(Lead.owner_id == who.id, Lead.owner_id.is_(None)))


def can_see(who: User, lead: Lead) -> bool:
    if lead.merged_into_id is not None:
        return False
    return who.role in MANAGERS or lead.owner_id in (None, who.id)


def lead_or_404(lead_id: int) -> Lead:
    lead = db.session.get(Lead, lead_id)
    if lead is None or not can_see(user(), lead):
        abort(404)
    return lead


# Fields a role may change on a lead; anything else in a form is ignored (no mass assignment).
EDITABLE_FIELDS = {
    Role.SALES: {"first_name", "last_name", "company", "email", "phone", "language", "interest"},
    Role.MANAGER: {
        "first_name",
        "last_name",
        "company",
        "email",
        "phone",
        "language",
        "interest",
        "owner_id",
        "priority",
    },
    Role.ADMIN: {
        "first_name",
        "last_name",
        "company",
        "email",
        "phone",
        "language",
        "interest",
        "owner_id",
        "priority",
        "consent",
    },
}


def editable_fields(who: User) -> set[str]:
    return EDITABLE_FIELDS.get(who.role, set())
