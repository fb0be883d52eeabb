"""The one path every voice-provider webhook takes (docs/providers.md §0.1): refuse a body that is not JSON,
verify on the raw body with the provider's secrets, read it into typed, range-checked CallEvents, and in one
transaction per event record the delivery, merge the call record forward and, once the call is final, put
its result in the outbox for its chain (crm/services/call_outbox.py); then answer 2xx. The web never calls
Temporal here: the relay in the chain worker delivers the result (docs/reliability.md §3.5), so a chain
worker or Temporal that is down or slow costs a webhook nothing (issue 14 item 1).

A signed body that cannot be read answers 400 naming the field, with nothing stored, unless the provider
would retry a 4xx for ever: then the raw body is recorded as unparseable, an alert is logged and the
answer is 200 (RETRIES_ON_4XX).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import cast

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields

from crm.api.auth import SOURCE_QUOTA, FailureThrottle
from crm.errors import ApiError
from crm.extensions import db
from crm.models import UnparseablePayload
from crm.requests import raw_body
from crm.services import calls, deliveries
from crm.tenancy import routing
from crm.tenancy.web import bind_request_company
from providers import bland, vapi_events
from providers.events import CallEvent
from providers.factory import registry, webhook_secret
from providers.parsing import FieldError
from providers.wire import InvalidSignature, MalformedPayload

log = logging.getLogger(__name__)

# parse_webhook(body, headers, secrets): verify (InvalidSignature) and read (MalformedPayload).
Parser = Callable[[bytes, Mapping[str, str], Sequence[str]], list[CallEvent]]

# Whether a provider retries a 4xx answer without end (docs/providers.md §0.1): Retell retries any
# non-2xx at most 3 more times, Vapi not at all unless a backoffPlan is set; Bland documents nothing, so
# it is assumed to, and its unreadable bodies are recorded and acknowledged instead of refused.
RETRIES_ON_4XX = {"retell": False, "vapi": False, "bland": True}
# Failed provider signatures per client IP, counted like the lead webhook's (LEADCHAIN_AUTH_FAILURE_LIMIT,
# shared storage): a caller guessing secrets gets 429s, and its guesses past the limit are not checked.
SIGNATURE_FAILURES = FailureThrottle("provider-signature")


class EventResultSchema(Schema):
    status = fields.String(
        required=True, metadata={"description": "recorded | ignored | unparseable (also on a redelivery)"}
    )
    call = fields.String(metadata={"description": "the provider's call id (recorded)"})
    event = fields.String(metadata={"description": "the provider's event type (recorded)"})
    reason = fields.String(metadata={"description": "why nothing was stored (ignored)"})


class ProviderAnswerSchema(Schema):
    """The 200 of a provider webhook: one result per call event read from the body (none for a message
    type that is acknowledged and not stored)."""

    received = fields.Integer(required=True, metadata={"description": "call events read from the body"})
    results = fields.List(fields.Nested(EventResultSchema), required=True)


def _retell_parser() -> Parser:
    # Imported at the first Retell webhook, not at start-up: the Retell SDK (its verifier) takes seconds
    # to import (generated pydantic types), which every web worker would pay at boot.
    from providers.retell import parse_webhook

    return parse_webhook


def parser(provider: str) -> Parser:
    if provider == "retell":
        return _retell_parser()
    parsers: dict[str, Parser] = {"vapi": vapi_events.parse_webhook, "bland": bland.parse_webhook}
    return parsers[provider]


def secrets_for(provider: str) -> list[str]:
    """Every active verification secret: the configured provider's own (several during a rotation), then
    the secrets store's (providers/<name>-webhook-secret; Retell: its API key), whitespace or comma
    separated. Empty: nothing can be verified, every delivery is refused with 401."""
    found = registry(current_app).get(provider)
    own = getattr(found, "webhook_keys", None) or getattr(found, "webhook_secrets", None) or []
    configured = webhook_secret(current_app, provider) or ""
    merged: list[str] = []
    for secret in [*own, *configured.replace(",", " ").split()]:
        if isinstance(secret, str) and secret and secret not in merged:
            merged.append(secret)
    return merged


def company_secrets(company_id: int, provider: str) -> list[str]:
    """The secrets company `company_id`'s provider account signs with (companies/<id>/providers/<name>/...);
    the installation's company also has the installation's own (secrets_for: from before companies)."""
    store = current_app.extensions["leadchain.secrets"]
    own = store.get_list(routing.provider_secret_name(company_id, provider))
    if company_id == routing.DEFAULT_COMPANY_ID:
        own = own + [s for s in secrets_for(provider) if s not in own]
    # A company without an account of its own calls through the provider sandbox where there is one (the
    # local stack: providers.factory), whose secret then signs its events; None in production.
    sandboxed = webhook_secret(current_app, provider, company_id)
    return own + [sandboxed] if sandboxed and sandboxed not in own else own


def route(provider: str, body: bytes) -> tuple[int, list[str]]:
    """The company the event is about and the secrets its signature must match. The body is not verified
    yet: its call id, lead id, agent or number only choose whose secret is tried, and a body pointing at
    another company fails that company's signature (401). An event that no record, route or installation
    account claims: 404, nothing stored."""
    company_id = routing.company_of_provider_event(provider, routing.provider_hints(provider, body))
    if company_id is None and secrets_for(provider) and routing.company_is_active(routing.DEFAULT_COMPANY_ID):
        # Not ours by any record or route: the installation's own provider account (company 1's) may have
        # sent it (an unknown call is acknowledged and ignored, as before companies existed).
        company_id = routing.DEFAULT_COMPANY_ID
    if company_id is None:
        raise ApiError(404, f"no company receives this {provider} event")
    return company_id, company_secrets(company_id, provider)


def _require_json() -> None:
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, f"unsupported content type {mimetype or '(none)'}; send application/json")


def receive(provider: str) -> ResponseReturnValue:
    """The whole webhook: verification secrets, parser and 4xx policy are looked up by provider name."""
    body = raw_body(current_app.config["LEADCHAIN"].max_webhook_bytes)
    _require_json()
    SIGNATURE_FAILURES.check()
    company_id, secrets = route(provider, body)
    try:
        # werkzeug's Headers is a case-insensitive str -> str mapping without being a registered Mapping;
        # the providers only look names up in it, case-insensitively as they must.
        events = parser(provider)(body, cast(Mapping[str, str], request.headers), secrets)
    except InvalidSignature:
        SIGNATURE_FAILURES.failed()
        raise ApiError(401, "invalid or stale signature") from None
    except MalformedPayload as e:
        # Verified before it was read (every parser checks the signature first): the routed company's.
        bind_request_company(company_id)
        return _unreadable(provider, body, e)
    # A provider account of a company is one source: counted once verified (forgeries meet SIGNATURE_FAILURES).
    SOURCE_QUOTA.spend(f"provider:{provider}:{company_id}")
    bind_request_company(company_id)
    digest = deliveries.payload_hash(body)
    answers = []
    for event in events:

        def work(event: CallEvent = event) -> tuple[int, dict[str, object]]:
            call = calls.apply_event(event)
            if call is None:
                return 200, {"status": "ignored", "reason": "unknown call"}
            # In this transaction: the result is queued for the chain exactly when the event is recorded.
            calls.queue_result(call)
            return 200, {"status": "recorded", "call": event.call_id, "event": event.event_type}

        outcome = deliveries.process_once(f"provider:{provider}", event.event_id, digest, work)
        answers.append(outcome.body)
    return jsonify({"received": len(events), "results": answers}), 200


def _unreadable(provider: str, body: bytes, error: MalformedPayload) -> ResponseReturnValue:
    field = error.field if isinstance(error, FieldError) else "body"
    problem = error.problem if isinstance(error, FieldError) else str(error)
    if not RETRIES_ON_4XX[provider]:
        raise ApiError(400, f"unreadable {provider} payload", {field: [problem[:300]]})
    digest = deliveries.payload_hash(body)

    def work() -> tuple[int, dict[str, object]]:
        record = UnparseablePayload(
            source=f"provider:{provider}",
            payload_hash=digest,
            field=field[:200],
            problem=problem[:300],
            body=body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
        )
        db.session.add(record)
        db.session.flush()
        return 200, {"status": "unparseable", "record": record.id, "errors": {field: [problem[:300]]}}

    outcome = deliveries.process_once(f"provider:{provider}", f"unparseable:{digest}", digest, work)
    if not outcome.replayed:
        # The alert: names the record and the field, never the body (it may hold personal data).
        log.error(
            "ALERT unparseable %s webhook recorded as #%s (field %s); see unparseable_payloads",
            provider,
            outcome.body.get("record"),
            field,
        )
    return jsonify(outcome.body), outcome.status
