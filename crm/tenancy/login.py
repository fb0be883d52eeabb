"""Finding the user of a login, before the company is known (docs/tenancy.md rule 2)."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.models.users import User
from crm.tenancy.context import operator_scope


def find_user_for_login(email: str) -> User | None:
    """The user with this email (case-insensitive), whatever their company, or None.

    A login names only an email (unique across companies), so the look-up crosses companies: it runs in a
    short operator context (operator "login", reason "login"). The caller binds the request to the returned
    user's company (None for an operator) before anything else; the ORM re-applies the database's company
    setting to the open transaction at the next statement (crm.tenancy.orm)."""
    with operator_scope("login", "login"):
        return db.session.execute(
            sa.select(User).where(sa.func.lower(User.email) == email.strip().lower())
        ).scalar_one_or_none()
