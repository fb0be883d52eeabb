"""POST /webhooks/leads/<source>: web-to-lead from forms, ad platforms and partners."""

from __future__ import annotations

from functools import lru_cache

from flask import Response, current_app, jsonify, request
from flask_smorest import Blueprint
from marshmallow import ValidationError

from crm.api.auth import SOURCE_QUOTA
from crm.api.leads import status_url
from crm.api.schemas import AcceptedSchema
from crm.errors import ApiError
from crm.requests import parse_body, raw_body
from crm.schemas.lead import WebFormLeadSchema
from crm.services import deliveries, submissions
from crm.tenancy.web import bind_request_company
from crm.webhooks.signature import SIGNATURE_FAILURES, source_secrets, verify_standard_webhook

bp = Blueprint(
    "webhooks_leads", __name__, url_prefix="/webhooks", description="Signed inbound webhooks (Standard Webhooks scheme)"
)


@bp.route("/leads/<source>", methods=["POST"])
@bp.doc(
    summary="Receive a lead from a web form or partner",
    description=(
        "Body: one lead as JSON or form-encoded. Signed with the Standard Webhooks scheme: "
        "`webhook-id`, `webhook-timestamp` (5-minute tolerance) and `webhook-signature` "
        "(`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, several space-separated during secret "
        "rotation). A redelivery with the same `webhook-id` is a no-op that answers as the first."
    ),
    parameters=[
        {"in": "header", "name": h, "required": True, "schema": {"type": "string"}}
        for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ],
    responses={
        "401": {"description": "bad or stale signature; nothing stored"},
        "429": {"description": "too many bad signatures from this address, or the source's limit; see Retry-After"},
        "404": {"description": "unknown source: no secret is configured for it; nothing stored"},
        "413": {"description": "body too large"},
        "415": {"description": "unsupported content type"},
        "400": {"description": "not UTF-8, not JSON, or a number that is not finite (NaN, Infinity, 1e400)"},
        "422": {"description": "invalid lead, or a webhook-id reused with another body; `errors` names each"},
    },
)
@bp.alt_response(
    202,
    schema=AcceptedSchema,
    description="stored; the lead chain takes it from here (also the answer to a redelivery)",
)
def receive_lead(source: str):
    cfg = current_app.config["LEADCHAIN"]
    found = source_secrets(source)
    body = raw_body(cfg.max_webhook_bytes)
    try:
        # Standard Webhooks signs text; a body that is not UTF-8 cannot be verified or parsed.
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "body is not valid UTF-8", {"body": ["not UTF-8"]}) from None
    SIGNATURE_FAILURES.check()
    if not verify_standard_webhook(body, request.headers, found.secrets):
        SIGNATURE_FAILURES.failed()
        raise ApiError(401, "invalid or stale webhook signature")
    # Counted once verified: forged requests meet SIGNATURE_FAILURES, never the source's own allowance.
    SOURCE_QUOTA.spend(f"leads:{source}")
    # The source's secret verified the body: the lead is the source's company's.
    bind_request_company(found.company_id)
    delivery_id = request.headers["webhook-id"]
    if len(delivery_id) > 200:
        raise ApiError(400, "webhook-id too long", {"webhook-id": ["at most 200 characters"]})
    digest = deliveries.payload_hash(body)
    key = f"leads:{source}"
    # No look-up of the delivery first (issue 21: it was a third of the request): a new delivery, the usual
    # case, is stored below, and a redelivery meets the delivery's unique key there and gets the first
    # answer back. A request that fails before that looks for an earlier delivery of its id, so a
    # redelivery answers as the first whatever has changed since, and a reused id is named as such.
    try:
        payload = parse_body(body, allow_form=True)  # strict JSON (crm.requests) or a form; else 415
        if not isinstance(payload, dict):
            raise ApiError(422, "body must be one lead object", {"json": ["expected an object"]})
        try:
            lead = _schema(cfg.default_phone_region, source).load({**payload, "source": source})
        except ValidationError as e:
            raise ApiError(422, "invalid lead", e.normalized_messages()) from None
    except ApiError:
        if (first := _first_answer(key, delivery_id, digest)) is not None:
            return first
        raise

    def work():
        # Stored with the delivery in one transaction; the chain's import step runs the intake.
        submission = submissions.submit(
            lead,
            {**payload, "source": source},
            region=cfg.default_phone_region,
            channel="webhook",
            actor=f"webhook:{source}",
        )
        # status_url: the sender (or whoever holds an API key) can follow the lead to its record.
        return 202, {
            "status": "accepted",
            "submission_id": submission.id,
            "status_url": status_url(submission.id),
            "chain_id": submission.chain_id,
            "delivery_id": delivery_id,
            "warnings": lead.warnings,
        }

    try:
        outcome = deliveries.process_once(key, delivery_id, digest, work, same_payload_required=True, known_new=True)
    except ApiError as e:
        if e.code == 422:  # a first delivery of this id with another body is stored (or won the race)
            _refuse_reused_id("", digest)
        if (first := _first_answer(key, delivery_id, digest)) is not None:
            return first  # e.g. the person was erased after the first delivery
        raise
    return jsonify(outcome.body), outcome.status


@lru_cache(maxsize=64)
def _schema(region: str, source: str) -> WebFormLeadSchema:
    # One instance per region and source: building it costs as much as loading a lead, and its state is
    # these two defaults only.
    return WebFormLeadSchema(default_region=region, default_source=source)


def _first_answer(key: str, delivery_id: str, digest: str) -> tuple[Response, int] | None:
    """The first answer to this webhook-id when it was delivered before (a 422 when the body differs)."""
    previous = deliveries.find(key, delivery_id)
    if previous is None:
        return None
    _refuse_reused_id(previous.payload_hash, digest)
    return jsonify(previous.response_body or {}), previous.response_status


def _refuse_reused_id(stored_digest: str, digest: str) -> None:
    """A webhook-id names one delivery: the same id with another body is a sender's bug (or a replayed id
    with a forged body under a leaked secret), never a second lead to drop silently. A 422 naming the
    header, as the API answers an Idempotency-Key reused with another body; nothing is stored."""
    if stored_digest != digest:
        raise ApiError(
            422,
            "webhook-id was already used for a different body",
            {"webhook-id": ["reused with a different body; send a new lead under a new webhook-id"]},
        )
