"""POST /webhooks/stripe: Stripe's signed events updating a company's payment status (crm.billing.payments).

The `Stripe-Signature` header is checked over the raw body by the SDK (`stripe.Webhook.construct_event`,
a 5-minute tolerance); nothing is parsed before. An event id is handled once: a replayed event, even
correctly signed and inside the tolerance, is refused with 409 and changes nothing. The customer id in the
event's object finds the company (a platform look-up); an event for no known customer is acknowledged and
ignored, since Stripe would otherwise retry it for days."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from crm import secret_names
from crm.billing import payments
from crm.errors import ApiError
from crm.extensions import db
from crm.models import BillingAccount, StripeEventSeen
from crm.requests import raw_body
from crm.secrets import SecretsError
from crm.tenancy.routing import platform_lookup
from crm.tenancy.web import bind_request_company

if TYPE_CHECKING:
    import stripe

SIGNATURE_HEADER = "Stripe-Signature"
TOLERANCE_S = 300
bp = Blueprint("webhooks_stripe", __name__, url_prefix="/webhooks", description="Billing webhooks: Stripe")


def _verified(body: bytes) -> stripe.Event:
    import stripe  # about half a second of imports, paid on the first Stripe event, not at every start

    try:
        secret = current_app.extensions["leadchain.secrets"].get(secret_names.STRIPE_WEBHOOK_SECRET)
    except SecretsError:
        raise ApiError(503, "the signing secret is not readable now, retry later") from None
    if not secret:
        raise ApiError(404, "Stripe webhooks are not configured")
    header = request.headers.get(SIGNATURE_HEADER, "")
    try:
        event = stripe.Webhook.construct_event(body, header, secret, tolerance=TOLERANCE_S)
    except stripe.SignatureVerificationError as e:
        # Wrong, missing or stale: one answer, without saying which (the SDK's message stays in no log).
        raise ApiError(401, "missing, wrong or stale Stripe-Signature") from e
    except ValueError:
        raise ApiError(400, "the body is not a Stripe event", {"body": "must be a JSON event object"}) from None
    # The SDK refuses old timestamps only; one from the future is as stale.
    if _timestamp(header) > time.time() + TOLERANCE_S:
        raise ApiError(401, "missing, wrong or stale Stripe-Signature")
    return event


def _timestamp(header: str) -> int:
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key.strip() == "t" and value.strip().isdigit():
            return int(value)
    return 0


def _fields(body: bytes) -> tuple[str, str, str | None, str | None]:
    # The verified body read as plain JSON: the SDK's Event object converts lists and nulls on the way.
    raw = json.loads(body)
    if not isinstance(raw, dict):
        raise ApiError(400, "the body is not a Stripe event", {"body": "must be a JSON event object"})
    data = raw.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    errors = {}
    if not isinstance(raw.get("id"), str) or not raw["id"]:
        errors["id"] = "must be the event's id"
    if not isinstance(raw.get("type"), str) or not raw["type"]:
        errors["type"] = "must be the event's type"
    if not isinstance(obj, dict):
        errors["data.object"] = "must be an object"
        obj = {}
    customer, ref = obj.get("customer"), obj.get("id")
    if customer is not None and not isinstance(customer, str):
        errors["data.object.customer"] = "must be a customer id"
    if errors:
        raise ApiError(400, "the Stripe event has bad fields", errors)
    return raw["id"], raw["type"], customer, ref if isinstance(ref, str) else None


@bp.route("/stripe", methods=["POST"])
@bp.doc(
    summary="Receive Stripe's billing events",
    description=(
        "Stripe's event object, signed with `Stripe-Signature` (`t=<unix time>,v1=<hex HMAC-SHA256 of "
        "'<t>.<body>'>`), verified by the Stripe SDK with a 5-minute tolerance. invoice.paid and "
        "invoice.payment_succeeded mark the invoice paid and clear a payment warning; invoice.payment_failed "
        "warns, and after the grace period applies the hard limit. Each event id is applied once."
    ),
    parameters=[{"in": "header", "name": SIGNATURE_HEADER, "required": True, "schema": {"type": "string"}}],
    responses={
        "200": {"description": "applied, or an event billing does not act on"},
        "400": {"description": "signed but malformed: `errors` names each bad field; nothing changed"},
        "401": {"description": "missing, wrong or stale signature; nothing changed"},
        "404": {"description": "no Stripe webhook secret configured"},
        "409": {"description": "this event id was handled before (a replay); nothing changed"},
        "413": {"description": "body too large"},
    },
)
def receive_stripe() -> ResponseReturnValue:
    body = raw_body(current_app.config["LEADCHAIN"].max_webhook_bytes)
    _verified(body)
    event_id, event_type, customer, ref = _fields(body)
    with platform_lookup("stripe webhook customer"):
        company_id = (
            db.session.scalar(sa.select(BillingAccount.company_id).where(BillingAccount.stripe_customer_id == customer))
            if customer
            else None
        )
        if company_id is None:
            _seen_once(event_id, event_type)
            db.session.commit()
            return jsonify(ok=True, applied=False)
    bind_request_company(int(company_id))
    # The event id and its effect commit together: a failure leaves neither, and Stripe's retry applies it.
    _seen_once(event_id, event_type)
    applied = payments.apply(payments.PaymentChange(event_type, ref))
    if not applied:
        db.session.commit()
    return jsonify(ok=True, applied=applied)


def _seen_once(event_id: str, event_type: str) -> None:
    try:
        with db.session.begin_nested():
            db.session.add(StripeEventSeen(event_id=event_id, type=event_type[:64]))
    except sa.exc.IntegrityError:
        db.session.rollback()
        raise ApiError(409, "this Stripe event was handled before") from None
