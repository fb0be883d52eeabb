"""The words of the data-subject pages and of the export's PDF, marked for the ui catalogue.

The PDF is rendered by a worker, outside a request, so it looks its words up with crm.catalogs.gettext in
the language asked for; the pages use the same msgids through flask-babel."""

from __future__ import annotations

from crm.catalogs import N_

PDF = {
    "title": N_("Your personal data"),
    "intro": N_(
        "This document lists every record our CRM holds about you, as of the date below. The file data.json "
        "in the same archive holds the same data in machine-readable form; recordings and transcripts of "
        "calls are in the folders recordings/ and transcripts/."
    ),
    "generated": N_("Generated"),
    "request": N_("Request"),
    "table": N_("Records"),
    "fields": N_("What the fields mean"),
    "none": N_("No records."),
    "transcript": N_("Transcript"),
}

KINDS = {"export": N_("Export (copy of the data)"), "erasure": N_("Erasure")}
STATUSES = {"open": N_("open"), "running": N_("in progress"), "done": N_("done"), "failed": N_("failed")}
STEP_STATUSES = {
    "done": N_("done"),
    "not_offered": N_("not offered by the provider"),
    "failed": N_("failed"),
    "skipped": N_("nothing to do"),
}
REQUESTERS = {
    "subject": N_("the person themselves"),
    "representative": N_("a representative"),
    "authority": N_("an authority"),
}
CHANNELS = {
    "email": N_("email"),
    "letter": N_("letter"),
    "phone": N_("phone"),
    "web_form": N_("web form"),
    "in_person": N_("in person"),
}
