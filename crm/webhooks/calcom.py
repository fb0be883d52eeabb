"""POST /webhooks/calcom/<connection id>: Cal.com's signed booking webhooks for one Cal.com connection
(crm/calendars/calcom_webhook.py does the work).

The connection id in the URL finds the company (a platform look-up, as the rep feed's token does) and the
signing secret (companies/<id>/calendars/<connection id>/webhook-secret in Vault); nothing is parsed
before the signature over the raw body is checked."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_smorest import Blueprint

from crm.calendars import calcom_webhook
from crm.calendars.connections import webhook_secret_name
from crm.errors import ApiError
from crm.extensions import db
from crm.models.calendars import CalendarConnection, CalendarKind
from crm.models.types import utcnow
from crm.requests import raw_body
from crm.secrets import SecretsError
from crm.tenancy.routing import platform_lookup
from crm.tenancy.web import bind_request_company

SIGNATURE_HEADER = "X-Cal-Signature-256"
bp = Blueprint("webhooks_calcom", __name__, url_prefix="/webhooks", description="Calendar webhooks: Cal.com")


MAX_ID = 2**31 - 1  # the id column's range: a larger number names no connection (and must not reach the query)


def _company_of(connection_id: int) -> int:
    if not 0 < connection_id <= MAX_ID:
        raise ApiError(404, "unknown calendar connection")
    with platform_lookup("cal.com webhook connection"):
        row = db.session.execute(
            sa.select(CalendarConnection.company_id).where(
                CalendarConnection.id == connection_id, CalendarConnection.kind == CalendarKind.CALCOM
            )
        ).first()
    if row is None:
        raise ApiError(404, "unknown calendar connection")
    return int(row[0])


@bp.route("/calcom/<int:connection_id>", methods=["POST"])
@bp.doc(
    summary="Receive Cal.com's booking webhooks",
    description=(
        "Body: Cal.com's `{triggerEvent, createdAt, payload}`; signed with `X-Cal-Signature-256`, lowercase hex "
        "HMAC-SHA256 of the raw body with the webhook's secret. Cal.com's signature has no timestamp, so a body "
        "whose `createdAt` is more than 5 minutes off is refused like a bad signature. BOOKING_CREATED, "
        "_RESCHEDULED, _REQUESTED and _PAID make the booking busy time of the connection's rep; _CANCELLED and "
        "_REJECTED free it; a booking linked to a CRM appointment moves or cancels it and gives the rep a task."
    ),
    parameters=[{"in": "header", "name": SIGNATURE_HEADER, "required": True, "schema": {"type": "string"}}],
    responses={
        "200": {"description": "applied (or a trigger that changes no busy time)"},
        "400": {"description": "signed but malformed: `errors` names each bad field; nothing changed"},
        "401": {"description": "missing, wrong or stale signature; nothing changed"},
        "404": {"description": "no Cal.com connection with this id, or no webhook secret stored for it"},
        "413": {"description": "body too large"},
    },
)
def receive_calcom(connection_id: int) -> ResponseReturnValue:
    company_id = _company_of(connection_id)
    body = raw_body(current_app.config["LEADCHAIN"].max_webhook_bytes)
    try:
        secret = current_app.extensions["leadchain.secrets"].get(webhook_secret_name(company_id, connection_id))
    except SecretsError:
        raise ApiError(503, "the signing secret is not readable now, retry later") from None
    if not secret:
        raise ApiError(404, "unknown calendar connection")
    if not calcom_webhook.signature_ok(secret, body, request.headers.get(SIGNATURE_HEADER)):
        raise ApiError(401, "missing or wrong X-Cal-Signature-256")
    try:
        parsed = json.loads(body)
    except ValueError:
        raise ApiError(400, "the body is not JSON", {"body": "must be a JSON object"}) from None
    delivery, errors = calcom_webhook.parse(parsed)
    if delivery is None:
        raise ApiError(400, "the webhook body has bad fields", errors)
    now = utcnow()
    if not calcom_webhook.fresh(delivery, now):
        raise ApiError(401, "stale signature: createdAt is more than 5 minutes off")
    bind_request_company(company_id)
    connection = db.session.get(CalendarConnection, connection_id, with_for_update=True)
    if connection is None:
        raise ApiError(404, "unknown calendar connection")
    summary = calcom_webhook.apply(connection, delivery, now)
    return jsonify(ok=True, changed=summary.changed, moved=summary.moved, cancelled=summary.cancelled)
