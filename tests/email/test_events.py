"""Duplicated, reordered and forged Event Webhook batches: the final state equals a clean run, and
forged batches change nothing."""

from __future__ import annotations

import json
import random
import time
import uuid

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import (
    AuditEntry,
    Channel,
    ConsentRecord,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    WebhookDelivery,
)
from sandbox.state import WebhookMode
from tests.conftest import make_test_secrets, set_settings
from tests.email.conftest import FakeGateway, Signer, email_interactions, make_lead, send, settle


@pytest.fixture
def signed(app):
    signer = Signer()
    app.extensions["leadchain.secrets"] = make_test_secrets(
        LEADCHAIN_SECRET_PROVIDERS_SENDGRID_WEBHOOK_PUBLIC_KEY=signer.public_b64
    )
    app.extensions["leadchain.temporal"] = FakeGateway()
    return signer


def _message(app, email: str, chain_id: str) -> tuple[int, str]:
    lead_id = make_lead(app, email, chain_id=chain_id)
    message_id = uuid.uuid4().hex[:22]
    with app.app_context():
        db.session.add(
            Interaction(
                lead_id=lead_id,
                kind=InteractionKind.EMAIL,
                direction=Direction.OUTBOUND,
                provider="sendgrid",
                provider_ref=message_id,
                status="sent",
                data={"template": "nurture", "step": 1},
            )
        )
        db.session.commit()
    return lead_id, message_id


def _events(email: str, message_id: str, kinds: list[tuple[str, int, dict]]) -> list[dict]:
    sg_message_id = f"{message_id}.filterdrecv-7bd5d8b4f-x2kqm-1-6762C6B8-3.0"
    return [
        {
            "email": email,
            "timestamp": 1767632400 + offset,
            "event": kind,
            "sg_message_id": sg_message_id,
            "sg_event_id": uuid.uuid4().hex,
            "category": ["leadchain", "nurture"],
            **extra,
        }
        for kind, offset, extra in kinds
    ]


SCENARIOS = {
    "engaged": [
        ("processed", 0, {}),
        ("deferred", 1, {"response": "400 try again later", "attempt": "1"}),
        ("delivered", 2, {"response": "250 OK"}),
        ("open", 5, {"sg_machine_open": False}),
        ("open", 40, {"sg_machine_open": False}),
        ("open", 41, {"sg_machine_open": True}),
        ("click", 44, {"url": "https://leadchain.example/a"}),
        ("click", 50, {"url": "https://leadchain.example/b"}),
    ],
    "bounced": [
        ("processed", 0, {}),
        ("deferred", 1, {"attempt": "1"}),
        (
            "bounce",
            3,
            {
                "type": "bounce",
                "status": "5.1.1",
                "bounce_classification": "Invalid Address",
                "reason": "550 5.1.1 no such user",
            },
        ),
    ],
    "complains": [
        ("processed", 0, {}),
        ("delivered", 1, {}),
        ("open", 4, {"sg_machine_open": False}),
        ("spamreport", 60, {}),
        ("unsubscribe", 65, {}),
    ],
}


def _snapshot(app, lead_id: int, gateway: FakeGateway, chain_id: str) -> dict:
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        [interaction] = db.session.scalars(sa.select(Interaction).where(Interaction.lead_id == lead_id)).all()
        consents = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ConsentRecord)
            .where(
                ConsentRecord.lead_id == lead_id,
                ConsentRecord.channel == Channel.EMAIL,
                ConsentRecord.withdrawn_at.is_(None),
            )
        )
        audits = sorted(
            db.session.scalars(
                sa.select(AuditEntry.action).where(
                    AuditEntry.entity_id == lead_id,
                    AuditEntry.entity_type == "lead",
                    AuditEntry.action != "lead.created",
                )
            )
        )
        return {
            "status": interaction.status,
            "data": interaction.data,
            "email_status": lead.email_status,
            "do_not_contact": lead.do_not_contact,
            "active_email_consents": consents,
            "audit": audits,
            "stops": [a.reason for c, n, a in gateway.signals if c == chain_id and n == "stop"],
        }


def _post_all(client, signer, batches):
    for batch in batches:
        r = signer.post(client, batch)
        assert r.status_code == 200, r.get_json()


