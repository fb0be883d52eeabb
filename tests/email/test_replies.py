"""Replies through Inbound Parse: matched to the lead, stored, a task for the owner, the chain stopped."""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa

from crm.email.tokens import reply_address
from crm.extensions import db
from crm.models import Interaction, InteractionKind, Lead, Task, WebhookDelivery
from crm.temporal_gateway import TemporalUnavailable
from tests.conftest import make_test_secrets
from tests.email.conftest import FakeGateway, Signer, email_interactions, make_lead, make_owner, multipart, send, settle
from workflows.payloads import StopSignal


def _tasks(app, lead_id):
    with app.app_context():
        rows = list(db.session.scalars(sa.select(Task).where(Task.lead_id == lead_id)))
        db.session.expunge_all()
        return rows


def test_a_reply_is_stored_tasks_the_owner_and_stops_the_chain(mail):
    owner_id = make_owner(mail.app)
    lead_id = make_lead(mail.app, "replies.anna@example.org", owner_id=owner_id, chain_id="chain-reply")
    assert send(mail.acts, lead_id, "nurture", 1).status == "sent"
    settle(mail)
    [reply] = email_interactions(mail.app, lead_id, direction="inbound")
    assert reply.kind == InteractionKind.EMAIL and reply.status == "received" and reply.provider == "sendgrid"
    assert reply.subject.startswith("AW: ") and "rufen Sie mich" in reply.summary
    [task] = _tasks(mail.app, lead_id)
    assert task.owner_id == owner_id and task.kind == "email_reply" and "rufen Sie mich" in task.details
    assert mail.gateway.signals == [("chain-reply", "stop", StopSignal("replied", actor="sendgrid-inbound"))]
    # SendGrid's retry of the same post stores nothing twice (the chain is told again, harmlessly).
    [delivery] = [d for d in mail.sandbox.dispatcher.sent if d.url.endswith("/inbound")]
    r = httpx.post(
        delivery.url,
        content=delivery.body,
        headers={"Content-Type": delivery.content_type, **delivery.sign(delivery.body)},
    )
    assert r.status_code == 200
    assert len(email_interactions(mail.app, lead_id, direction="inbound")) == 1 and len(_tasks(mail.app, lead_id)) == 1


def _inbound(client, signer, fields):
    body, content_type = multipart(fields)
    return client.post(
        "/webhooks/sendgrid/inbound", data=body, headers={**signer.headers(body), "Content-Type": content_type}
    )


def _fields(sender, to="antwort@reply.leadchain.example", subject="Re: Ihre Unterlagen", extra_headers=""):
    return {
        "headers": f"Message-ID: <{abs(hash((sender, subject, extra_headers)))}@mail.example>\n"
        f"From: {sender}\nTo: {to}\nSubject: {subject}\n{extra_headers}",
        "from": sender,
        "to": to,
        "subject": subject,
        "text": "Gerne, rufen Sie an.",
        "html": "",
        "envelope": json.dumps({"to": [to], "from": sender}),
        "spam_score": "0.0",
        "attachments": "0",
    }


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_inbound_matching_auto_replies_forgeries_and_an_unreachable_chain(app, client):
    signer = Signer()
    app.extensions["leadchain.secrets"] = make_test_secrets(
        LEADCHAIN_SECRET_PROVIDERS_SENDGRID_WEBHOOK_PUBLIC_KEY=signer.public_b64
    )
    gateway = app.extensions["leadchain.temporal"] = FakeGateway()
    lead_id = make_lead(app, "Dana.Lee@Example.org", chain_id="chain-dana")

    # Forged: nothing stored.
    body, content_type = multipart(_fields("dana.lee@example.org"))
    r = client.post(
        "/webhooks/sendgrid/inbound", data=body, headers={**Signer().headers(body), "Content-Type": content_type}
    )
    assert r.status_code == 401
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0

    # An out-of-office answer is kept, but neither stops the chain nor bothers the owner.
    r = _inbound(
        client,
        signer,
        _fields(
            "Dana Lee <dana.lee+work@example.org>",
            subject="Abwesenheitsnotiz",
            extra_headers="Auto-Submitted: auto-replied\n",
        ),
    )
    assert r.status_code == 200 and r.get_json()["stop"] is None
    [auto] = email_interactions(app, lead_id, direction="inbound")
    assert auto.status == "auto_reply" and _tasks(app, lead_id) == [] and gateway.signals == []

    # From another address (an assistant) to the signed reply address: still the lead.
    with app.app_context():
        to = reply_address("antwort@reply.leadchain.example", lead_id)
    r = _inbound(client, signer, _fields("assistant@example.org", to=f"Vertrieb <{to}>", subject="AW: Termin"))
    assert r.status_code == 200 and r.get_json()["lead"] == lead_id
    assert len(_tasks(app, lead_id)) == 1
    assert gateway.signals == [("chain-dana", "stop", StopSignal("replied", actor="sendgrid-inbound"))]

    # Nobody we know: answered 200 (SendGrid must not retry), nothing stored about them.
    r = _inbound(client, signer, _fields("stranger@example.net", subject="Hallo"))
    assert r.status_code == 200 and r.get_json()["status"] == "ignored"

    # Temporal down: stored, 503 so SendGrid retries; the retry tells the chain and stores nothing twice.
    class Down(FakeGateway):
        def signal(self, *a):
            raise TemporalUnavailable("down")

    app.extensions["leadchain.temporal"] = Down()
    fields = _fields("dana.lee@example.org", subject="AW: Rückruf")
    assert _inbound(client, signer, fields).status_code == 503
    app.extensions["leadchain.temporal"] = gateway
    assert _inbound(client, signer, fields).status_code == 200
    assert len(_tasks(app, lead_id)) == 2 and len(gateway.signals) == 2
    assert len(email_interactions(app, lead_id, direction="inbound")) == 3


async def test_a_reply_stops_the_running_nurture_sequence(mail_chain):
    """The real chain on the dev server: a below-gate lead is nurtured by email through SendGrid
    (sandbox); the recipient replies; Inbound Parse → CRM → stop signal → the chain ends "replied"
    before the second nurture email, and the owner has a task."""
    accepted = mail_chain.post_lead(
        {"first_name": "Tom", "email": "tom+replies@example.org", "phone": "+49 30 23125199"}
    )
    outcome = await mail_chain.outcome(accepted["chain_id"], timeout=45)
    assert outcome.stage == "replied", outcome
    messages = mail_chain.box.messages(chain_id=accepted["chain_id"])
    assert [m.custom_args["message_key"].split(":")[2:] for m in messages] == [["nurture", "0", "1"]]
    lead = mail_chain.db(lambda: db.session.get(Lead, outcome.lead_id))
    tasks = mail_chain.db(lambda: list(db.session.scalars(sa.select(Task).where(Task.lead_id == outcome.lead_id))))
    assert [t.kind for t in tasks] == ["email_reply"] and tasks[0].owner_id == lead.owner_id
    inbound = mail_chain.db(
        lambda: list(
            db.session.scalars(
                sa.select(Interaction).where(Interaction.lead_id == outcome.lead_id, Interaction.direction == "inbound")
            )
        )
    )
    assert len(inbound) == 1 and inbound[0].status == "received"
