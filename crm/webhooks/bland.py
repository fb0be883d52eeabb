"""POST /webhooks/bland: Bland's post-call webhook (the flat call-details object, docs/providers.md §3.5)."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from crm.webhooks import provider_common
from providers import bland
from providers.factory import registry, webhook_secret

bp = Blueprint("webhooks_bland", __name__, url_prefix="/webhooks", description="Voice provider webhooks: Bland")


def _secrets() -> list[str]:
    """The signing secrets: the configured provider's own, else providers/bland-webhook-secret (the
    sandbox's in keyless sandbox mode). Several, whitespace-separated, during a rotation."""
    provider = registry(current_app).get("bland")
    own = list(getattr(provider, "webhook_secrets", None) or [])
    configured = webhook_secret(current_app, "bland")
    return own + (configured.replace(",", " ").split() if configured else [])


def _parse(body: bytes, headers):
    # No secret configured means nothing can be verified: refuse (401) rather than accept unsigned calls.
    return bland.parse_webhook(body, headers, _secrets())


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
        "200": {"description": "recorded (or already recorded: the first answer is repeated)"},
        "400": {"description": "signed but unreadable; nothing stored"},
        "401": {"description": "missing or wrong signature; nothing stored"},
        "503": {"description": "recorded, but the workflow service is down: Bland's retry delivers it"},
    },
)
def receive_bland():
    return provider_common.receive("bland", _parse)
