"""The dashboard (crm.ui.dashboard): every role; the report charts for managers and admins only."""

from datetime import timedelta

from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind
from crm.models.types import utcnow
from tests.ui.route_expectations import Route


def _a_call_today(s) -> dict:
    """A call of the subject's lead an hour ago, so the 30-day trend chart is not empty."""
    at = utcnow() - timedelta(hours=1)
    db.session.add(
        Interaction(
            lead_id=s.lead,
            kind=InteractionKind.CALL,
            direction=Direction.OUTBOUND,
            provider="retell",
            provider_ref=f"matrix-{s.perspective}",
            status="ended",
            outcome="no_answer",
            started_at=at,
            created_at=at,
            data={"end_status": "no_answer"},
        )
    )
    db.session.commit()
    return {}


ROUTES = {
    "dashboard.index": Route(expect={"anonymous": 302, "sales": 200, "manager": 200, "admin": 200}),
    "dashboard.chart": Route(
        setup=_a_call_today,
        url_args=lambda s: {"name": "trend"},
        expect={"anonymous": 302, "sales": 403, "manager": 200, "admin": 200},
    ),
}
