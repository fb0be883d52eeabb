"""Stripe's API in the provider sandbox, the part billing uses (docs/billing.md), under the prefix /stripe
(the SDK's api base: http://host/stripe, paths /v1/...).

Stripe's shapes: form-encoded requests with bracketed keys (``items[0][price]``, ``payload[value]``), JSON
answers with ``id`` and ``object``; ``Authorization: Bearer sk_test_...``; errors as
``{"error": {"type": "invalid_request_error", "message", "param"}}`` with 400 (401 for a bad key, 404 for an
unknown id). An ``Idempotency-Key`` replays the first answer, as Stripe does for 24 hours.

* ``POST /v1/customers`` → ``cus_…``; ``POST /v1/subscriptions`` ``customer``, ``items[0][price]`` → ``sub_…``
  (status ``active``);
* ``POST /v1/billing/meter_events`` ``event_name``, ``payload[stripe_customer_id]``, ``payload[value]``,
  ``identifier`` (a repeated identifier is refused, as Stripe's meter dedupes it);
* ``POST /v1/invoices`` (a draft), ``POST /v1/invoiceitems`` ``customer``, ``invoice``, ``amount``,
  ``currency``, ``description``, ``POST /v1/invoices/{id}/finalize`` (status ``open``, total summed);
* ``GET /sandbox/stripe/state``: what was created (tests read it)."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox

API_KEY_PREFIX = "sk_test_"


class StripeState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.objects: dict[str, dict[str, Any]] = {}
        self.meter_events: dict[str, dict[str, Any]] = {}
        self.replies: dict[str, tuple[dict[str, Any], int]] = {}

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_sandbox{next(self.ids):06d}"


def _error(message: str, param: str | None = None, status: int = 400) -> ResponseReturnValue:
    kind = "invalid_request_error"
    return jsonify(error={"type": kind, "message": message, "param": param}), status


def _required(form: dict[str, str], *names: str) -> str | None:
    for name in names:
        if not form.get(name):
            return name
    return None


def _api_blueprint(state: StripeState) -> Blueprint:
    bp = Blueprint("stripe_sandbox", __name__)
    _idempotency(bp, state)
    _customer_routes(bp, state)
    _invoice_routes(bp, state)
    return bp


def _create(state: StripeState, prefix: str, obj: dict[str, Any]) -> dict[str, Any]:
    with state.lock:
        obj = {"id": state.new_id(prefix), "created": int(time.time()), "livemode": False, **obj}
        state.objects[obj["id"]] = obj
    return obj


def _idempotency(bp: Blueprint, state: StripeState) -> None:

    @bp.before_request
    def _auth() -> ResponseReturnValue | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token.startswith(API_KEY_PREFIX):
            return _error("Invalid API Key provided", status=401)
        key = request.headers.get("Idempotency-Key")
        if key and request.method == "POST" and f"{request.path}|{key}" in state.replies:
            body, status = state.replies[f"{request.path}|{key}"]
            return jsonify(body), status
        return None

    @bp.after_request
    def _remember(response):  # type: ignore[no-untyped-def]
        key = request.headers.get("Idempotency-Key")
        if key and request.method == "POST" and response.is_json:
            with state.lock:
                state.replies.setdefault(f"{request.path}|{key}", (response.get_json(), response.status_code))
        return response


def _customer_routes(bp: Blueprint, state: StripeState) -> None:
    @bp.post("/v1/customers")
    def customers() -> ResponseReturnValue:
        f = request.form
        meta = {k[9:-1]: v for k, v in f.items() if k.startswith("metadata[")}
        return jsonify(
            _create(
                state, "cus", {"object": "customer", "name": f.get("name"), "email": f.get("email"), "metadata": meta}
            )
        )

    @bp.post("/v1/subscriptions")
    def subscriptions() -> ResponseReturnValue:
        f = request.form
        missing = _required(f, "customer", "items[0][price]")
        if missing:
            return _error(f"Missing required param: {missing}.", missing)
        if f["customer"] not in state.objects:
            return _error(f"No such customer: '{f['customer']}'", "customer", 404)
        item = {"object": "subscription_item", "id": state.new_id("si"), "price": {"id": f["items[0][price]"]}}
        return jsonify(
            _create(
                state,
                "sub",
                {
                    "object": "subscription",
                    "customer": f["customer"],
                    "status": "active",
                    "items": {"object": "list", "data": [item]},
                },
            )
        )

    @bp.post("/v1/billing/meter_events")
    def meter_events() -> ResponseReturnValue:
        f = request.form
        missing = _required(f, "event_name", "payload[stripe_customer_id]", "payload[value]")
        if missing:
            return _error(f"Missing required param: {missing}.", missing)
        identifier = f.get("identifier") or state.new_id("mev")
        with state.lock:
            if identifier in state.meter_events:
                return _error("An event with this identifier already exists.", "identifier")
            event = {
                "object": "billing.meter_event",
                "event_name": f["event_name"],
                "identifier": identifier,
                "payload": {"stripe_customer_id": f["payload[stripe_customer_id]"], "value": f["payload[value]"]},
                "timestamp": int(f.get("timestamp") or time.time()),
                "livemode": False,
            }
            state.meter_events[identifier] = event
        return jsonify(event)


def _invoice_routes(bp: Blueprint, state: StripeState) -> None:
    @bp.post("/v1/invoices")
    def invoices() -> ResponseReturnValue:
        f = request.form
        if not f.get("customer"):
            return _error("Missing required param: customer.", "customer")
        meta = {k[9:-1]: v for k, v in f.items() if k.startswith("metadata[")}
        return jsonify(
            _create(
                state,
                "in",
                {
                    "object": "invoice",
                    "customer": f["customer"],
                    "status": "draft",
                    "total": 0,
                    "currency": "eur",
                    "lines": {"object": "list", "data": []},
                    "metadata": meta,
                },
            )
        )

    @bp.post("/v1/invoiceitems")
    def invoice_items() -> ResponseReturnValue:
        f = request.form
        missing = _required(f, "customer", "invoice", "amount", "currency")
        if missing:
            return _error(f"Missing required param: {missing}.", missing)
        invoice = state.objects.get(f["invoice"])
        if invoice is None:
            return _error(f"No such invoice: '{f['invoice']}'", "invoice", 404)
        if invoice["status"] != "draft":
            return _error("You can only add invoice items to draft invoices.", "invoice")
        item = _create(
            state,
            "ii",
            {
                "object": "invoiceitem",
                "invoice": f["invoice"],
                "amount": int(f["amount"]),
                "currency": f["currency"],
                "description": f.get("description"),
            },
        )
        with state.lock:
            invoice["lines"]["data"].append(item)
            invoice["total"] += item["amount"]
        return jsonify(item)

    @bp.post("/v1/invoices/<invoice_id>/finalize")
    def finalize(invoice_id: str) -> ResponseReturnValue:
        invoice = state.objects.get(invoice_id)
        if invoice is None:
            return _error(f"No such invoice: '{invoice_id}'", "invoice", 404)
        if invoice["status"] == "draft":
            invoice.update(status="open", number=f"SBX-{invoice_id[-6:]}")
        return jsonify(invoice)


def register(app: Flask, sandbox: Sandbox) -> None:
    state = StripeState()
    app.extensions["sandbox.stripe"] = state
    app.register_blueprint(_api_blueprint(state), url_prefix="/stripe")

    @app.get("/sandbox/stripe/state")
    def stripe_state() -> ResponseReturnValue:
        with state.lock:
            return jsonify(objects=list(state.objects.values()), meter_events=list(state.meter_events.values()))
