"""Deals tests: the service, the metrics and the API against the real databases (SQLite and PostgreSQL, the
`app` fixture of tests/conftest.py). `make_world` writes one company's sales rep, lead and booked appointment
straight through the ORM (the booking flow has tests of its own)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from crm.api import keys
from crm.extensions import db
from crm.models import Appointment, AppointmentStatus, Lead, Role, User
from crm.tenancy.context import company_scope


@dataclass(frozen=True)
class World:
    company_id: int
    rep_id: int
    lead_id: int
    appointment_id: int


def make_world(app, company_id: int = 1, tag: str = "a") -> World:
    """A sales rep, a lead they own and a confirmed appointment with it, in company `company_id`."""
    with app.app_context(), company_scope(company_id):
        rep = User(email=f"rep-{tag}@deals.example", name=f"Rep {tag.upper()}", role=Role.SALES)
        db.session.add(rep)
        db.session.flush()
        lead = Lead(
            first_name="Greta",
            last_name="Beispiel",
            company=f"Solar {tag.upper()} GmbH",
            email=f"greta-{tag}@deals.example",
            email_key=f"greta-{tag}@deals.example",
            source="web",
            owner_id=rep.id,
        )
        db.session.add(lead)
        db.session.flush()
        start = datetime(2026, 12, 10, 9, 0, tzinfo=UTC) + timedelta(days=len(tag))
        appointment = Appointment(
            lead_id=lead.id,
            owner_id=rep.id,
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            status=AppointmentStatus.CONFIRMED,
            title="Erstgespräch",
            idempotency_key=f"deals-test:{company_id}:{tag}",
        )
        db.session.add(appointment)
        db.session.commit()
        return World(company_id, rep.id, lead.id, appointment.id)


def api_key(app, company_id: int, scopes: list[str], name: str = "deals") -> dict[str, str]:
    with app.app_context(), company_scope(company_id):
        issued = keys.issue(company_id, name, scopes)
        db.session.commit()
    return {"Authorization": f"Bearer {issued.secret}"}


@pytest.fixture
def world(app) -> World:
    return make_world(app)
