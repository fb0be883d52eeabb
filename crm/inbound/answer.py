"""The part every provider's inbound mechanism shares: the called number finds its company (before any company
is bound), and, once the provider's signature verified with that company's secrets, the caller is recognised
(or registered) in that company's scope and committed. Fast and Temporal-free: a few indexed reads, and for an
unknown caller one intake and one inbox row (crm.inbound.unknown)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from crm.errors import ApiError
from crm.extensions import db
from crm.inbound import calls, unknown
from crm.inbound.numbers import NumberRoute, e164_of, route_number
from crm.inbound.recognition import CallerContext, recognise
from crm.services.submissions import ChainKeyMissing
from crm.tenancy.web import bind_request_company

log = logging.getLogger(__name__)


def route(provider: str, to_raw: object, field: str) -> NumberRoute:
    """The company answering a call to `to_raw` (the body's field `field`, unverified yet: it only chooses
    whose secret must verify the body). 400 naming the field when it is no number, 404 when no company
    answers it."""
    to = e164_of(to_raw)
    if to is None:
        raise ApiError(400, f"unreadable {provider} inbound call", {field: ["missing or not an E.164 number"]})
    found = route_number(to, provider)
    if found is None:
        raise ApiError(404, f"no company answers this {provider} number")
    return found


def call_ref_of(raw: object, field: str) -> str | None:
    """The provider's call id (optional: Retell's early call_inbound has none); 400 naming the field when it
    is of the wrong type."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not 0 < len(raw) <= 200:
        raise ApiError(400, "unreadable inbound call", {field: ["not a call id (a string of 1-200 characters)"]})
    return raw


def caller_of(raw: object, field: str) -> object:
    """The caller's number as sent: absent or a string (a withheld number is either); another type is a 400."""
    if raw is not None and not isinstance(raw, str):
        raise ApiError(400, "unreadable inbound call", {field: ["not a phone number string"]})
    return raw


def serve(found: NumberRoute, caller_raw: object, call_ref: str | None) -> tuple[CallerContext, str | None]:
    """Recognise the caller in the number's company (bound here: the signature has verified), register an
    unknown one, commit; the caller's context and the agent the number names."""
    bind_request_company(found.company_id)
    now = datetime.now(UTC)
    context = recognise(found, caller_raw, now)
    try:
        if unknown.registers(context):
            with db.session.begin_nested():
                context = unknown.register(context, found, found.provider, call_ref, now)
    except ChainKeyMissing:
        # The caller is ringing: answer them as an unknown caller rather than fail the call. No lead is
        # stored (it could not get its chain); the operator's alert is the ChainKeyMissing log line.
        log.error("inbound call served without a new lead: the chain key is not configured")
    if call_ref is not None:
        # The call's record (KPIs, the missed-call sweep), made once per call id; the voice bridge makes it
        # when the provider sent no id here (Retell's early call_inbound).
        calls.record_answered(
            found.provider,
            call_ref,
            number_id=found.number_id,
            lead_id=context.lead_id,
            within_hours=context.within_business_hours,
            now=now,
        )
    db.session.commit()
    return context, found.agent_ref
