"""The leads area (crm.ui.leads): list for every role; a lead page and its edit form only for a lead the
user may see (else 404); bulk assigning only for managers and admins (403 for reps)."""

from crm.extensions import db
from crm.models import Lead
from tests.ui.route_expectations import Route

SEE = {"anonymous": 302, "sales_own": 200, "sales_foreign": 404, "manager": 200, "admin": 200}


def _lead_columns(s):
    lead = db.session.get(Lead, s.lead)
    return (lead.first_name, lead.owner_id, lead.priority, lead.email, lead.updated_at)


ROUTES = {
    "leads.index": Route(expect={"anonymous": 302, "sales": 200, "manager": 200, "admin": 200}),
    "leads.show": Route(url_args=lambda s: {"lead_id": s.lead}, expect=SEE),
    "leads.edit": Route(url_args=lambda s: {"lead_id": s.lead}, expect=SEE),
    "leads.update": Route(
        method="POST",
        url_args=lambda s: {"lead_id": s.lead},
        data=lambda s: {"first_name": "Geändert", "owner_id": s.team.sales_b.id},
        snapshot=_lead_columns,
        expect={"anonymous": 302, "sales_own": 303, "sales_foreign": 404, "manager": 303, "admin": 303},
    ),
    "leads.bulk": [
        # A foreign lead in a rep's selection is skipped: the answer is the same redirect, nothing changes.
        Route(
            method="POST",
            data=lambda s: {"action": "pause", "lead_id": str(s.lead)},
            snapshot=_lead_columns,
            expect={"anonymous": 302, "sales": 303, "manager": 303, "admin": 303},
        ),
        Route(
            method="POST",
            data=lambda s: {"action": "assign", "lead_id": str(s.lead), "owner_id": str(s.team.sales_a.id)},
            snapshot=_lead_columns,
            expect={"anonymous": 302, "sales": 403, "manager": 303, "admin": 303},
        ),
    ],
}
