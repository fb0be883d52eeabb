"""Unsubscribe: GET shows a confirm page and changes nothing; the one-click POST unsubscribes at once;
a suppressed, unsubscribed or bounced address is never sent to again."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from crm.email.tokens import make_token
from crm.extensions import db
from crm.models import AuditEntry, Channel, ConsentRecord
from tests.conftest import set_settings
from tests.email.conftest import FakeGateway, lead_row, make_lead, send, settle
from workflows.payloads import StopSignal

ONE_CLICK = {"data": "List-Unsubscribe=One-Click", "content_type": "application/x-www-form-urlencoded"}


@pytest.fixture
def gateway(app):
    app.extensions["leadchain.temporal"] = FakeGateway()
    return app.extensions["leadchain.temporal"]


def _token(app, lead_id):
    with app.app_context():
        return make_token(lead_id)


def _audits(app, lead_id, action):
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEntry).where(AuditEntry.entity_id == lead_id, AuditEntry.action == action)
            )
        )


def _active_email_consents(app, lead_id):
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ConsentRecord)
            .where(
                ConsentRecord.lead_id == lead_id,
                ConsentRecord.channel == Channel.EMAIL,
                ConsentRecord.withdrawn_at.is_(None),
            )
        )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "language,button", [("de", "Jetzt abmelden"), ("en", "Unsubscribe now"), ("fr", "Se désabonner maintenant")]
)
def test_get_shows_a_confirm_page_in_the_leads_language_and_changes_nothing(app, client, gateway, language, button):
    lead_id = make_lead(app, f"get.{language}@example.org", language=language, chain_id="chain-get")
    token = _token(app, lead_id)
    for _ in range(3):  # a link scanner fetching it repeatedly
        r = client.get(f"/unsubscribe/{token}")
        assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert button in page and f'<html lang="{language}">' in page and 'method="post"' in page
    assert f"get.{language}@example.org" not in page  # the address is shown masked only
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Referrer-Policy"] == "no-referrer"
    lead = lead_row(app, lead_id)
    assert lead.email_status == "unknown" and not lead.do_not_contact
    assert _active_email_consents(app, lead_id) == 1 and gateway.signals == []
    assert _audits(app, lead_id, "lead.email_unsubscribed") == []


def test_one_click_post_unsubscribes_at_once(app, client, gateway):
    lead_id = make_lead(app, "oneclick@example.org", chain_id="chain-oc")
    token = _token(app, lead_id)
    r = client.post(f"/unsubscribe/{token}", **ONE_CLICK)
    assert r.status_code == 200 and "Sie sind abgemeldet" in r.get_data(as_text=True)
    lead = lead_row(app, lead_id)
    assert lead.email_status == "unsubscribed"
    assert lead.do_not_contact  # docs/compliance.md §P5: the objection holds on every channel
    assert _active_email_consents(app, lead_id) == 0
    [entry] = _audits(app, lead_id, "lead.email_unsubscribed")
    assert entry.after["via"] == "one_click" and entry.actor == "recipient:one_click"
    assert gateway.signals == [("chain-oc", "stop", StopSignal("unsubscribed", actor="recipient:one_click"))]
    # Again (mail clients retry): same answer, no second audit entry, no second signal.
    assert client.post(f"/unsubscribe/{token}", **ONE_CLICK).status_code == 200
    assert len(_audits(app, lead_id, "lead.email_unsubscribed")) == 1 and len(gateway.signals) == 1
    # The page now says so.
    assert "bereits abgemeldet" in client.get(f"/unsubscribe/{token}").get_data(as_text=True)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_confirm_form_with_email_only_scope(app, client, gateway):
    set_settings(app, "email", unsubscribe_scope="email")
    lead_id = make_lead(app, "form@example.org", language="en")
    r = client.post(f"/unsubscribe/{_token(app, lead_id)}", data={"confirm": "1"})
    assert r.status_code == 200 and "You are unsubscribed" in r.get_data(as_text=True)
    lead = lead_row(app, lead_id)
    assert lead.email_status == "unsubscribed" and not lead.do_not_contact
    assert _audits(app, lead_id, "lead.email_unsubscribed")[0].after["via"] == "unsubscribe_page"
    assert gateway.signals == []  # no chain to tell


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_invalid_tokens_are_refused(app, client, gateway):
    lead_id = make_lead(app, "tamper@example.org")
    token = _token(app, lead_id)
    forged = _token(app, lead_id + 1).split(".")[0] + "." + token.split(".")[1]
    for bad in (forged, token[:-1] + ("x" if token[-1] != "x" else "y"), "preview", "1"):
        assert client.get(f"/unsubscribe/{bad}").status_code == 404
        assert client.post(f"/unsubscribe/{bad}", **ONE_CLICK).status_code == 404
    # Without a lead the browser's language decides: French, else German.
    french = client.get("/unsubscribe/1", headers={"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"})
    assert french.status_code == 404 and "Lien non valide" in french.get_data(as_text=True)
    assert "Link ungültig" in client.get("/unsubscribe/1", headers={"Accept-Language": "it"}).get_data(as_text=True)
    assert lead_row(app, lead_id).email_status == "unknown"


# One backend each: the database paths are the same ones the other tests run on both.
@pytest.mark.parametrize(
    "backend,persona,status",
    [
        ("postgresql", "unsubscribes", "unsubscribed"),
        ("sqlite", "spamreport", "suppressed"),
        ("postgresql", "bounces", "bounced"),
    ],
    indirect=["backend"],
)
def test_a_suppressed_address_is_never_sent_to_again(mail, persona, status):
    """Through the sandbox: the recipient's persona unsubscribes (the mailbox provider's one-click POST
    and SendGrid's event), reports spam or hard-bounces; every later send is refused and recorded."""
    lead_id = make_lead(mail.app, f"{persona}.again@example.org", chain_id="chain-again")
    assert send(mail.acts, lead_id, "nurture", 1).status == "sent"
    settle(mail)
    assert lead_row(mail.app, lead_id).email_status == status
    refused = send(mail.acts, lead_id, "nurture", 2)
    # An objection is do-not-contact on every channel (scope "all"); a bounce only refuses the address.
    reason = "address bounced" if status == "bounced" else "do not contact"
    assert refused.status == "refused" and refused.reason == reason
    assert len(mail.box.messages(lead_id=str(lead_id))) == 1
    assert [a.after["reason"] for a in _audits(mail.app, lead_id, "email.refused")] == [reason]
    stops = [a.reason for _, name, a in mail.gateway.signals if name == "stop"]
    assert stops == ([] if status == "bounced" else ["unsubscribed"])
    if persona == "unsubscribes":
        # Both arrived: the one-click POST to our List-Unsubscribe URL and SendGrid's unsubscribe event.
        posts = [d.url for d in mail.sandbox.dispatcher.sent]
        assert any("/unsubscribe/" in u for u in posts) and any(u.endswith("/webhooks/sendgrid") for u in posts)


def test_one_click_over_http_then_no_more_mail(mail):
    lead_id = make_lead(mail.app, "delivers.http@example.org")
    assert send(mail.acts, lead_id, "follow_up").status == "sent"
    [message] = mail.box.messages(lead_id=str(lead_id))
    link = message.headers["List-Unsubscribe"].strip("<>")
    assert httpx.get(link).status_code == 200 and lead_row(mail.app, lead_id).email_status == "unknown"
    r = httpx.post(
        link, content=b"List-Unsubscribe=One-Click", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 200 and lead_row(mail.app, lead_id).email_status == "unsubscribed"
    assert send(mail.acts, lead_id, "nurture", 1).status == "refused"
    assert len(mail.box.messages(lead_id=str(lead_id))) == 1
