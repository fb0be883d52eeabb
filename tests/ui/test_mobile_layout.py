"""What a newcomer met on the German UI at phone width (issue: newcomer run of `make up`).

* A lead refused by the call gate showed the gate's English detail ("lead has no phone number", "Sun 18:27
  in Europe/Berlin is outside calling hours …") under the German reason line: the timeline now shows the
  reason and the next window in the page language only.
* A note that came with the lead showed its English subject "note from demo" under "Notiz von dem
  Webformular demo".
* At 375 px the settings' users table scrolled sideways inside its box, with the role, status and password
  controls out of sight: tests/ui/browser/test_mobile_layout_browser.py (the browser fixtures live there).
"""

from __future__ import annotations

from datetime import UTC, datetime

from crm.extensions import db
from crm.models import Lead
from crm.schemas.lead import LeadInSchema
from crm.services import intake
from crm.services.compliance import GateReason, check_call_gate

SUNDAY_EVENING = datetime(2026, 12, 6, 17, 27, tzinfo=UTC)


def _refuse(app, lead_id: int) -> str:
    """The real gate's refusal for the lead, recorded as in the chain; returns its English detail."""
    with app.app_context():
        decision = check_call_gate(lead_id, now_utc=SUNDAY_EVENING, threshold=0)
        db.session.commit()
        assert not decision.allowed and decision.detail
        return decision.detail


def test_a_refused_call_reads_in_the_page_language(ui_app, leads, as_sales_a):
    details = {GateReason.NO_PHONE: _refuse(ui_app, leads.own)}
    with ui_app.app_context():
        lead = db.session.get(Lead, leads.own)
        lead.phone_e164, lead.phone_region, lead.phone_status = "+493023125109", "DE", "valid"
        db.session.commit()
    details["second"] = _refuse(ui_app, leads.own)
    assert len(set(details.values())) == 2  # two different refusals, each with its own English detail

    german = as_sales_a.get(f"/leads/{leads.own}?lang=de").get_data(as_text=True)
    assert german.count("Grund: ") >= 2  # the reason lines, in German
    english = as_sales_a.get(f"/leads/{leads.own}?lang=en").get_data(as_text=True)
    assert english.count("Reason: ") >= 2
    for detail in details.values():
        assert detail not in german and detail not in english


def test_a_note_from_the_form_has_no_english_subject(ui_app, team, as_sales_a):
    with ui_app.app_context():
        raw = {"first_name": "Nora", "last_name": "Notiz", "email": "nora@notiz.example", "note": "Rückruf erwünscht"}
        lead_id = intake.ingest(LeadInSchema().load({**raw, "source": "formular"}), actor="webhook:formular").lead_id
        db.session.get(Lead, lead_id).owner_id = team.sales_a.id
        db.session.commit()
    for lang in ("de", "en"):
        page = as_sales_a.get(f"/leads/{lead_id}?lang={lang}").get_data(as_text=True)
        assert "Rückruf erwünscht" in page, lang  # the note itself is shown
        assert "note from formular" not in page, lang
