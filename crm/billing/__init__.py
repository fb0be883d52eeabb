"""Billing (issue 20): usage metering, plans and limits, invoices and Stripe. See docs/billing.md."""
