"""Who sees what inside one company (docs/tenancy.md, Roles), through the lead pages on both databases:

* admin: every lead of the company;
* manager: the whole company, or with chosen branches (user_branches) those branches' leads and the leads
  of the company as a whole (no branch);
* sales: their own leads, and the unassigned leads of their branches and of the company as a whole; a rep
  with no branch chosen: every unassigned lead (as before branches existed).

A lead the role may not see answers 404 on its page and is missing from the list; another company's lead is
never there (tests/tenancy/test_cross_company_matrix.py)."""

from __future__ import annotations

import pytest

from crm.extensions import db
from crm.models import Branch, Lead, Role, User
from crm.tenancy.context import company_scope
from tests.ui.conftest import PASSWORD, UIClient, login

COMPANY = 1


@pytest.fixture
def company(app):
    """Branches north and south; a lead per (branch, owner) case, named after it."""
    from crm.ui.auth import hasher

    app.test_client_class = UIClient
    with app.app_context(), company_scope(COMPANY):
        north, south = (
            Branch(company_id=COMPANY, name="Nord", slug="nord"),
            Branch(company_id=COMPANY, name="Süd", slug="sued"),
        )
        db.session.add_all([north, south])
        db.session.flush()

        def user(email: str, role: Role, branches: list[Branch]) -> User:
            made = User(email=email, name=email, role=role, password_hash=hasher().hash(PASSWORD))
            made.branches = branches
            db.session.add(made)
            db.session.flush()
            return made

        users = {
            "admin": user("admin@firma.de", Role.ADMIN, []),
            "manager_all": user("chef@firma.de", Role.MANAGER, []),
            "manager_north": user("nord.chef@firma.de", Role.MANAGER, [north]),
            "rep_north": user("nord.rep@firma.de", Role.SALES, [north]),
            "rep_none": user("rep@firma.de", Role.SALES, []),
        }
        cases = {
            "north_unassigned": (north, None),
            "south_unassigned": (south, None),
            "company_unassigned": (None, None),
            "north_rep_none": (north, users["rep_none"]),
            "south_rep_north": (south, users["rep_north"]),
        }
        leads = {}
        for name, (branch, owner) in cases.items():
            lead = Lead(
                first_name=name,
                last_name="Rolle",
                email=f"{name}@firma.de",
                email_key=f"{name}@firma.de",
                source="test",
                branch_id=branch.id if branch else None,
                owner_id=owner.id if owner else None,
            )
            db.session.add(lead)
            db.session.flush()
            leads[name] = lead.id
        db.session.commit()
        emails = {role: u.email for role, u in users.items()}
        db.session.remove()
    return emails, leads


SEES = {
    "admin": {"north_unassigned", "south_unassigned", "company_unassigned", "north_rep_none", "south_rep_north"},
    "manager_all": {"north_unassigned", "south_unassigned", "company_unassigned", "north_rep_none", "south_rep_north"},
    "manager_north": {"north_unassigned", "company_unassigned", "north_rep_none"},
    # own (in any branch) + unassigned of their branch + unassigned of the company as a whole
    "rep_north": {"north_unassigned", "company_unassigned", "south_rep_north"},
    # no branch chosen: every unassigned lead, and their own
    "rep_none": {"north_unassigned", "south_unassigned", "company_unassigned", "north_rep_none"},
}


@pytest.mark.parametrize("who", sorted(SEES))
def test_each_role_sees_its_leads_and_no_other(app, company, who):
    emails, leads = company
    client = app.test_client()
    assert login(client, emails[who], PASSWORD).status_code == 302
    listed = client.get("/leads").get_data(as_text=True)
    for name, lead_id in leads.items():
        page = client.get(f"/leads/{lead_id}").status_code
        if name in SEES[who]:
            assert page == 200 and name in listed, f"{who} must see {name}"
        else:
            assert page == 404 and name not in listed, f"{who} must not see {name}"


def test_the_dashboards_cached_figures_are_each_companys_own(app):
    # The dashboard caches its KPI report and charts per app for a few seconds: company 2's admin, asking
    # right after company 1's, must get company 2's figures, not the cached ones.
    from crm.models import Company
    from crm.tenancy.context import operator_scope
    from crm.ui.dashboard_queries import current_period, report_for

    with app.app_context():
        with operator_scope("tests", "second company"):
            db.session.add(Company(slug="zweite", name="Zweite GmbH"))
            db.session.commit()
        period = current_period("daily")
        with company_scope(1):
            db.session.add(Lead(first_name="Eins", email_key="eins@firma.de", source="test"))
            db.session.commit()
            first = report_for(period)
        with company_scope(2):
            second = report_for(period)
        with company_scope(1):
            assert report_for(period) is first  # still cached for its own company
        assert second is not first
        assert (first.current.leads.leads_in, second.current.leads.leads_in) == (1, 0)
