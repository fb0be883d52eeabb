"""Bland inbound numbers (docs/inbound.md sec. 7): Bland has no pre-answer routing webhook and no live protocol with our
bridge; its agent runs at Bland on the number's configuration (crm.inbound.bland_config: `POST /v1/inbound/
{phone_number}`). That configuration makes Bland call three kinds of routes here:

* `POST /webhooks/bland/inbound`: the number's `dynamic_data` request when the call comes in; the caller's
  context as flat variables (and the call's record, made once per call id);
* `POST /webhooks/bland/inbound/tools/<tool>`: the number's custom tools during the call (free times, book,
  move, cancel, a question, a message: crm.inbound.bland_actions), each once per identical request;
* `POST /webhooks/bland/inbound/call`: the number's post-call webhook (crm.inbound.bland_postcall).

Authentication: Bland sends `dynamic_data` and tool requests with the headers they were configured with, so
the number's configuration carries `Authorization: Bearer <the company's Bland webhook secret>` (a body signed
like the post-call webhook is accepted too); the post-call webhook is signed with `X-Webhook-Signature`
(hex HMAC-SHA256 of the raw body). The called number (`to`) chooses whose secret must verify."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from crm.errors import ApiError
from crm.inbound import answer, bland_actions, bland_config, bland_postcall
from crm.inbound.numbers import NumberRoute
from crm.inbound.recognition import CallerContext
from crm.services import deliveries
from crm.tenancy.web import bind_request_company
from crm.webhooks import inbound_common, provider_common
from providers import bland
from providers.wire import MalformedPayload

bp = Blueprint(
    "webhooks_bland_inbound",
    __name__,
    url_prefix="/webhooks",
    description="Bland inbound numbers: the caller's context, the agent's tools and the post-call webhook",
)

# Kept here for the callers that named them here first.
VARIABLES = bland_config.VARIABLES
number_config = bland_config.number_config
TOOL_NAMES = tuple(t[0] for t in bland_config.TOOLS)


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


def _verified_call(body: bytes, payload: dict[str, Any]) -> tuple[NumberRoute, str]:
    found = answer.route("bland", payload.get("to"), "to")
    if not _authentic(body, provider_common.company_secrets(found.company_id, "bland")):
        raise inbound_common.refuse_signature()
    call_ref = answer.call_ref_of(payload.get("call_id") or payload.get("c_id") or None, "call_id")
    if call_ref is None:
        raise ApiError(400, "unreadable bland inbound call", {"call_id": ["required"]})
    bind_request_company(found.company_id)
    return found, call_ref


@bp.route("/bland/inbound/tools/<tool>", methods=["POST"])
@bp.doc(
    summary="Run one of a Bland inbound number's custom tools",
    description=(
        f"Tools: {', '.join(TOOL_NAMES)}. Body: the tool's `body` template as Bland fills it: `call_id` and `to` "
        "(system variables) and the agent's inputs. Authenticated like the dynamic_data request. Only a call "
        "our dynamic_data answer recorded is served; its caller and number come from that record. An identical "
        'request is answered from the durable delivery record. Answer: `{"ok", "result", "message", ...}`; '
        "`message` is what the agent says."
    ),
    responses={**inbound_common.REFUSALS, "404": {"description": "no such tool, number or call"}},
)
@bp.alt_response(200, description="the tool's answer", success=True)
def receive_bland_tool(tool: str) -> ResponseReturnValue:
    if tool not in TOOL_NAMES:
        raise ApiError(404, f"no bland inbound tool {tool!r}")
    body, payload = inbound_common.read_object("bland")
    found, call_ref = _verified_call(body, payload)
    call = bland_actions.find_call(found, call_ref)
    if call is None:
        raise ApiError(404, "no bland inbound call with this id on this number")
    now = datetime.now(UTC)

    def work() -> tuple[int, dict[str, Any]]:
        return 200, _run(tool, call, payload, now)

    # The key names the call, the tool and the exact request: Bland's retry of a timed-out tool changes nothing.
    key = f"{tool}:{deliveries.payload_hash(call_ref.encode() + b'|' + body)}"
    outcome = deliveries.process_once("bland-inbound-tool", key, deliveries.payload_hash(body), work)
    return jsonify(outcome.body), outcome.status


def _run(tool: str, call: bland_actions.Call, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    get = payload.get
    if tool == "free_times":
        return bland_actions.free_times(call, get("appointment"), get("after"), now)
    if tool == "book":
        return bland_actions.book(call, get("start"), now)
    if tool == "move":
        return bland_actions.move(call, get("appointment"), get("start"), now)
    if tool == "cancel":
        return bland_actions.cancel(call, get("appointment"), now)
    if tool == "question":
        return bland_actions.question(call, get("question"), now)
    return bland_actions.message(call, get("message"), get("callback"), now)


@bp.route("/bland/inbound/call", methods=["POST"])
@bp.doc(
    summary="Receive a Bland inbound number's post-call webhook",
    description=(
        "Body: Bland's flat call-details object (`inbound: true`, `to` the called number, `from` the caller, "
        "`transferred_to`, transcripts, summary). Signed with `X-Webhook-Signature` (hex HMAC-SHA256 of the raw "
        "body with the called number's company's Bland webhook secret). Once per call: a resend is answered "
        "from the durable delivery record."
    ),
    responses=inbound_common.REFUSALS,
)
@bp.alt_response(200, description="recorded", success=True)
def receive_bland_inbound_call() -> ResponseReturnValue:
    body, payload = inbound_common.read_object("bland")
    found = answer.route("bland", payload.get("to"), "to")
    secrets = provider_common.company_secrets(found.company_id, "bland")
    if not bland.verify_signature(body, {bland.SIGNATURE_HEADER: request.headers.get(bland.SIGNATURE_HEADER, "")},
                                  secrets):  # fmt: skip
        raise inbound_common.refuse_signature()
    if payload.get("inbound") is False:
        raise ApiError(400, "unreadable bland inbound call", {"inbound": ["not an inbound call"]})
    try:
        event = bland.event_from_details(payload)
    except MalformedPayload as e:
        raise ApiError(400, "unreadable bland inbound call", {"body": [str(e)[:300]]}) from None
    bind_request_company(found.company_id)
    now = datetime.now(UTC)

    def work() -> tuple[int, dict[str, Any]]:
        return 200, bland_postcall.finish(found, event, payload, now)

    digest = deliveries.payload_hash(body)
    outcome = deliveries.process_once("provider:bland-inbound", f"call:{event.call_id}", digest, work)
    return jsonify(outcome.body), outcome.status
