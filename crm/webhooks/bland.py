"""POST /webhooks/bland: Bland's post-call webhook (the flat call-details object, docs/providers.md §3.5)."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from crm.webhooks import provider_common
from providers import bland

bp = Blueprint("webhooks_bland", __name__, url_prefix="/webhooks", description="Voice provider webhooks: Bland")


@bp.route("/bland", methods=["POST"])
@bp.doc(
    summary="Receive Bland's post-call webhook",
    description=(
        "Body: Bland's call-details object (call_length in minutes, corrected_duration in seconds, "
        "price in dollars). Signed with `X-Webhook-Signature`: lowercase hex HMAC-SHA256 of the raw "
        "body with the webhook signing secret. Bland's signature has no timestamp, so a replayed body "
        "is answered from the durable delivery record (one per call and final status) and changes "
        "nothing."
    ),
    parameters=[{"in": "header", "name": bland.SIGNATURE_HEADER, "required": True, "schema": {"type": "string"}}],
    responses={
        "200": {
            "description": "recorded, or signed but unreadable: kept as an unparseable record for a person "
            "(Bland may retry a 4xx), with an alert logged; nothing else stored"
        },
        "415": {"description": "not sent as application/json; nothing stored"},
        "401": {"description": "missing or wrong signature; nothing stored"},
        "503": {"description": "recorded, but the workflow service is down: Bland's retry delivers it"},
    },
)
def receive_bland() -> ResponseReturnValue:
    return provider_common.receive("bland")
