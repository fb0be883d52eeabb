"""The sandbox's SendGrid as the real SDK sees it: auth, validation errors, 202 + X-Message-Id, and
Event Webhook signatures the SDK's own verifier accepts."""

from __future__ import annotations

import json

import httpx
import pytest
from python_http_client.exceptions import BadRequestsError, UnauthorizedError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.mail import Mail

from sandbox.app import SandboxConfig, create_sandbox_app
from sandbox.sendgrid import persona_for
from tests.email.conftest import FastServerThread


@pytest.fixture(scope="module")
def sandbox_only():
    app = create_sandbox_app(SandboxConfig(webhook_base=None, step_s=0.01))
    with FastServerThread(app) as server:
        server.sandbox = app.extensions["sandbox"]
        yield server


def _client(server, key="SG.sandbox-key"):
    return SendGridAPIClient(api_key=key, host=f"{server.url}/sendgrid")


def test_accepts_a_valid_mail_with_202_and_a_message_id(sandbox_only):
    mail = Mail(
        from_email="vertrieb@leadchain.example",
        to_emails="quiet.sdk@example.org",
        subject="Hallo",
        plain_text_content="Text",
        html_content="<p>Text</p>",
    )
    response = _client(sandbox_only).send(mail)
    assert response.status_code == 202 and response.body == b""
    message_id = response.headers["X-Message-Id"]
    [stored] = [m for m in sandbox_only.sandbox.sendgrid.messages() if m.message_id == message_id]
    assert stored.persona == "quiet" and stored.text == "Text" and stored.html == "<p>Text</p>"


def test_bad_key_gets_sendgrids_401(sandbox_only):
    mail = Mail(from_email="a@leadchain.example", to_emails="b@example.org", subject="s", plain_text_content="t")
    with pytest.raises(UnauthorizedError) as e:
        _client(sandbox_only, key="SG.wrong").send(mail)
    assert e.value.to_dict == {
        "errors": [
            {"field": None, "message": "The provided authorization grant is invalid, expired, or revoked", "help": None}
        ]
    }


@pytest.mark.parametrize(
    "payload,field",
    [
        (
            {
                "personalizations": [{"to": [{"email": "b@example.org"}]}],
                "subject": "s",
                "content": [{"type": "text/plain", "value": "t"}],
            },
            "from",
        ),
        (
            {
                "from": {"email": "a@leadchain.example"},
                "subject": "s",
                "content": [{"type": "text/plain", "value": "t"}],
            },
            "personalizations",
        ),
        (
            {
                "from": {"email": "a@leadchain.example"},
                "personalizations": [{"to": [{"email": "b@example.org"}]}],
                "subject": "s",
            },
            "content",
        ),
        (
            {
                "from": {"email": "a@leadchain.example"},
                "personalizations": [{"to": [{"email": "not-an-address"}]}],
                "subject": "s",
                "content": [{"type": "text/plain", "value": "t"}],
            },
            "personalizations.0.to.0.email",
        ),
        (
            {
                "from": {"email": "a@leadchain.example"},
                "personalizations": [{"to": [{"email": "b@example.org"}]}],
                "content": [{"type": "text/plain", "value": "t"}],
            },
            "subject",
        ),
        (
            {
                "from": {"email": "a@leadchain.example"},
                "personalizations": [{"to": [{"email": "b@example.org"}]}],
                "subject": "s",
                "content": [{"type": "text/html", "value": "<p>t</p>"}, {"type": "text/plain", "value": "t"}],
            },
            "content",
        ),
        (
            {
                "from": {"email": "a@leadchain.example"},
                "personalizations": [{"to": [{"email": "b@example.org"}]}],
                "subject": "s",
                "content": [{"type": "text/plain", "value": "t"}],
                "custom_args": {"lead_id": 7},
            },
            "custom_args.lead_id",
        ),
        (
            {
                "from": {"email": "a@leadchain.example"},
                "personalizations": [{"to": [{"email": "b@example.org"}]}],
                "subject": "s",
                "content": [{"type": "text/plain", "value": "t"}],
                "categories": [str(i) for i in range(11)],
            },
            "categories",
        ),
        (
            {
                "from": {"email": "a@leadchain.example"},
                "personalizations": [{"to": [{"email": "b@example.org"}]}],
                "subject": "s",
                "content": [{"type": "text/plain", "value": "t"}],
                "attachments": [{"content": "not base64!", "filename": "x.ics", "type": "text/calendar"}],
            },
            "attachments.0.content",
        ),
        (
            {
                "from": {"email": "a@leadchain.example"},
                "personalizations": [{"to": [{"email": "b@example.org"}]}],
                "subject": "s",
                "content": [{"type": "text/plain", "value": "t"}],
                "headers": {"Subject": "x"},
            },
            "headers",
        ),
    ],
)
def test_invalid_payloads_get_sendgrids_400(sandbox_only, payload, field):
    before = len(sandbox_only.sandbox.sendgrid.messages())
    with pytest.raises(BadRequestsError) as e:
        _client(sandbox_only).send(payload)
    errors = e.value.to_dict["errors"]
    assert field in [err["field"] for err in errors]
    assert all(set(err) == {"message", "field", "help"} and err["message"] for err in errors)
    assert len(sandbox_only.sandbox.sendgrid.messages()) == before


def test_sandbox_mode_validates_without_sending(sandbox_only):
    payload = {
        "from": {"email": "a@leadchain.example"},
        "personalizations": [{"to": [{"email": "b@example.org"}]}],
        "subject": "s",
        "content": [{"type": "text/plain", "value": "t"}],
        "mail_settings": {"sandbox_mode": {"enable": True}},
    }
    before = len(sandbox_only.sandbox.sendgrid.messages())
    assert _client(sandbox_only).send(payload).status_code == 200
    assert len(sandbox_only.sandbox.sendgrid.messages()) == before


def test_event_signatures_verify_with_the_sdk(sandbox_only):
    public_key = httpx.get(f"{sandbox_only.url}/sendgrid/sandbox/public-key").json()["public_key"]
    body = json.dumps([{"event": "processed", "email": "x@example.org", "timestamp": 1}]).encode()
    headers = sandbox_only.sandbox.sendgrid.sign(body)
    verifier = EventWebhook(public_key)
    assert verifier.verify_signature(
        body.decode(),
        headers["X-Twilio-Email-Event-Webhook-Signature"],
        headers["X-Twilio-Email-Event-Webhook-Timestamp"],
    )
    assert not verifier.verify_signature(
        body.decode().replace("processed", "delivered"),
        headers["X-Twilio-Email-Event-Webhook-Signature"],
        headers["X-Twilio-Email-Event-Webhook-Timestamp"],
    )


def test_personas_by_tag_or_local_part():
    assert persona_for("anna+bounces@example.org") == "bounces"
    assert persona_for("clicks.follow_up.de@example.org") == "clicks"
    assert persona_for("spam@example.org") == "spamreport"
    assert persona_for("Tom+Replies@Example.org") == "replies"
    assert persona_for("anna@example.org") == "delivers"
