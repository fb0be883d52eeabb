"""Test-side signing, written from the Standard Webhooks spec (not with the library the app uses)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(
    secret: str,
    body: bytes,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
        "Content-Type": content_type,
    }


def post_signed(client, source: str, payload: dict, secret: str, **kw):
    body = json.dumps(payload).encode()
    return client.post(f"/webhooks/leads/{source}", data=body, headers=signed_headers(secret, body, **kw))


def process(app, response) -> dict:
    """Run the chain's import step for the submission a webhook/API answer names; return its result."""
    from crm.extensions import db
    from crm.services import submissions

    assert response.status_code == 202, response.get_json()
    with app.app_context():
        try:
            return submissions.process(response.get_json()["submission_id"]).as_dict()
        finally:
            db.session.remove()


def in_app(app, fn):
    """Run `fn` inside an app context and hand back its result; the session is closed after."""
    from crm.extensions import db

    with app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()
