"""Billing steps: issue the company's invoice of a month (crm.billing.invoicing: once per company and
month), then email its PDF to the billing contact at most once, with a ledger row (SideEffect, kind
"invoice_email", key "invoice:<id>:mail") written before the send as the report mails do; a retry whose
earlier attempt's fate is unknown asks the mailer's send journal instead of sending again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.ledger import claim, mark_done
from activities.rows import require_row
from crm import secret_names
from crm.billing import invoicing, stripe_sync
from crm.billing.invoice_pdf import LABELS, render_pdf
from crm.billing.metrics import parse_period
from crm.extensions import db
from crm.models import Invoice, SideEffect
from crm.models.types import utcnow
from crm.reports.mail import ReportMail, ReportMailer
from workflows.billing_payloads import (
    InvoiceIssued,
    InvoiceSent,
    IssueInvoiceInput,
    SendInvoiceInput,
    StripeSynced,
    StripeSyncInput,
)

LEDGER_KIND = "invoice_email"


def ledger_key(invoice_id: int) -> str:
    return f"invoice:{invoice_id}:mail"


class BillingActivities:
    def __init__(self, app: Flask, mailer: ReportMailer | None) -> None:
        self.app = app
        self.mailer = mailer

    @activity.defn(name="issue_invoice")
    def issue_invoice(self, inp: IssueInvoiceInput) -> InvoiceIssued:
        try:
            parse_period(inp.period)
        except ValueError as e:
            raise ApplicationError(str(e), type="InvalidBillingRequest", non_retryable=True) from None
        with self.app.app_context():
            try:
                issued = invoicing.issue(inp.period)
            except invoicing.NoBillingAccount as e:
                raise ApplicationError(str(e), type="NoBillingAccount", non_retryable=True) from None
            return InvoiceIssued(issued.invoice_id, issued.number, issued.created)

    @activity.defn(name="send_invoice")
    def send_invoice(self, inp: SendInvoiceInput) -> InvoiceSent:
        with self.app.app_context():
            invoice = require_row(Invoice, inp.invoice_id)
            acct = invoicing.account()
            if self.mailer is None or acct is None or not acct.billing_email:
                # Nothing recorded: once a sender or a billing contact exists, a re-run sends.
                return InvoiceSent(False, refused="no email sender or no billing contact")
            key = ledger_key(invoice.id)
            row = claim(key, LEDGER_KIND, None)
            if row.status == "done":
                db.session.commit()
                return InvoiceSent(False, already_sent=True)
            if row.attempts > 0:
                found = self.mailer.find_sent(key)
                if found:
                    return self._done(row, invoice, found)
            mail = _compose(invoice, acct.billing_email, acct.legal_name, key)
            row.attempts += 1
            db.session.commit()
            message_id = self.mailer.send(mail)
            return self._done(require_row(SideEffect, row.id), invoice, message_id)

    def _done(self, row: SideEffect, invoice: Invoice, message_id: str) -> InvoiceSent:
        mark_done(row, self.mailer.name if self.mailer else "", message_id, {"invoice_id": invoice.id})
        invoice = require_row(Invoice, invoice.id)
        invoice.emailed_at = invoice.emailed_at or utcnow()
        db.session.commit()
        return InvoiceSent(True)

    @activity.defn(name="sync_invoice_to_stripe")
    def sync_invoice_to_stripe(self, inp: StripeSyncInput) -> StripeSynced:
        with self.app.app_context():
            api_key = self.app.extensions["leadchain.secrets"].get(secret_names.STRIPE_API_KEY)
            acct = invoicing.account()
            if not api_key or acct is None:
                return StripeSynced(None, skipped="Stripe is not configured for this company")
            sc = stripe_sync.client(api_key, self.app.extensions.get(stripe_sync.API_BASE_EXTENSION))
            stripe_sync.report_usage(sc, acct, inp.period)
            return StripeSynced(stripe_sync.finalize_invoice(sc, acct, require_row(Invoice, inp.invoice_id)))

    def all(self) -> list[Callable[..., Any]]:
        return [self.issue_invoice, self.send_invoice, self.sync_invoice_to_stripe]


def _compose(invoice: Invoice, to_email: str, to_name: str, key: str) -> ReportMail:
    lang = str(invoice.recipient.get("language") or "de")
    lang = lang if lang in LABELS else "de"
    title = f"{LABELS[lang]['invoice']} {invoice.number}"
    text = (
        f"{title}\n\nIm Anhang: Ihre Rechnung für {invoice.period}.\n"
        if lang == "de"
        else f"{title}\n\nAttached: your invoice for {invoice.period}.\n"
    )
    return ReportMail(
        report_id=invoice.id,
        to_email=to_email,
        to_name=to_name,
        language=lang,
        subject=title,
        html=f"<p>{text.replace(chr(10), '<br>')}</p>",
        text=text,
        filename=f"{invoice.number}.pdf",
        content=render_pdf(invoice),
        idempotency_key=key,
    )
