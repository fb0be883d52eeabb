"""Demo data for the local stack: a small sales team, and sample leads posted through the webhook.

The demo users sign in with LEADCHAIN_DEMO_PASSWORD, or else with the well-known DEMO_PASSWORD below
(local demo only: it is set just for demo users that have no password yet, never changed afterwards,
and a real deployment creates its users with `leadchain user create`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa
from flask import current_app, has_app_context

from crm.config import DemoSettings
from crm.extensions import db
from crm.models import Campaign, Role, User
from crm.ui.auth import hasher, password_problems

USERS = [
    ("manager@leadchain.local", "Maria Manager", Role.MANAGER, "de"),
    ("admin@leadchain.local", "Arne Admin", Role.ADMIN, "de"),
    ("sales.de@leadchain.local", "Sven Sales", Role.SALES, "de"),
    ("sales.en@leadchain.local", "Sarah Sales", Role.SALES, "en"),
]

DEMO_PASSWORD = "leadchain-demo-2026"  # well-known, for the local demo stack only

log = logging.getLogger(__name__)


def demo_password(settings: DemoSettings | None = None) -> str:
    """The demo users' password: Settings.demo's (LEADCHAIN_DEMO_PASSWORD), else the well-known one."""
    if settings is None:
        settings = current_app.config["LEADCHAIN"].demo if has_app_context() else DemoSettings()
    return settings.password or DEMO_PASSWORD


def seed() -> dict[str, int]:
    created_users = passwords = 0
    password = demo_password()
    if password_problems(password):
        raise ValueError("LEADCHAIN_DEMO_PASSWORD does not meet the password policy (15+ characters, not common)")
    for email, name, role, language in USERS:
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is None:
            user = User(email=email, name=name, role=role, language=language)
            db.session.add(user)
            created_users += 1
        if user.password_hash is None:
            user.password_hash = hasher().hash(password)
            passwords += 1
    campaigns = 0
    if db.session.scalar(sa.select(Campaign.id).where(Campaign.name == "demo")) is None:
        # Keyless local stack: these agent/number ids only exist in the provider sandbox.
        db.session.add(
            Campaign(
                name="demo",
                provider="retell",
                agent_id="agent_demo_de",
                from_number="+4930555000",
                language="de",
                script_variables={"product": "Leadchain Demo"},
                is_default=True,
                failover_provider="vapi",
                failover_agent_id="assistant_demo",
                failover_from_number="phone_number_demo",
            )
        )
        campaigns = 1
    db.session.commit()
    if passwords and password == DEMO_PASSWORD:
        log.warning("demo users got the well-known demo password: use this database for demos only")
    return {"users_created": created_users, "passwords_set": passwords, "campaigns_created": campaigns}


def demo_leads() -> list[dict]:
    """Synthetic sample leads shipped with the package (no real people)."""
    return json.loads((Path(__file__).with_name("demo_leads.json")).read_text(encoding="utf-8"))


def post_demo_leads(base_url: str, source: str, secret: str) -> list[dict]:
    """Send the sample leads through the real signed webhook path, as a lead source would."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    answers = []
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for lead in demo_leads():
            body = json.dumps(lead).encode()
            msg_id, ts = f"demo_{uuid.uuid4().hex}", str(int(time.time()))
            signature = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest())
            r = client.post(
                f"/webhooks/leads/{source}",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "webhook-id": msg_id,
                    "webhook-timestamp": ts,
                    "webhook-signature": f"v1,{signature.decode()}",
                },
            )
            answers.append(
                {
                    "status": r.status_code,
                    **(r.json() if r.headers.get("content-type", "").startswith("application/json") else {}),
                }
            )
    return answers
