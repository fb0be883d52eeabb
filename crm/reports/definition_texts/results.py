"""The definitions of what the calls lead to: appointments and follow-ups, costs, emails and the
breakdowns (crm.reports.definitions lists the sections; the words: the reports catalogue, see
model.py)."""

from __future__ import annotations

from crm.catalogs import NP_
from crm.reports.definition_texts.model import Figure, Section

CONVERSION = Section(
    "conversion",
    NP_("definition", "Appointments and follow-up"),
    [
        Figure("wanted", NP_("definition", "Wanted an appointment")),
        Figure("booked", NP_("definition", "Appointments booked")),
        Figure("booking_conversion", NP_("definition", "Booking conversion")),
        Figure("appointments", NP_("definition", "Appointments created")),
        Figure("follow_ups", NP_("definition", "Follow-up potential")),
    ],
)

COSTS = Section(
    "costs",
    NP_("definition", "Costs"),
    [
        Figure("billed_cost", NP_("definition", "Billed cost")),
        Figure("report_currency", NP_("definition", "Report currency")),
        Figure("total_cost", NP_("definition", "Total cost")),
        Figure("cost_per_call", NP_("definition", "Cost per call")),
        Figure("cost_per_booked", NP_("definition", "Cost per booking")),
        Figure("by_currency", NP_("definition", "By currency")),
    ],
)

EMAILS = Section(
    "emails",
    NP_("definition", "Emails"),
    [
        Figure("emails_sent", NP_("definition", "Emails sent")),
        Figure("delivered", NP_("definition", "Delivered")),
        Figure("open_rate", NP_("definition", "Open rate")),
        Figure("clicked", NP_("definition", "Clicked")),
        Figure("bounced", NP_("definition", "Bounced")),
        Figure("unsubscribed", NP_("definition", "Unsubscribed")),
    ],
)

BREAKDOWNS = Section(
    "breakdowns",
    NP_("definition", "Breakdowns"),
    [
        Figure("per_rep", NP_("definition", "Per rep")),
        Figure("per_provider", NP_("definition", "Per provider")),
        Figure("per_campaign", NP_("definition", "Per campaign")),
    ],
)
