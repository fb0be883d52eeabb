"""POST /webhooks/vapi/assistant-request: Vapi's `assistant-request` server message (Vapi's docs:
server-url/assistant-request).

A Vapi number with no assistant of its own sends it to its `server.url` (this route) when a call comes in; Vapi
gives the answer 7.5 s end to end. The called number (`message.phoneNumber.number`) finds the company, the
message must carry that company's Vapi credential (docs/providers.md §2.4: `X-Vapi-Secret` (also the
`vapi-secret` spelling of the assistant-request page), Bearer, or HMAC), and the answer names the number's
assistant with the caller's context as `assistantOverrides.variableValues`. Any other server message sent here
(a number whose server URL receives everything) takes the path of POST /webhooks/vapi."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from crm.errors import ApiError
from crm.inbound import answer
from crm.inbound.recognition import CallerContext
from crm.webhooks import inbound_common, provider_common
from providers.vapi_auth import verify_server_auth

bp = Blueprint(
    "webhooks_vapi_assistant_request",
    __name__,
    url_prefix="/webhooks",
    description="Vapi's assistant-request for inbound calls (a number's server.url)",
)


def _headers() -> dict[str, str]:
    headers = {k.lower(): v for k, v in request.headers.items()}
    if "x-vapi-secret" not in headers and "vapi-secret" in headers:
        headers["x-vapi-secret"] = headers["vapi-secret"]
    return headers


def transient_assistant(context: CallerContext) -> dict[str, object]:
    """For a number with no assistant id: a minimal transient assistant in the company's name (Vapi's
    defaults for the rest); the inbound dialog is the voice bridge's (a later step)."""
    return {"name": context.greeting_name[:40], "firstMessage": "{{greeting_name}}", "metadata": context.metadata()}


@bp.route("/vapi/assistant-request", methods=["POST"])
@bp.doc(
    summary="Answer Vapi's assistant-request",
    description=(
        'Body: `{"message": {"type": "assistant-request", "call": {"id", ...}, "phoneNumber": {"number"}, '
        '"customer": {"number"}}}`. Authenticated with the called number\'s company\'s Vapi secret '
        "(`X-Vapi-Secret` or `vapi-secret`, `Authorization: Bearer`, or HMAC `x-signature` over "
        '`{x-timestamp}.{body}`). Answer: `{"assistantId": ..., "assistantOverrides": {"variableValues": '
        '{...}, "metadata": {...}}}` (a transient `assistant` when the number names none). Other message '
        "types: as POST /webhooks/vapi."
    ),
    responses=inbound_common.REFUSALS,
)
@bp.alt_response(200, description="the assistant and the caller's variable values", success=True)
def receive_assistant_request() -> ResponseReturnValue:
    body, payload = inbound_common.read_object("vapi")
    message = payload.get("message")
    if not isinstance(message, dict):
        raise ApiError(400, "not a Vapi server message", {"message": ["missing or not an object"]})
    if message.get("type") != "assistant-request":
        return provider_common.receive("vapi")
    call = inbound_common.obj(message.get("call"))
    number = inbound_common.obj(message.get("phoneNumber") or call.get("phoneNumber"))
    found = answer.route("vapi", number.get("number"), "message.phoneNumber.number")
    if not verify_server_auth(body, _headers(), provider_common.company_secrets(found.company_id, "vapi")):
        raise inbound_common.refuse_signature()
    customer = message.get("customer", call.get("customer"))
    if customer is not None and not isinstance(customer, dict):
        raise ApiError(400, "unreadable vapi inbound call", {"message.customer": ["not an object"]})
    caller = answer.caller_of((customer or {}).get("number"), "message.customer.number")
    call_ref = answer.call_ref_of(call.get("id"), "message.call.id")
    context, assistant = answer.serve(found, caller, call_ref)
    overrides = {"variableValues": context.variables(), "metadata": context.metadata()}
    if assistant:
        return jsonify({"assistantId": assistant, "assistantOverrides": overrides}), 200
    return jsonify({"assistant": transient_assistant(context), "assistantOverrides": overrides}), 200
