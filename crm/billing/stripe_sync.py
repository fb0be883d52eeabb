"""Billing in Stripe through its SDK (`stripe.StripeClient`; the sandbox serves the same API offline):
the company's customer and metered subscription, the month's usage as meter events, and our invoice as a
finalized Stripe invoice whose payment Stripe collects (its webhooks come back to crm.webhooks.stripe).

Every create is idempotent on our business keys: customers and invoices carry an `Idempotency-Key` derived
from the company or the invoice number (a retried call gets Stripe's first answer, never a second object),
and a meter event's `identifier` is company, month and metric, which Stripe's meter accepts once. Our
invoice stays the legal document (numbered, §14 UStG); Stripe's invoice carries the same lines to collect
it. Only ids travel: no address or name of a person is sent beyond the billing contact Stripe needs."""

from __future__ import annotations

import stripe

from crm.billing import invoicing, metrics
from crm.extensions import db
from crm.models import BillingAccount, Invoice, Plan

# Where the SDK sends its requests: the sandbox's http://host:port/stripe when an app (the local stack, a
# test) names it in app.extensions; unset, Stripe itself.
API_BASE_EXTENSION = "leadchain.stripe_api_base"
METER_EVENT = "leadchain_usage"  # one meter per metric in Stripe: "leadchain_usage_<metric>"


def client(api_key: str, api_base: str | None = None) -> stripe.StripeClient:
    """A client of Stripe, or of the sandbox when `api_base` names it (http://host:port/stripe)."""
    bases = {"api": api_base} if api_base else {}
    return stripe.StripeClient(api_key, base_addresses=bases, max_network_retries=2)  # type: ignore[arg-type]


def ensure_customer(sc: stripe.StripeClient, acct: BillingAccount) -> str:
    if acct.stripe_customer_id:
        return acct.stripe_customer_id
    customer = sc.v1.customers.create(
        params={
            "name": acct.legal_name,
            "email": acct.billing_email or "",
            "metadata": {"company_id": str(acct.company_id)},
        },
        options={"idempotency_key": f"leadchain-customer-c{acct.company_id}"},
    )
    acct.stripe_customer_id = customer.id
    db.session.commit()
    return customer.id


def ensure_subscription(sc: stripe.StripeClient, acct: BillingAccount, plan: Plan) -> str | None:
    if acct.stripe_subscription_id or not plan.stripe_price_id:
        return acct.stripe_subscription_id
    sub = sc.v1.subscriptions.create(
        params={"customer": ensure_customer(sc, acct), "items": [{"price": plan.stripe_price_id}]},
        options={"idempotency_key": f"leadchain-subscription-c{acct.company_id}-{plan.code}"},
    )
    acct.stripe_subscription_id = sub.id
    db.session.commit()
    return sub.id


def report_usage(sc: stripe.StripeClient, acct: BillingAccount, period: str) -> int:
    """The month's billed quantities as meter events, one per metric; returns how many Stripe took now."""
    customer = ensure_customer(sc, acct)
    sent = 0
    for metric, quantity in sorted(invoicing.used_quantities(period).items()):
        if metric not in metrics.BILLED or quantity <= 0:
            continue
        try:
            sc.v1.billing.meter_events.create(
                params={
                    "event_name": f"{METER_EVENT}_{metric}",
                    "payload": {"stripe_customer_id": customer, "value": str(quantity)},
                    "identifier": f"c{acct.company_id}-{period}-{metric}",
                }
            )
            sent += 1
        except stripe.InvalidRequestError as e:
            if getattr(e, "param", None) != "identifier":
                raise
            # Already reported (a re-run): the meter keeps the first.
    return sent


def finalize_invoice(sc: stripe.StripeClient, acct: BillingAccount, invoice: Invoice) -> str:
    """Our invoice as a finalized Stripe invoice (once); returns its Stripe id."""
    if invoice.stripe_invoice_id:
        return invoice.stripe_invoice_id
    customer = ensure_customer(sc, acct)
    key = f"leadchain-invoice-{invoice.number}"
    draft = sc.v1.invoices.create(
        params={
            "customer": customer,
            "auto_advance": False,
            "metadata": {"leadchain_invoice": invoice.number, "period": invoice.period},
        },
        options={"idempotency_key": key},
    )
    draft_id = str(draft.id)
    items = [(line["metric"], int(line["amount_cents"])) for line in invoice.lines if line["amount_cents"]]
    if invoice.vat_cents:
        items.append(("vat", invoice.vat_cents))
    for i, (what, cents) in enumerate(items):
        sc.v1.invoice_items.create(
            params={
                "customer": customer,
                "invoice": draft_id,
                "amount": cents,
                "currency": "eur",
                "description": f"{invoice.number} {what}",
            },
            options={"idempotency_key": f"{key}-item-{i}"},
        )
    final = sc.v1.invoices.finalize_invoice(draft_id, options={"idempotency_key": f"{key}-finalize"})
    invoice.stripe_invoice_id = str(final.id)
    db.session.commit()
    return invoice.stripe_invoice_id
