"""The billable metrics: the names usage events, plan prices and invoice lines share."""

from __future__ import annotations

CALL_PLACED = "call_placed"
CALL_MINUTES = "call_minutes"
PROVIDER_COST = "provider_cost"
APPOINTMENT_BOOKED = "appointment_booked"
EMAIL_SENT = "email_sent"
INBOUND_ANSWERED = "inbound_answered"

# In invoice line order. Provider cost is what we pay, never a line on the customer's invoice.
BILLED = (CALL_PLACED, CALL_MINUTES, APPOINTMENT_BOOKED, EMAIL_SENT, INBOUND_ANSWERED)
ALL = (*BILLED, PROVIDER_COST)


def period_of(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def parse_period(period: str) -> tuple[int, int]:
    """ "YYYY-MM" → (year, month); ValueError naming the period otherwise."""
    try:
        year, month = (int(part) for part in period.split("-"))
    except ValueError:
        raise ValueError(f"period {period!r} is not YYYY-MM") from None
    if not (2000 <= year <= 9999 and 1 <= month <= 12) or len(period) != 7:
        raise ValueError(f"period {period!r} is not YYYY-MM")
    return year, month
