"""Payment status from Stripe's events, and the grace period after a failed payment.

A failed payment warns the admin at once (a banner); when it is still unpaid after the grace period the
hard limit applies (crm.billing.limits). A paid invoice clears both."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from crm.extensions import db
from crm.models import BillingAccount, Invoice
from crm.models.types import utcnow

GRACE = timedelta(days=14)


@dataclass(frozen=True)
class PaymentChange:
    """What one Stripe event means for a company's account: typed, whatever Stripe's object held."""

    event_type: str  # invoice.paid | invoice.payment_failed | ...
    stripe_invoice_id: str | None


HANDLED = ("invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed")


def apply(change: PaymentChange, now: datetime | None = None) -> bool:
    """Apply to the current company's account; False when the event is not one billing acts on."""
    if change.event_type not in HANDLED:
        return False
    acct = db.session.scalar(sa.select(BillingAccount))
    if acct is None:
        return False
    invoice = (
        db.session.scalar(sa.select(Invoice).where(Invoice.stripe_invoice_id == change.stripe_invoice_id))
        if change.stripe_invoice_id
        else None
    )
    if change.event_type == "invoice.payment_failed":
        if acct.payment_status != "failed":
            # The first failure starts the grace period; later retries' failures do not restart it.
            acct.payment_status, acct.payment_failed_at = "failed", now or utcnow()
        if invoice is not None:
            invoice.status = "failed"
    else:
        acct.payment_status, acct.payment_failed_at = "ok", None
        if invoice is not None:
            invoice.status = "paid"
    db.session.commit()
    return True


def grace_over(acct: BillingAccount, now: datetime | None = None) -> bool:
    return (
        acct.payment_status == "failed"
        and acct.payment_failed_at is not None
        and ((now or utcnow()) - acct.payment_failed_at >= GRACE)
    )
