"""Every template, both languages, sent once through the real `sendgrid` SDK to the sandbox; the
sandbox's signed events reach the CRM and move the email interaction forward."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from icalendar import Calendar

from activities.ledger import claim
from activities.report_activities import LEDGER_KIND, ledger_key
from crm.email.render import render
from crm.email.tokens import make_token
from crm.extensions import db
from crm.models import SideEffect, WebhookDelivery
from crm.reports.mail import ReportMail, SendGridReportMailer
from tests.email.conftest import email_interactions, make_appointment, make_lead, make_owner, send, settle

TEMPLATES = [
    ("follow_up", 0),
    ("booking_confirmation", 0),
    ("callback_confirmation", 0),
    ("nurture", 1),
    ("nurture", 2),
    ("nurture", 3),
]


def test_each_template_is_sent_once_and_its_events_reach_the_crm(mail):
    app = mail.app
    owner_id = make_owner(app)
    sent = {}
    for n, language in enumerate(("de", "en")):
        for template, step in TEMPLATES:
            lead_id = make_lead(
                app,
                f"clicks.{template}{step}.{language}@example.org",
                language=language,
                owner_id=owner_id,
                chain_id=f"chain-{language}",
            )
            if template == "booking_confirmation":
                make_appointment(app, lead_id, owner_id, datetime(2026, 1, 8 + n, 15, 30, tzinfo=UTC))
            key = f"chain-{language}:email:{template}:0:{step}:{lead_id}"
            result = send(mail.acts, lead_id, template, step, key=key, chain_id=f"chain-{language}")
            assert result.status == "sent" and result.message_id, result
            sent[(language, template, step)] = (lead_id, key, result.message_id)

    # The manager report goes through the same sender as the report activity sends it: its ledger row first,
    # then SendGridReportMailer (message_key = the ledger key, which routes its events to the company).
    report_key = ledger_key(7, owner_id)
    with app.app_context():
        claim(report_key, LEDGER_KIND, None)
        db.session.commit()
        report = render("manager_report", None, {"period": "KW 2", "metrics": {"Leads": 3}}, "de")
        report_message_id = SendGridReportMailer(sender=mail.sender).send(
            ReportMail(
                report_id=7,
                to_email="delivers.manager@example.org",
                to_name="Mia Manager",
                language="de",
                subject=report.subject,
                html=report.html,
                text=report.text,
                filename="bericht-kw2.pdf",
                content=b"%PDF-1.4 report",
                idempotency_key=report_key,
            )
        )
    settle(mail)

    assert len(mail.box.messages()) == len(sent) + 1
    for (language, template, _step), (lead_id, key, message_id) in sent.items():
        [message] = mail.box.messages(message_key=key)  # exactly once
        assert message.message_id == message_id
        assert message.custom_args == {"lead_id": str(lead_id), "message_key": key, "chain_id": f"chain-{language}"}
        assert {"leadchain", template} <= set(message.categories)
        with app.app_context():
            token = make_token(lead_id)
        assert message.headers["List-Unsubscribe"] == f"<{mail.crm.url}/unsubscribe/{token}>"
        assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message.reply_to.startswith(f"antwort+r{lead_id}-")
        assert f'<html lang="{language}">' in message.html and "Leadchain GmbH" in message.text
        assert f"/unsubscribe/{token}" in message.text
        if template == "booking_confirmation":
            [invite] = message.attachments
            assert invite["filename"] == "invite.ics" and invite["type"] == "text/calendar"
            [event] = Calendar.from_ical(invite["content"]).walk("VEVENT")
            assert event.decoded("DTSTART").tzinfo.key == "Europe/Berlin"
            assert str(event["ORGANIZER"]) == "mailto:olga.owner@leadchain.example"
        [interaction] = email_interactions(app, lead_id)
        assert interaction.provider == "sendgrid" and interaction.provider_ref == message_id
        assert interaction.status == "clicked", (template, interaction.status, interaction.data)
        assert interaction.data["opens"] == 1 and interaction.data["clicks"] == 1
        assert set(interaction.data["events"]) == {"processed", "delivered", "open", "click"}

    # The scoring sees the engagement.
    from crm.services.scoring import facts_for

    with app.app_context():
        lead_id = sent[("de", "follow_up", 0)][0]
        assert facts_for(lead_id).engagement.opens == 1 and facts_for(lead_id).engagement.clicks == 1
        # The report's events reached the CRM too (recorded, nothing to apply them to).
        report_events = [
            d
            for d in db.session.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.source == "provider:sendgrid"))
            if d.response_body.get("status") == "ignored"
        ]
        assert len(report_events) == 3
    [report_mail] = mail.box.messages(report_id="7", message_key=report_key)
    assert report_mail.message_id == report_message_id and report_mail.subject == "Vertriebsbericht KW 2"

    # The same key again (the chain's retry, a replay): the stored result, no second message.
    lead_id, key, message_id = sent[("en", "nurture", 2)]
    again = send(mail.acts, lead_id, "nurture", 2, key=key, chain_id="chain-en")
    assert again.message_id == message_id
    assert len(mail.box.messages(message_key=key)) == 1
    with app.app_context():
        ledger = db.session.scalar(sa.select(SideEffect).where(SideEffect.key == key))
        assert ledger.status == "done" and ledger.provider_ref == message_id and ledger.attempts == 1

    # The mailbox page shows the rendered HTML of each message.
    page = httpx.get(f"{mail.sandbox_url}/sendgrid/sandbox/mail")
    assert page.status_code == 200 and page.text.count("<iframe sandbox") == len(sent) + 1
    assert "Vertriebsbericht KW 2" in page.text
