"""Stripe through its SDK against the sandbox over HTTP: customer, metered subscription, the month's usage
as meter events, our invoice finalized in Stripe; a re-run creates nothing twice."""

from __future__ import annotations

import httpx
import pytest

from crm.billing import invoicing, stripe_sync
from crm.extensions import db
from crm.models import BillingAccount, Invoice, Plan
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.billing import sample_month
from tests.sandbox_fixtures import ServerThread


@pytest.fixture
def stripe_sandbox():
    with ServerThread(create_sandbox_app(SandboxConfig())) as server:
        yield server


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_customer_subscription_usage_and_invoice_once(ctx, stripe_sandbox):
    plan = sample_month.plan(stripe_price_id="price_leadchain_starter")
    acct = sample_month.account(plan)
    sample_month.facts(calls=5, emails=3)
    issued = invoicing.issue(sample_month.PERIOD)
    sc = stripe_sync.client("sk_test_sandbox", f"{stripe_sandbox.url}/stripe")

    for _ in range(2):  # the second round is a re-run: the stored ids and Stripe's idempotency keep it at one
        acct = db.session.get(BillingAccount, acct.id)
        stripe_sync.ensure_subscription(sc, acct, db.session.get(Plan, plan.id))
        stripe_sync.report_usage(sc, acct, sample_month.PERIOD)
        stripe_sync.finalize_invoice(sc, acct, db.session.get(Invoice, issued.invoice_id))

    state = httpx.get(f"{stripe_sandbox.url}/sandbox/stripe/state").json()
    kinds = [o["object"] for o in state["objects"]]
    assert kinds.count("customer") == 1 and kinds.count("subscription") == 1 and kinds.count("invoice") == 1
    stripe_invoice = next(o for o in state["objects"] if o["object"] == "invoice")
    invoice = db.session.get(Invoice, issued.invoice_id)
    assert stripe_invoice["status"] == "open" and stripe_invoice["total"] == invoice.gross_cents
    assert invoice.stripe_invoice_id == stripe_invoice["id"]
    values = {e["event_name"]: int(e["payload"]["value"]) for e in state["meter_events"]}
    assert values == {
        "leadchain_usage_call_placed": 5,
        "leadchain_usage_call_minutes": 10,
        "leadchain_usage_appointment_booked": 1,
        "leadchain_usage_email_sent": 3,
        "leadchain_usage_inbound_answered": 1,
    }
