"""A rep previews a template with a lead's data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm.email.preview import LeadNotFound, preview
from tests.email.conftest import make_appointment, make_lead, make_owner


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_preview_renders_with_the_leads_data(app):
    owner_id = make_owner(app)
    lead_id = make_lead(
        app, "preview@example.org", first_name="Dana", last_name="<Lee>", language="en", owner_id=owner_id
    )
    make_appointment(app, lead_id, owner_id, datetime(2026, 2, 3, 9, 0, tzinfo=UTC))
    with app.app_context():
        shown = preview("booking_confirmation", lead_id)
        assert shown["language"] == "en"
        assert shown["subject"] == "Appointment confirmed: Tuesday, 3 February 2026 at 10:00 (CET)"
        assert "Hello Dana," in shown["text"] and "&lt;Lee&gt;" not in shown["html"]  # greeting: first name
        assert "Olga Owner" in shown["text"]
        [invite] = shown["attachments"]
        assert "DTSTART;TZID=Europe/Berlin:20260203T100000" in invite["content"]
        # The link in a preview cannot unsubscribe the lead.
        assert "/unsubscribe/preview" in shown["text"] and "/unsubscribe/preview" in shown["html"]
        german = preview("nurture", lead_id, "de", step=3)
        assert german["language"] == "de" and german["subject"] == "Sollen wir uns melden?"
        assert "Guten Tag Dana &lt;Lee&gt;," in german["html"]
        with pytest.raises(LeadNotFound):
            preview("follow_up", 999999)
        french = preview("nurture", lead_id, "fr", step=3)
        assert french["language"] == "fr" and french["subject"] == "Souhaitez-vous que nous prenions contact ?"
        with pytest.raises(ValueError):
            preview("follow_up", lead_id, "it")
