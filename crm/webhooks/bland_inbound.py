"""Bland inbound numbers (Bland's inbound-number docs): Bland has no pre-answer routing webhook. A number is configured
once (`POST /v1/inbound/{phone_number}`, body from `number_config`) with our post-call webhook, the company's
greeting, language and transfer target, and a `dynamic_data` request Bland makes when a call comes in; that
request is POST /webhooks/bland/inbound here, which answers the caller's context as flat variables.

Authentication: Bland signs its post-call webhook (`X-Webhook-Signature`, HMAC-SHA256 of the body) but sends a
`dynamic_data` request with the headers it was configured with, so the number's config carries
`Authorization: Bearer <the company's Bland webhook secret>`; a body signed like the post-call webhook is
accepted too. Which one Bland uses, and when in the call it makes the request, is not documented
(not in Bland's docs either: unverified)."""

from __future__ import annotations

import hmac
from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from crm.inbound import answer
from crm.inbound.recognition import CallerContext
from crm.models import PhoneNumber
from crm.webhooks import inbound_common, provider_common
from providers import bland

bp = Blueprint(
    "webhooks_bland_inbound",
    __name__,
    url_prefix="/webhooks",
    description="Bland inbound numbers: the caller's context for a number's dynamic_data request",
)

# What the agent's prompt may name ({{caller_name}} ...): CallerContext.variables' keys.
VARIABLES = (
    "caller_status",
    "caller_name",
    "caller_company",
    "language",
    "company_name",
    "greeting_name",
    "owner_name",
    "upcoming_appointments",
    "last_interactions",
    "objected_to_calls",
    "within_business_hours",
    "transfer_available",
    "caller_hint",
)


def number_config(number: PhoneNumber, base_url: str, secret: str, prompt: str) -> dict[str, Any]:
    """The body of Bland's `POST /v1/inbound/{number.e164}` (§3's configure fields) pointing the number at us."""
    base = base_url.rstrip("/")
    config: dict[str, Any] = {
        "prompt": prompt,
        "language": number.language,
        "webhook": f"{base}/webhooks/bland",
        "metadata": {"direction": "inbound", "inbound_number": str(number.id)},
        "dynamic_data": [
            {
                "url": f"{base}/webhooks/bland/inbound",
                "method": "POST",
                "headers": {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
                "body": {"from": "{{from}}", "to": "{{to}}", "call_id": "{{call_id}}"},
                "cache": False,
                "response_data": [{"name": name, "data": f"$.variables.{name}"} for name in VARIABLES],
            }
        ],
    }
    if number.agent_ref:
        config["pathway_id"] = number.agent_ref
    if number.transfer_e164:
        config["transfer_phone_number"] = number.transfer_e164
    return config


def _authentic(body: bytes, secrets: list[str]) -> bool:
    auth = request.headers.get("Authorization") or ""
    if auth[:7].lower() == "bearer " and any(
        hmac.compare_digest(auth[7:].strip().encode(), s.encode()) for s in secrets
    ):
        return True
    return bland.verify_signature(
        body, {bland.SIGNATURE_HEADER: request.headers.get(bland.SIGNATURE_HEADER, "")}, secrets
    )


def _answer(context: CallerContext) -> dict[str, Any]:
    return {"variables": context.variables(), "metadata": context.metadata()}


@bp.route("/bland/inbound", methods=["POST"])
@bp.doc(
    summary="Answer a Bland inbound number's dynamic_data request",
    description=(
        'Body: `{"from": caller, "to": the called number, "call_id"?}` (the template `number_config` sets). '
        "Authenticated with the called number's company's Bland webhook secret: `Authorization: Bearer "
        "<secret>` or `X-Webhook-Signature` (hex HMAC-SHA256 of the body). Answer: "
        '`{"variables": {...strings}, "metadata": {...}}`.'
    ),
    responses=inbound_common.REFUSALS,
)
@bp.alt_response(200, description="the caller's variables", success=True)
def receive_bland_inbound() -> ResponseReturnValue:
    body, payload = inbound_common.read_object("bland")
    found = answer.route("bland", payload.get("to"), "to")
    if not _authentic(body, provider_common.company_secrets(found.company_id, "bland")):
        raise inbound_common.refuse_signature()
    caller = answer.caller_of(payload.get("from"), "from")
    call_ref = answer.call_ref_of(payload.get("call_id") or None, "call_id")
    context, _agent = answer.serve(found, caller, call_ref)
    return jsonify(_answer(context)), 200
