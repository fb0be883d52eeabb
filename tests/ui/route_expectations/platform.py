"""The platform pages (crm.ui.platform): an operator's only; every company role gets 403 and nothing changes
(the operator's own perspective is in tests/tenancy/test_entrances.py and the cross-company matrix)."""

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Company
from crm.tenancy.context import operator_scope
from tests.ui.route_expectations import Route

REFUSED = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 403}


def _companies(s):
    with operator_scope("tests", "matrix snapshot"):
        return sorted(db.session.execute(sa.select(Company.id, Company.slug, Company.active)).all())


ROUTES = {
    "platform.companies": Route(expect=REFUSED),
    "platform.create": Route(
        method="POST", data=lambda s: {"slug": "matrix-co", "name": "X"}, snapshot=_companies, expect=REFUSED
    ),
    "platform.deactivate": Route(
        method="POST",
        url_args=lambda s: {"company_id": 1},
        data=lambda s: {"reason": "x"},
        snapshot=_companies,
        expect=REFUSED,
    ),
    "platform.enter": Route(
        method="POST",
        url_args=lambda s: {"company_id": 1},
        data=lambda s: {"reason": "x"},
        snapshot=_companies,
        expect=REFUSED,
    ),
    "platform.leave": Route(method="POST", expect=REFUSED),
}
