"""MonthlyBillingWorkflow: issue a company's invoice for last month (once), email it (once), and hand it to
Stripe to collect (once: crm.billing.stripe_sync).

Started by the company's monthly Temporal Schedule (workers/billing_schedule.py, the 1st, 06:00) with the
company's leadchain-company header, which scopes its activities. Deterministic: the month comes from the
request or the schedule's scheduled time; both steps are idempotent per company and month (the invoice is
unique per company and period; the email has its ledger row), so a re-run changes nothing."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.activity_refs import issue_invoice, send_invoice, sync_invoice_to_stripe
    from workflows.billing_payloads import (
        BillingOutcome,
        BillingRequest,
        InvoiceIssued,
        InvoiceSent,
        IssueInvoiceInput,
        SendInvoiceInput,
        StripeSynced,
        StripeSyncInput,
        previous_month,
    )

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
TIMEOUT = timedelta(minutes=10)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=8,
    non_retryable_error_types=["NoBillingAccount", "InvalidBillingRequest"],
)


@workflow.defn(name="MonthlyBillingWorkflow")
class MonthlyBillingWorkflow:
    @workflow.run
    async def run(self, request: BillingRequest) -> BillingOutcome:
        at = request.at or workflow.info().typed_search_attributes.get(SCHEDULED_START) or workflow.now()
        period = request.period or previous_month(at)
        try:
            issued: InvoiceIssued = await workflow.execute_activity(
                issue_invoice, IssueInvoiceInput(period), start_to_close_timeout=TIMEOUT, retry_policy=RETRY
            )
        except ActivityError as e:
            cause = e.cause
            if isinstance(cause, ApplicationError) and cause.type == "NoBillingAccount":
                return BillingOutcome(period, None, None, skipped="no billing account with a plan")
            raise
        sent: InvoiceSent = await workflow.execute_activity(
            send_invoice, SendInvoiceInput(issued.invoice_id), start_to_close_timeout=TIMEOUT, retry_policy=RETRY
        )
        # Stripe collects the payment of the invoice just issued (skipped where Stripe is not configured).
        synced: StripeSynced = await workflow.execute_activity(
            sync_invoice_to_stripe,
            StripeSyncInput(issued.invoice_id, period),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )
        return BillingOutcome(period, issued, sent, stripe=synced)
