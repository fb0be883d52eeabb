"""Demo data for the local stack: a small sales team, and sample leads posted through the webhook."""
from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Campaign, Role, User

USERS = [
    ("manager@leadchain.local", "Maria Manager", Role.MANAGER, "de"),
    ("admin@leadchain.local", "Arne Admin", Role.ADMIN, "de"),
    ("sales.de@leadchain.local", "Sven Sales", Role.SALES, "de"),
    ("sales.en@leadchain.local", "Sarah Sales", Role.SALES, "en"),
]

def seed() -> dict[str, int]:
    created_users = 0
    for email, name, role, language in USERS:
        if db.session.scalar(sa.select(User.id).where(User.email == email)) is None:
            db.session.add(User(email=email, name=name, role=role, language=language))
            created_users += 1
    campaigns = 0
    if db.session.scalar(sa.select(Campaign.id).where(Campaign.name == "demo")) is None:
        # Keyless local stack: these agent/number ids only exist in the provider sandbox.
        db.session.add(Campaign(name="demo", provider="retell", agent_id="agent_demo_de", from_number="+4930555000",
                                language="de", script_variables={"product": "Leadchain Demo"}, is_default=True,
                                failover_provider="vapi", failover_agent_id="assistant_demo",
                                failover_from_number="phone_number_demo"))
        campaigns = 1
    db.session.commit()
    return {"users_created": created_users, "campaigns_created": campaigns}


def demo_leads() -> list[dict]:
    """Synthetic sample leads shipped with the package (no real people)."""
    return json.loads((Path(__file__).with_name("demo_leads.json")).read_text(encoding="utf-8"))


def post_demo_leads(base_url: str, source: str, secret: str) -> list[dict]:
    """Send the sample leads through the real signed webhook path, as a lead source would."""
    import base64
    import hashlib
    import hmac
    import time
    import uuid

    import httpx
    key = base64.b64decode(secret.removeprefix("whsec_"))
    answers = []
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for lead in demo_leads():
            body = json.dumps(lead).encode()
            msg_id, ts = f"demo_{uuid.uuid4().hex}", str(int(time.time()))
            signature = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest())
            r = client.post(f"/webhooks/leads/{source}", content=body, headers={
                "Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": ts,
                "webhook-signature": f"v1,{signature.decode()}"})
            answers.append({"status": r.status_code, **(r.json() if r.headers.get("content-type", "").startswith(
                "application/json") else {})})
    return answers
