"""A sample month of billable facts for one company: the rows the ledger and provider records hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm.extensions import db
from crm.models import (
    Appointment,
    BillingAccount,
    Direction,
    InboundCall,
    Interaction,
    InteractionKind,
    Lead,
    Plan,
    Role,
    SideEffect,
    User,
)

PERIOD = "2026-11"
T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def plan(**overrides) -> Plan:
    row = Plan(
        code=overrides.pop("code", "starter"),
        name="Starter",
        base_fee_cents=4900,
        unit_prices_cents={
            "call_placed": 35,
            "call_minutes": 12,
            "appointment_booked": 250,
            "email_sent": 1,
            "inbound_answered": 40,
        },
        included={"call_placed": 2, "email_sent": 100},
        **overrides,
    )
    db.session.add(row)
    db.session.flush()
    return row


def account(plan_row: Plan, **overrides) -> BillingAccount:
    values = {
        "plan_id": plan_row.id,
        "legal_name": "Testfirma GmbH",
        "address": "Hauptstr. 1\n10115 Berlin",
        "country": "DE",
        "billing_email": "rechnung@testfirma.example",
    }
    values.update(overrides)
    row = BillingAccount(**values)
    db.session.add(row)
    db.session.flush()
    return row


def facts(calls: int = 5, emails: int = 3, at: datetime = T0) -> None:
    """`calls` placed calls of 61 s (2 started minutes) costing 9 cents each, `emails` sent emails, one
    booking, one answered and one abandoned inbound call; plus rows that are not billable."""
    lead = Lead(source="website", email="kunde@example.com")
    owner = User(email="rep@example.com", name="Rep", role=Role.SALES)
    db.session.add_all([lead, owner])
    db.session.flush()
    for i in range(calls):
        ref = f"call-{at:%m}-{i}"
        db.session.add(
            SideEffect(
                key=f"lead:{lead.id}:call:{at:%m}:{i}",
                kind="call",
                lead_id=lead.id,
                status="done",
                provider="retell",
                provider_ref=ref,
                created_at=at,
                completed_at=at,
            )
        )
        db.session.add(
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="retell",
                provider_ref=ref,
                started_at=at,
                ended_at=at + timedelta(seconds=61),
                duration_s=61,
                cost_cents=9,
                currency="USD",
            )
        )
    for i in range(emails):
        db.session.add(
            SideEffect(
                key=f"lead:{lead.id}:email:{at:%m}:{i}",
                kind="email",
                lead_id=lead.id,
                status="done",
                created_at=at,
                completed_at=at,
            )
        )
    # Not billable: a refused dial and an intent that never completed.
    db.session.add(SideEffect(key=f"lead:{lead.id}:refused:{at:%m}", kind="call", status="refused", created_at=at))
    db.session.add(SideEffect(key=f"lead:{lead.id}:intent:{at:%m}", kind="email", status="intent", created_at=at))
    db.session.add(
        Appointment(
            lead_id=lead.id,
            owner_id=owner.id,
            starts_at=at + timedelta(days=2),
            ends_at=at + timedelta(days=2, minutes=30),
            created_at=at,
        )
    )
    db.session.add(InboundCall(provider="vapi", call_ref=f"in-{at:%m}-1", outcome="answered", started_at=at))
    db.session.add(InboundCall(provider="vapi", call_ref=f"in-{at:%m}-2", outcome="abandoned", started_at=at))
    db.session.commit()
