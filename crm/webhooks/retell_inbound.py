"""POST /webhooks/retell/inbound: Retell's `call_inbound` webhook (docs/providers.md §1.7; Retell's
inbound-call-webhook docs).

Set per number as its `inbound_webhook_url`. The called number (`to_number`) finds the company
(crm.inbound.answer.route); the body must carry that company's Retell signature; the answer names the agent
and gives it the caller's context as `dynamic_variables` and ids as `metadata`. Retell waits at most 10 s and
retries 3 times while the number rings: nothing here waits for Temporal."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from crm.errors import ApiError
from crm.inbound import answer
from crm.webhooks import inbound_common, provider_common

SIGNATURE_HEADER = "X-Retell-Signature"
SIGNATURE = re.compile(r"v=(\d{1,16}),d=([0-9a-f]{64})")
TOLERANCE_MS = 300_000

bp = Blueprint(
    "webhooks_retell_inbound",
    __name__,
    url_prefix="/webhooks",
    description="Retell's call_inbound webhook (a number's inbound_webhook_url), signed with X-Retell-Signature",
)


def verify(body: bytes, signature: str | None, keys: Sequence[str], now_ms: int | None = None) -> bool:
    """Retell's scheme (docs/providers.md §1.6, as retell.lib.verify): `v=<ms>,d=<hex HMAC-SHA256(key, body + ms)>`,
    at most 5 minutes off either way. Written out rather than imported: the Retell SDK takes seconds to import
    and the caller is ringing."""
    match = SIGNATURE.fullmatch(signature or "")
    if match is None or not keys:
        return False
    stamp, given = match.groups()
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now_ms - int(stamp)) > TOLERANCE_MS:
        return False
    message = body + stamp.encode()
    return any(hmac.compare_digest(hmac.new(key.encode(), message, hashlib.sha256).hexdigest(), given) for key in keys)


@bp.route("/retell/inbound", methods=["POST"])
@bp.doc(
    summary="Answer Retell's call_inbound webhook",
    description=(
        'Body: `{"event": "call_inbound", "call_inbound": {"from_number", "to_number", "agent_id"?, '
        "\"call_id\"?}}`. Verified on the raw body with the called number's company's Retell key "
        "(`X-Retell-Signature: v=<ms>,d=<hex>`, 5 minutes either way). Answer: "
        '`{"call_inbound": {"override_agent_id"?, "dynamic_variables": {...strings}, "metadata": {...}}}` '
        "with the caller's context (known, unknown: now a lead with source phone, or withheld)."
    ),
    parameters=[{"in": "header", "name": SIGNATURE_HEADER, "required": True, "schema": {"type": "string"}}],
    responses={
        **inbound_common.REFUSALS,
        "400": {"description": "not a call_inbound event, or a field of the wrong type (named); nothing stored"},
        "401": {"description": "missing, wrong or stale signature; nothing stored"},
    },
)
@bp.alt_response(200, description="the agent and the caller's variables", success=True)
def receive_call_inbound() -> ResponseReturnValue:
    body, payload = inbound_common.read_object("retell")
    if payload.get("event") != "call_inbound":
        raise ApiError(400, "not a Retell call_inbound event", {"event": ["must be call_inbound"]})
    inbound = payload.get("call_inbound")
    if not isinstance(inbound, dict):
        raise ApiError(400, "not a Retell call_inbound event", {"call_inbound": ["missing or not an object"]})
    found = answer.route("retell", inbound.get("to_number"), "call_inbound.to_number")
    secrets = provider_common.company_secrets(found.company_id, "retell")
    if not verify(body, request.headers.get(SIGNATURE_HEADER), secrets):
        raise inbound_common.refuse_signature()
    caller = answer.caller_of(inbound.get("from_number"), "call_inbound.from_number")
    call_ref = answer.call_ref_of(inbound.get("call_id"), "call_inbound.call_id")
    context, agent = answer.serve(found, caller, call_ref)
    reply: dict[str, object] = {"dynamic_variables": context.variables(), "metadata": context.metadata()}
    if agent:
        reply["override_agent_id"] = agent
    return jsonify({"call_inbound": reply}), 200
