"""Who may see and do what, inside the company the request is bound to (docs/tenancy.md, Roles):

* sales: their own leads, and the unassigned leads of their branches (user_branches; none chosen: every
  branch) and of the company as a whole (leads with no branch);
* manager: every lead, reports, reassigning — of the whole company, or of their chosen branches (plus the
  leads of the company as a whole) when they have some;
* admin: everything of their company, plus users and settings;
* operator: no company page at all (the platform pages, crm.ui.platform), unless they entered a company
  (audited): then the request is bound to it and they act as its admin (crm.ui.security._operator).

Another company's record is not there at all (the ORM criteria, crm.tenancy.orm): 404 like a record the
role may not see (its existence is not revealed); a route the role may not use answers 403."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

import sqlalchemy as sa
from flask import abort, g, request
from flask_login import current_user, login_required

from crm.extensions import db
from crm.models import Lead, Role, User, user_branches

F = TypeVar("F", bound=Callable)
log = logging.getLogger(__name__)

MANAGERS = (Role.MANAGER, Role.ADMIN)
# The roles a company's admin may give: an operator belongs to no company (made with `leadchain user`).
COMPANY_ROLES = (Role.SALES, Role.MANAGER, Role.ADMIN)


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


def branch_ids(who: User) -> list[int]:
    """The branches `who` works in (a manager's chosen ones, a rep's); empty: the whole company."""
    cache = g.setdefault("ui_branch_ids", {})
    if who.id not in cache:
        cache[who.id] = [b.id for b in who.branches] if who.role in (Role.SALES, Role.MANAGER) else []
    return list(cache[who.id])


def _in_branches(who: User) -> sa.ColumnElement[bool]:
    # In SQL rather than from branch_ids(): a list page stays one count and one page query, however the
    # user's branches are loaded (none chosen: every branch, the NOT EXISTS arm).
    chosen = sa.select(user_branches.c.branch_id).where(user_branches.c.user_id == who.id)
    return sa.or_(~chosen.exists(), Lead.branch_id.is_(None), Lead.branch_id.in_(chosen))


def lead_visibility(who: User) -> sa.ColumnElement[bool]:
    """The WHERE clause of the leads `who` may see (merged records are never listed)."""
    live = Lead.merged_into_id.is_(None)
    if who.role == Role.ADMIN:
        return live
    if who.role == Role.MANAGER:
        return sa.and_(live, _in_branches(who))
    if who.role == Role.SALES:
        return sa.and_(live, sa.or_(Lead.owner_id == who.id, sa.and_(Lead.owner_id.is_(None), _in_branches(who))))
    return sa.false()  # an operator outside a company they entered sees no lead


def can_see(who: User, lead: Lead) -> bool:
    if lead.merged_into_id is not None:
        return False
    if who.role == Role.ADMIN:
        return True
    branches = branch_ids(who)
    in_branches = not branches or lead.branch_id is None or lead.branch_id in branches
    if who.role == Role.MANAGER:
        return in_branches
    if who.role == Role.SALES:
        return lead.owner_id == who.id or (lead.owner_id is None and in_branches)
    return False


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