def test_duplicated_and_reordered_batches_end_like_a_clean_run(app, client, signed):
    gateway = app.extensions["leadchain.temporal"]
    rng = random.Random(7)
    final = {}
    for run in ("clean", "messy"):
        for name, kinds in SCENARIOS.items():
            email = f"{name}.{run}@example.org"
            lead_id, message_id = _message(app, email, chain_id=f"chain-{run}-{name}")
            events = _events(email, message_id, kinds)
            if run == "clean":
                batches = [[e] for e in events]
            else:
                # Each event about three times, each copy with a fresh sg_event_id (SendGrid's retries),
                # all shuffled and cut into batches of random size.
                copies = [{**e, "sg_event_id": uuid.uuid4().hex} for e in events for _ in range(3)]
                rng.shuffle(copies)
                batches, i = [], 0
                while i < len(copies):
                    size = rng.randint(1, 4)
                    batches.append(copies[i : i + size])
                    i += size
            _post_all(client, signed, batches)
            final[(run, name)] = _snapshot(app, lead_id, gateway, f"chain-{run}-{name}")
    for name in SCENARIOS:
        assert final[("messy", name)] == final[("clean", name)], name

    engaged, bounced, complains = (final[("clean", n)] for n in SCENARIOS)
    assert engaged["status"] == "clicked" and engaged["data"]["opens"] == 2 and engaged["data"]["clicks"] == 2
    assert engaged["data"]["machine_opens"] == 1 and engaged["data"]["deferrals"] == 1
    assert engaged["email_status"] == "unknown" and engaged["stops"] == []
    assert bounced["status"] == "bounced" and bounced["email_status"] == "bounced"
    assert bounced["audit"] == ["lead.email_bounced"] and not bounced["do_not_contact"]
    assert complains["status"] == "opened" and set(complains["data"]["flags"]) == {"spamreport", "unsubscribe"}
    assert complains["email_status"] == "suppressed" and complains["do_not_contact"]
    assert complains["active_email_consents"] == 0 and complains["stops"] == ["unsubscribed"]
    assert complains["audit"] == ["lead.do_not_contact", "lead.email_suppressed"]


def test_forged_batches_change_nothing(app, client, signed):
    email = "complains.forged@example.org"
    lead_id, message_id = _message(app, email, chain_id="chain-forged")
    batch = _events(email, message_id, SCENARIOS["complains"])
    body = json.dumps(batch).encode()
    gateway = app.extensions["leadchain.temporal"]
    before = _snapshot(app, lead_id, gateway, "chain-forged")
    other = Signer()
    tampered = body.replace(b'"spamreport"', b'"spamreporT"')
    stale = int(time.time()) - 26 * 3600  # older than SendGrid's 24 h retry horizon
    attempts = [
        (body, other.headers(body)),  # another key
        (tampered, signed.headers(body)),  # body changed after signing
        (body, signed.headers(body, ts=stale)),  # signed, but 26 hours old
        (body, signed.headers(body, ts=int(time.time()) + 3600)),  # signed, an hour in the future
        (body, {**signed.headers(body), "X-Twilio-Email-Event-Webhook-Timestamp": str(int(time.time()) + 1)}),
        (body, {"Content-Type": "application/json"}),  # unsigned
        (body, {**signed.headers(body), "X-Twilio-Email-Event-Webhook-Signature": "not base64!"}),
    ]
    for data, headers in attempts:
        r = client.post("/webhooks/sendgrid", data=data, headers=headers)
        assert r.status_code == 401, r.get_json()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0
    assert _snapshot(app, lead_id, gateway, "chain-forged") == before
    # A tighter window, once SendGrid's retries are known to be signed anew, is one setting.
    set_settings(app, "email", sendgrid_tolerance_s=300)
    assert (
        client.post(
            "/webhooks/sendgrid", data=body, headers=signed.headers(body, ts=int(time.time()) - 600)
        ).status_code
        == 401
    )
    set_settings(app, "email", sendgrid_tolerance_s=None)
    assert _snapshot(app, lead_id, gateway, "chain-forged") == before
    # The genuine batch is accepted, so the refusals above were about the signature only.
    r = client.post("/webhooks/sendgrid", data=body, headers=signed.headers(body))
    assert r.status_code == 200
    assert _snapshot(app, lead_id, gateway, "chain-forged")["email_status"] == "suppressed"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_unknown_and_malformed_events(app, client, signed):
    r = signed.post(
        client,
        [
            {
                "event": "delivered",
                "email": "x@example.org",
                "timestamp": 1,
                "sg_message_id": "nobody.filter",
                "sg_event_id": "a",
            },
            "not an event",
            {"no": "event"},
        ],
    )
    assert r.status_code == 200
    assert [x["status"] for x in r.get_json()["results"]] == ["ignored", "ignored", "ignored"]
    body = b'{"not": "a list"}'
    assert client.post("/webhooks/sendgrid", data=body, headers=signed.headers(body)).status_code == 400


def test_sandbox_duplicates_and_reordering_end_like_a_clean_run(mail):
    """The same through the sandbox: its signed batches, each event three times with new sg_event_ids,
    batches reversed."""
    clean = make_lead(mail.app, "clicks.clean@example.org")
    assert send(mail.acts, clean, "nurture", 1).status == "sent"
    settle(mail)
    mail.sandbox.state.webhook_modes["sendgrid"] = WebhookMode(duplicate=2, reorder=True)
    messy = make_lead(mail.app, "clicks.messy@example.org")
    assert send(mail.acts, messy, "nurture", 1).status == "sent"
    settle(mail)

    def state(lead_id):
        [i] = email_interactions(mail.app, lead_id)
        data = dict(i.data)
        return i.status, data["opens"], data["clicks"], data["flags"], sorted(data["events"])

    assert state(messy) == state(clean) == ("clicked", 1, 1, [], ["click", "delivered", "open", "processed"])
    with mail.app.app_context():
        deliveries = db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery))
    assert deliveries == 8  # 4 distinct events per message, each stored once
    posts = [d for d in mail.sandbox.dispatcher.sent if d.url.endswith("/webhooks/sendgrid")]
    assert len(posts) == 3 + 5  # clean: 3 batches; messy: 3 batches + 2 re-batched copies
