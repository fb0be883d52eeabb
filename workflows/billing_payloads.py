"""Payloads of the monthly billing workflow and its activities: ids, periods and counts (no amounts of a
person, no addresses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

BILLING_TASK_QUEUE = "leadchain-billing"


@dataclass
class BillingRequest:
    """A schedule's (or an operator's) run: `period` "YYYY-MM" overrides the month before `at` (default: the
    schedule's scheduled time, else the workflow's start)."""

    company_id: int
    period: str | None = None
    at: datetime | None = None


@dataclass
class IssueInvoiceInput:
    period: str


@dataclass
class InvoiceIssued:
    invoice_id: int
    number: str
    created: bool


@dataclass
class SendInvoiceInput:
    invoice_id: int


@dataclass
class InvoiceSent:
    sent: bool
    already_sent: bool = False
    refused: str | None = None


@dataclass
class StripeSyncInput:
    invoice_id: int
    period: str


@dataclass
class StripeSynced:
    stripe_invoice_id: str | None
    skipped: str | None = None


@dataclass
class BillingOutcome:
    period: str
    issued: InvoiceIssued | None
    sent: InvoiceSent | None
    skipped: str | None = None
    stripe: StripeSynced | None = None


def previous_month(at: datetime) -> str:
    """The month before `at`'s: what a run on the 1st bills (pure, so the workflow may call it)."""
    year, month = (at.year, at.month - 1) if at.month > 1 else (at.year - 1, 12)
    return f"{year:04d}-{month:02d}"
