"""The call recording proxy (crm.ui.recordings): a GET on a call of a lead the user may see.

The matrix has no provider to stream from: the call's recording URL points at a loopback port nothing
listens on, so a user who may see the lead reaches the provider step and gets the 502 page, and a rep on
a colleague's lead gets 404 before any provider is asked. tests/ui/test_recording_proxy.py streams real
recordings from the provider sandbox."""

from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind
from tests.sandbox_fixtures import free_port
from tests.ui.route_expectations import Route


def _call(s) -> dict:
    call = Interaction(
        lead_id=s.lead,
        kind=InteractionKind.CALL,
        direction=Direction.OUTBOUND,
        provider="retell",
        provider_ref=f"call_matrix_{s.perspective}",
        status="ended",
        recording_url=f"http://127.0.0.1:{free_port()}/recordings/matrix.wav",
    )
    db.session.add(call)
    db.session.commit()
    return {"call_id": call.id}


ROUTES = {
    "recordings.play": Route(
        setup=_call,
        url_args=lambda s: {"lead_id": s.lead, "call_id": s.extra["call_id"]},
        expect={"anonymous": 302, "sales_own": 502, "sales_foreign": 404, "manager": 502, "admin": 502},
    ),
}
