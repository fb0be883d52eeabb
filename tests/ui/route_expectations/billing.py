"""Billing (crm.ui.billing): admins only, sales and managers get 403 and nothing changes; the operator's
overview (crm.ui.platform_billing) is refused to every company role."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from crm.extensions import db
from crm.models import BillingAccount, Invoice
from tests.ui.route_expectations import Route, Subject

ADMIN_PAGE = {"anonymous": 302, "sales": 403, "manager": 403, "admin": 200}


def _account(s: Subject) -> dict:
    # Set up again per perspective and company (the cross-company matrix): one account and invoice each.
    if db.session.scalar(sa.select(BillingAccount)) is None:
        db.session.add(BillingAccount(legal_name="Matrix GmbH", address="Weg 1", billing_email="b@example.com"))
        db.session.flush()
    found = db.session.scalar(sa.select(Invoice).where(Invoice.period == "2026-10"))
    if found is not None:
        return {"invoice_id": found.id}
    invoice = Invoice(
        number=f"LC-M-{uuid.uuid4().hex[:12]}",  # numbers are unique across companies
        period="2026-10",
        lines=[
            {
                "metric": "base_fee",
                "used": 1,
                "included": 0,
                "billed_quantity": 1,
                "unit_price_cents": 100,
                "amount_cents": 100,
            }
        ],
        net_cents=100,
        vat_rate_percent=19,
        vat_cents=19,
        gross_cents=119,
        recipient={"legal_name": "Matrix GmbH", "address": "Weg 1", "country": "DE", "vat_id": None, "language": "en"},
    )
    db.session.add(invoice)
    db.session.commit()
    return {"invoice_id": invoice.id}


def limits_snapshot(s: Subject):
    return [(a.soft_limit_cents, a.hard_limit_cents) for a in db.session.scalars(sa.select(BillingAccount))]


ROUTES = {
    "billing.index": Route(expect=ADMIN_PAGE),
    "billing.set_limits": Route(
        method="POST",
        setup=_account,
        data=lambda s: {"soft_limit_cents": "1000", "hard_limit_cents": "5000"},
        snapshot=limits_snapshot,
        isolated=True,
        expect={"anonymous": 302, "sales": 403, "manager": 403, "admin": 302},
    ),
    "billing.invoice_pdf": Route(
        setup=_account,
        url_args=lambda s: {"invoice_id": s.extra["invoice_id"]},
        isolated=True,
        expect=ADMIN_PAGE,
    ),
    "platform_billing.overview": Route(expect={"anonymous": 302, "sales": 403, "manager": 403, "admin": 403}),
}
