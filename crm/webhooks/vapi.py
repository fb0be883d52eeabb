"""POST /webhooks/vapi: Vapi's server messages (status-update, end-of-call-report, ...)."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from crm.webhooks import provider_common

bp = Blueprint(
    "webhooks_vapi", __name__, url_prefix="/webhooks", description="Vapi server messages (docs/providers.md §2.3/§2.4)"
)


@bp.route("/vapi", methods=["POST"])
@bp.doc(
    summary="Receive a Vapi server message",
    description=(
        'Body `{"message": {"type": ...}}`. Authenticated by `X-Vapi-Secret`, '
        "`Authorization: Bearer <secret>` or an HMAC credential (`x-signature`: hex HMAC-SHA256 of "
        "`{x-timestamp}.{body}`, 5-minute tolerance); one valid credential is enough. `status-update` "
        "and `end-of-call-report` move the call record forward (deduplicated per message type, call "
        "and status); the end-of-call-report hands the result to the lead's chain. Other types are "
        "acknowledged with 200 and not stored."
    ),
    responses={
        "401": {"description": "no valid credential; nothing stored"},
        "400": {
            "description": "authenticated but unreadable, or a field of the wrong type or range (named); nothing stored"
        },
        "415": {"description": "not sent as application/json; nothing stored"},
        "503": {"description": "recorded, but the chain could not be told yet: retry"},
    },
)
@bp.alt_response(
    200,
    schema=provider_common.ProviderAnswerSchema,
    description="recorded, a redelivery, an event for an unknown call (ignored) or a message type not stored",
    success=True,
)
def receive_vapi() -> ResponseReturnValue:
    return provider_common.receive("vapi")
