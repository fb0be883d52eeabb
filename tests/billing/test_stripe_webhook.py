"""Stripe's signed webhooks, signed with the SDK's own signing: good, forged, stale, replayed."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
import stripe

from crm.billing import limits, payments
from crm.extensions import db
from crm.models import BillingAccount
from crm.models.types import utcnow
from tests.billing import sample_month
from tests.conftest import make_test_secrets

SECRET = "whsec_test_only_0123456789"


@pytest.fixture
def stripe_client(app):
    app.extensions["leadchain.secrets"] = make_test_secrets(LEADCHAIN_SECRET_PROVIDERS_STRIPE_WEBHOOK_SECRET=SECRET)
    with app.app_context():
        sample_month.account(sample_month.plan(), stripe_customer_id="cus_test1")
        db.session.commit()
    return app.test_client()


def _event(event_id: str, kind: str, customer: str = "cus_test1") -> bytes:
    obj = {"id": "in_test1", "object": "invoice", "customer": customer}
    return json.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}).encode()


def _post(client, body: bytes, secret: str = SECRET, at: int | None = None):
    t = int(time.time()) if at is None else at
    signature = stripe.WebhookSignature._compute_signature(f"{t}.{body.decode()}", secret)
    return client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": f"t={t},v1={signature}"},
        content_type="application/json",
    )


def _status(app) -> str:
    with app.app_context():
        return db.session.scalar(sa.select(BillingAccount.payment_status))


def test_a_failed_payment_warns_then_applies_the_hard_limit_and_paying_clears_it(app, stripe_client):
    assert _post(stripe_client, _event("evt_1", "invoice.payment_failed")).status_code == 200
    assert _status(app) == "failed"
    with app.app_context():
        assert limits.state().level == limits.SOFT
        assert limits.state(utcnow() + payments.GRACE + timedelta(hours=1)).level == limits.HARD
    assert _post(stripe_client, _event("evt_2", "invoice.paid")).status_code == 200
    assert _status(app) == "ok"


def test_forged_stale_future_and_replayed_events_are_refused(app, stripe_client):
    body = _event("evt_3", "invoice.payment_failed")
    assert _post(stripe_client, body, secret="whsec_forged").status_code == 401
    assert _post(stripe_client, body, at=int(time.time()) - 600).status_code == 401
    assert _post(stripe_client, body, at=int(time.time()) + 600).status_code == 401
    no_header = stripe_client.post("/webhooks/stripe", data=body, content_type="application/json")
    assert no_header.status_code == 401
    assert _status(app) == "ok"  # none of them changed anything
    assert _post(stripe_client, body).status_code == 200
    replay = _post(stripe_client, body)
    assert replay.status_code == 409


def test_a_signed_but_malformed_event_names_its_bad_fields(stripe_client):
    body = json.dumps({"id": "", "type": 5, "data": {"object": []}}).encode()
    response = _post(stripe_client, body)
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) >= {"id", "type", "data.object"}
    assert _post(stripe_client, b"not json").status_code in (400, 401)
