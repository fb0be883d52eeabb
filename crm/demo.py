"""Demo data for the local stack: a small sales team and leads that go through real intake."""
from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Role, User
from crm.schemas.lead import LeadInSchema
from crm.services import intake

USERS = [
    ("manager@leadchain.local", "Maria Manager", Role.MANAGER, "de"),
    ("admin@leadchain.local", "Arne Admin", Role.ADMIN, "de"),
    ("sales.de@leadchain.local", "Sven Sales", Role.SALES, "de"),
    ("sales.en@leadchain.local", "Sarah Sales", Role.SALES, "en"),
]

LEADS = [
    {"first_name": "Jürgen", "last_name": "Weber", "company": "Kfz-Werkstatt Krause", "email": "juergen.weber@demo.example",
     "phone": "+49 30 23125101", "phone_consent": "ja", "source": "website", "interest": "Angebot für 5 Standorte"},
    {"first_name": "Anna", "last_name": "Schneider", "company": "Praxis Dr. Weber", "email": "anna.schneider@demo.example",
     "phone": "030 23125102", "source": "messe", "note": "Rückruf erwünscht"},
    {"first_name": "Mary", "last_name": "Williams", "company": "Umbrella Co", "email": "mary.williams@demo.example",
     "phone": "+1 415 555 0101", "phone_consent": True, "source": "facebook_ads", "utm_campaign": "retargeting",
     "language": "en"},
    {"first_name": "Thomas", "last_name": "Fischer", "company": "Fitnessstudio Vital", "email": "thomas.fischer@gmail.com",
     "source": "google_ads", "email_consent": "ja"},
]


def seed() -> dict[str, int]:
    created_users = 0
    for email, name, role, language in USERS:
        if db.session.scalar(sa.select(User.id).where(User.email == email)) is None:
            db.session.add(User(email=email, name=name, role=role, language=language))
            created_users += 1
    db.session.flush()
    schema = LeadInSchema(default_region="DE", default_source="demo")
    outcomes: dict[str, int] = {}
    for raw in LEADS:
        result = intake.ingest(schema.load(raw), actor="system:demo")
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    db.session.commit()
    return {"users_created": created_users, **outcomes}
