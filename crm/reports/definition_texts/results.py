"""The definitions of what the calls lead to: appointments and follow-ups, costs, emails and the
breakdowns (crm.reports.definitions lists the sections; the words: the reports catalogue, see
model.py)."""

from __future__ import annotations

from crm.catalogs import N_, NP_
from crm.reports.definition_texts.model import Figure, Section

CONVERSION = Section(
    "conversion",
    NP_("definition", "Appointments and follow-up"),
    [
        Figure("wanted", NP_("definition", "Wanted an appointment"), N_("definition.wanted")),
        Figure("booked", NP_("definition", "Appointments booked"), N_("definition.booked")),
        Figure("booking_conversion", NP_("definition", "Booking conversion"), N_("definition.booking_conversion")),
        Figure("appointments", NP_("definition", "Appointments created"), N_("definition.appointments")),
        Figure("follow_ups", NP_("definition", "Follow-up potential"), N_("definition.follow_ups")),
    ],
)

COSTS = Section(
    "costs",
    NP_("definition", "Costs"),
    [
        Figure("billed_cost", NP_("definition", "Billed cost"), N_("definition.billed_cost")),
        Figure("report_currency", NP_("definition", "Report currency"), N_("definition.report_currency")),
        Figure("total_cost", NP_("definition", "Total cost"), N_("definition.total_cost")),
        Figure("cost_per_call", NP_("definition", "Cost per call"), N_("definition.cost_per_call")),
        Figure("cost_per_booked", NP_("definition", "Cost per booking"), N_("definition.cost_per_booked")),
        Figure("by_currency", NP_("definition", "By currency"), N_("definition.by_currency")),
    ],
)

EMAILS = Section(
    "emails",
    NP_("definition", "Emails"),
    [
        Figure("emails_sent", NP_("definition", "Emails sent"), N_("definition.emails_sent")),
        Figure("delivered", NP_("definition", "Delivered"), N_("definition.delivered")),
        Figure("open_rate", NP_("definition", "Open rate"), N_("definition.open_rate")),
        Figure("clicked", NP_("definition", "Clicked"), N_("definition.clicked")),
        Figure("bounced", NP_("definition", "Bounced"), N_("definition.bounced")),
        Figure("unsubscribed", NP_("definition", "Unsubscribed"), N_("definition.unsubscribed")),
    ],
)

BREAKDOWNS = Section(
    "breakdowns",
    NP_("definition", "Breakdowns"),
    [
        Figure("per_rep", NP_("definition", "Per rep"), N_("definition.per_rep")),
        Figure("per_provider", NP_("definition", "Per provider"), N_("definition.per_provider")),
        Figure("per_campaign", NP_("definition", "Per campaign"), N_("definition.per_campaign")),
    ],
)
