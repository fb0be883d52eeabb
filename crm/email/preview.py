"""Template previews for a rep's UI: what a lead would get, rendered with the lead's data.

``preview(template, lead_id, language=None, step=1)`` → {"template", "language", "subject", "html",
"text", "attachments"}. Call it inside an app context. The unsubscribe link points at a dead preview
token (/unsubscribe/preview), so clicking it in a preview cannot unsubscribe the lead. Show the html
in a sandboxed iframe (``<iframe sandbox srcdoc=...>``): it is a whole document with inline styles.
"""

from __future__ import annotations

from typing import Any

from crm.email import ics
from crm.email import settings as email_settings
from crm.email.render import latest_appointment, render, template_file
from crm.email.tokens import unsubscribe_url
from crm.extensions import db
from crm.languages import DEFAULT_LANGUAGE, LANGUAGES
from crm.models import Lead


class LeadNotFound(LookupError):
    pass


def preview(
    template: str, lead_id: int, language: str | None = None, *, step: int = 1, context: dict[str, Any] | None = None
) -> dict[str, Any]:
    lead = db.session.get(Lead, lead_id)
    if lead is None:
        raise LeadNotFound(f"lead {lead_id} does not exist")
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    values: dict[str, Any] = {"step": step, "unsubscribe_url": unsubscribe_url(None), **(context or {})}
    attachments = []
    if template_file(template, step) == "booking_confirmation":
        appointment = values.get("appointment", latest_appointment(lead.id))
        values["appointment"] = appointment
        if appointment is not None and lead.email:
            owner = lead.owner
            address, name = email_settings.sender_address()
            invite = ics.build_invite(
                appointment,
                lead_name=lead.display_name,
                lead_email=lead.email,
                organizer_name=owner.name if owner else name,
                organizer_email=owner.email if owner else address,
                tz_name=owner.timezone if owner else None,
                language=language or lead.language,
            )
            attachments.append({"filename": "invite.ics", "type": "text/calendar", "content": invite.decode()})
    subject, html, text = render(template, lead, values, language)
    return {
        "template": template,
        "language": language or (lead.language if lead.language in LANGUAGES else DEFAULT_LANGUAGE),
        "subject": subject,
        "html": html,
        "text": text,
        "attachments": attachments,
    }
