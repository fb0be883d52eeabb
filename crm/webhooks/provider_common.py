"""The shape every voice-provider webhook shares: verify on the raw body, record the delivery durably,
merge the call record forward, tell the chain once the call is final."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import cast

from flask import current_app, jsonify, request

from crm.errors import ApiError
from crm.extensions import db
from crm.models import Interaction
from crm.requests import raw_body
from crm.services import calls, deliveries
from crm.temporal_gateway import TemporalUnavailable, deliver_call_result, gateway
from providers.events import CallEvent
from providers.wire import InvalidSignature, MalformedPayload

log = logging.getLogger(__name__)


Parser = Callable[[bytes, Mapping[str, str]], list[CallEvent]]


def receive(provider: str, parse: Parser, *, ok_status: int = 200):
    body = raw_body(current_app.config["LEADCHAIN"].max_webhook_bytes)
    try:
        # werkzeug's Headers is a case-insensitive str -> str mapping without being a registered Mapping;
        # the providers only look names up in it, case-insensitively as they must.
        events = parse(body, cast(Mapping[str, str], request.headers))
    except InvalidSignature:
        raise ApiError(401, "invalid or stale signature") from None
    except MalformedPayload as e:
        raise ApiError(400, f"unreadable {provider} payload: {e}"[:300]) from None
    digest = deliveries.payload_hash(body)
    answers = []
    for event in events:

        def work(event=event):
            call = calls.apply_event(event)
            if call is None:
                return 200, {"status": "ignored", "reason": "unknown call"}
            return 200, {"status": "recorded", "call": event.call_id, "event": event.event_type}

        outcome = deliveries.process_once(f"provider:{provider}", event.event_id, digest, work)
        answers.append(outcome.body)
        # Also on a redelivery: if the chain did not get the result the first time, it gets it now.
        _tell_chain(provider, event.call_id)
    return jsonify({"received": len(events), "results": answers}), ok_status


def _tell_chain(provider: str, call_id: str) -> None:
    call = db.session.scalar(
        db.select(Interaction).where(Interaction.provider == provider, Interaction.provider_ref == call_id)
    )
    result = calls.result_for(call) if call is not None else None
    chain_id = (call.data or {}).get("chain_id") if call is not None else None
    if result is None or not chain_id:
        return
    try:
        how = deliver_call_result(gateway(), chain_id, result)
    except TemporalUnavailable:
        # The record is committed; the provider retries this delivery and we try the chain again then.
        raise ApiError(
            503, "recorded; the workflow service is unavailable, retry later", headers={"Retry-After": "30"}
        ) from None
    log.info("call %s result delivered to its chain by %s", call_id, how)
