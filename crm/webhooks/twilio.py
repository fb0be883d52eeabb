"""Twilio's webhooks for the `twilio_realtime` provider (docs/audio-agent.md §T4/§T6):

* `POST /webhooks/twilio/status`: call-progress callbacks of the calls we place (the URL carries our lead id
  and call key); each one moves the call's record forward, and `completed` (or busy, no-answer, failed,
  canceled) queues its result for the chain exactly once;
* `POST /webhooks/twilio/voice`: a call to one of our Twilio numbers; answered with TwiML that connects the
  caller to the voice bridge's Media Stream.

Both are verified with X-Twilio-Signature against the public URL Twilio called (twilio_common). Twilio signs
no timestamp: a replayed callback verifies, and changes nothing because each callback is processed once,
keyed by CallSid, CallStatus and SequenceNumber (crm.services.deliveries)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from flask import Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from crm.api.auth import SOURCE_QUOTA
from crm.errors import ApiError
from crm.inbound import answer
from crm.services import calls, deliveries, twilio_calls
from crm.tenancy import routing
from crm.tenancy.web import bind_request_company
from crm.webhooks import twilio_common
from providers import twilio_realtime, twilio_wire
from providers.events import CallEvent
from providers.parsing import FieldError
from providers.wire import InvalidSignature, MalformedPayload

NAME = twilio_wire.NAME
SOURCE = f"provider:{NAME}"
SIGNED = [{"in": "header", "name": twilio_wire.SIGNATURE_HEADER, "required": True, "schema": {"type": "string"}}]

bp = Blueprint("webhooks_twilio", __name__, url_prefix="/webhooks", description="Twilio: call status and inbound")


def _hints(form: twilio_common.Form, url: str) -> routing.ProviderHints:
    query = dict(parse_qsl(urlsplit(url).query))
    sid = (form.get("CallSid") or [""])[0]
    lead = query.get("lead", "")
    numbers = [v for name in ("To", "From") for v in form.get(name, [])[:1]]
    return routing.ProviderHints(
        call_id=sid if twilio_wire.CALL_SID.match(sid) else None,
        lead_id=int(lead) if lead.isdigit() and len(lead) < 10 else None,
        numbers=[n for n in numbers if 0 < len(n) <= 200],
    )


def _company(form: twilio_common.Form, url: str) -> int:
    company_id = routing.company_of_provider_event(NAME, _hints(form, url))
    if company_id is None and routing.company_is_active(routing.DEFAULT_COMPANY_ID):
        company_id = routing.DEFAULT_COMPANY_ID  # the installation's own account may have sent it
    if company_id is None:
        raise ApiError(404, "no company receives this Twilio callback")
    return company_id


@bp.route("/twilio/status", methods=["POST"])
@bp.doc(
    summary="Receive Twilio's call status callbacks",
    description=(
        "Form fields as Twilio sends them (CallSid, CallStatus, SequenceNumber, CallDuration, Timestamp, ...). "
        "Signed with `X-Twilio-Signature` over the public URL (with its `lead` and `key` query) and the "
        "sorted fields. Each (CallSid, CallStatus, SequenceNumber) is processed once."
    ),
    parameters=SIGNED,
    responses={
        "200": {"description": "recorded, ignored (unknown call) or a replay answered as first time"},
        "400": {"description": "a form field is missing or wrong (named); nothing stored"},
        "401": {"description": "missing, forged or wrong-URL signature; nothing stored"},
        "404": {"description": "no company receives this callback"},
        "415": {"description": "not a form post"},
    },
)
def receive_status() -> ResponseReturnValue:
    body, form = twilio_common.read_form()
    url = twilio_common.public_url()
    company_id = _company(form, url)
    headers: Mapping[str, str] = {
        twilio_wire.SIGNATURE_HEADER: request.headers.get(twilio_wire.SIGNATURE_HEADER, ""),
        twilio_realtime.URL_HEADER: url,
    }
    try:
        events = twilio_realtime.parse_webhook(body, headers, twilio_common.tokens_for(company_id))
    except InvalidSignature:
        raise twilio_common.refuse_signature() from None
    except MalformedPayload as e:
        field, problem = (e.field, e.problem) if isinstance(e, FieldError) else ("body", str(e))
        raise ApiError(400, "unreadable Twilio status callback", {field: [problem[:300]]}) from None
    SOURCE_QUOTA.spend(f"provider:{NAME}:{company_id}")
    bind_request_company(company_id)
    digest = deliveries.payload_hash(body)
    answers = []
    priced: list[str] = []  # calls whose Twilio price to fetch once their end is committed
    for event in events:

        def work(event: CallEvent = event) -> tuple[int, dict[str, object]]:
            call = calls.apply_event(event)
            if call is None:
                return 200, {"status": "ignored", "reason": "unknown call"}
            twilio_calls.remember_key(call, event.idempotency_key)
            if event.terminal:
                # Its minutes at the configured rate until Twilio's own price is fetched (after the commit).
                twilio_calls.price_call(call)
                if event.answered and event.end_status == "completed":
                    priced.append(event.call_id)
            # The chain's classification is the bridge's record's: an answered call not yet reported waits
            # for it (twilio_calls.report_wait_s; voice.bridge.realtime_records releases it).
            calls.queue_result(call, hold_s=twilio_calls.report_wait_s(call))
            return 200, {"status": "recorded", "call": event.call_id, "event": event.event_type}

        answers.append(deliveries.process_once(SOURCE, event.event_id, digest, work).body)
    for call_sid in priced:
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # the thread outlives the request
        twilio_calls.fetch_price_later(app, company_id, call_sid)
    return jsonify({"received": len(events), "results": answers}), 200


def _first(form: twilio_common.Form, name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _twiml(xml: str) -> Response:
    return Response(xml, status=200, mimetype="text/xml")


@bp.route("/twilio/voice", methods=["POST"])
@bp.doc(
    summary="Answer a call to one of our Twilio numbers",
    description=(
        "Form fields as Twilio sends them (CallSid, From, To, ...), signed with `X-Twilio-Signature`. The "
        "called number (`To`) finds the company; the answer is TwiML `<Connect><Stream>` to the voice "
        "bridge with ids only as `<Parameter>`s."
    ),
    parameters=SIGNED,
    responses={
        "400": {"description": "To or CallSid missing or wrong (named); nothing stored"},
        "401": {"description": "missing, forged or wrong-URL signature; nothing stored"},
        "404": {"description": "no company answers the called number"},
        "415": {"description": "not a form post"},
    },
)
def receive_voice() -> ResponseReturnValue:
    _body, form = twilio_common.read_form()
    found = answer.route(NAME, _first(form, "To"), "To")  # before the URL: a number nobody answers is a 404
    url = twilio_common.public_url()
    signature = request.headers.get(twilio_wire.SIGNATURE_HEADER, "")
    if not twilio_wire.verify(url, form, signature, twilio_common.tokens_for(found.company_id)):
        raise twilio_common.refuse_signature()
    try:
        sid = twilio_wire.call_sid(form)
    except FieldError as e:
        raise ApiError(400, "unreadable Twilio inbound call", {e.field: [e.problem]}) from None
    caller = answer.caller_of(_first(form, "From"), "From")
    context, agent = answer.serve(found, caller, sid)
    stream_url = current_app.config["LEADCHAIN"].providers.twilio_stream_url
    if not stream_url:
        # No bridge to talk to: refuse the call (the caller hears busy) rather than leave it ringing.
        return _twiml("<?xml version='1.0' encoding='UTF-8'?><Response><Reject /></Response>")
    parameters = {**context.metadata(), "language": found.language, **({"agent_id": agent} if agent else {})}
    return _twiml(twilio_wire.stream_twiml(stream_url, parameters))
