"""A second company for tests that need two: made in an operator context, as the platform page makes one."""

from __future__ import annotations

from crm.extensions import db
from crm.models.companies import Company
from crm.tenancy.context import operator_scope


def second_company(app) -> int:
    """The id of a new company "zweite" (Vienna time, so a test can tell its zone from the first company's)."""
    with app.app_context(), operator_scope("tests", "a second company"):
        company = Company(slug="zweite", name="Zweite GmbH", timezone="Europe/Vienna")
        db.session.add(company)
        db.session.commit()
        company_id = company.id
        db.session.remove()
    return company_id
