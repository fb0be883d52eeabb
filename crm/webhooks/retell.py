"""POST /webhooks/retell: Retell's call_started, call_ended and call_analyzed (docs/providers.md §1.5, §1.6)."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from crm.webhooks import provider_common

bp = Blueprint(
    "webhooks_retell",
    __name__,
    url_prefix="/webhooks",
    description="Retell call webhooks, signed with X-Retell-Signature",
)


@bp.route("/retell", methods=["POST"])
@bp.doc(
    summary="Receive a Retell call event",
    description=(
        'Body: `{"event": "call_started" | "call_ended" | "call_analyzed", "call": {...}}`, the '
        "Retell call object (timestamps in ms, `duration_ms`, `call_cost` in cents). Verified on the raw "
        "body: `X-Retell-Signature: v=<ms>,d=<hex HMAC-SHA256(api key, body + ms)>`, at most 5 minutes "
        "off either way. Deduplicated on (event, call_id): a redelivery changes nothing and answers 200. "
        "The call's result goes to its lead chain on `call_analyzed` (on `call_ended` when the call "
        "never connected). Other event types (`call_inbound` included) are acknowledged and ignored. "
        "Every field read is type- and range-checked first (docs/providers.md §0.1)."
    ),
    parameters=[
        {
            "in": "header",
            "name": "X-Retell-Signature",
            "required": True,
            "schema": {"type": "string"},
            "example": "v=1767632400000,d=" + "0" * 64,
        }
    ],
    responses={
        "400": {
            "description": "signed, but not a Retell event, or a field of the wrong type or range (named); "
            "nothing stored"
        },
        "415": {"description": "not sent as application/json; nothing stored"},
        "401": {"description": "missing, wrong or stale signature; nothing stored"},
        "413": {"description": "body too large"},
        "503": {"description": "recorded, but the workflow service is unavailable: Retell retries"},
    },
)
@bp.alt_response(200, description="recorded (or a redelivery, or an event for an unknown call: ignored)", success=True)
def receive_retell() -> ResponseReturnValue:
    return provider_common.receive("retell")
