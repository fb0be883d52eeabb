"""The reference dataset of the report tests: a Thursday in January (2026-01-15, CET = UTC+1) and the
day before, with every figure worked out by hand in tests/reports/test_kpis.py.

Times are UTC. Berlin day 2026-01-15 = [2026-01-14 23:00 UTC, 2026-01-15 23:00 UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from crm.extensions import db
from crm.models import (
    Appointment,
    AppointmentStatus,
    AuditEntry,
    Campaign,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    Priority,
    Role,
    User,
)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass
class Seeded:
    anna: int
    ben: int
    mia: int
    leads: dict[str, int]


def user(name: str, role: Role = Role.SALES, language: str = "de") -> User:
    u = User(email=f"{name.lower()}@example.test", name=name, role=role, language=language)
    db.session.add(u)
    db.session.flush()
    return u


def lead(
    first: str,
    last: str,
    created: datetime,
    *,
    source: str,
    score: int | None = None,
    priority: Priority | None = None,
    owner: User | None = None,
    campaign: Campaign | None = None,
    utm_campaign: str | None = None,
    stage: str | None = None,
    company: str | None = None,
    merged_into: Lead | None = None,
) -> Lead:
    row = Lead(
        first_name=first,
        last_name=last,
        company=company,
        source=source,
        score=score,
        priority=priority,
        owner_id=owner.id if owner else None,
        campaign_id=campaign.id if campaign else None,
        utm_campaign=utm_campaign,
        chain_stage=stage,
        created_at=created,
        merged_into_id=merged_into.id if merged_into else None,
    )
    db.session.add(row)
    db.session.flush()
    return row


_refs = iter(range(1, 10_000))


def call(
    lead_row: Lead,
    provider: str,
    started: datetime | None,
    *,
    outcome: str | None = None,
    answered: bool | None = None,
    end_status: str | None = None,
    duration: int | None = None,
    sentiment: str | None = None,
    cost: int | None = None,
    currency: str = "USD",
    summary: str | None = None,
    created: datetime | None = None,
) -> Interaction:
    data = {}
    if answered is not None:
        data["answered"] = answered
    if end_status is not None:
        data["end_status"] = end_status
    row = Interaction(
        lead_id=lead_row.id,
        kind=InteractionKind.CALL,
        direction=Direction.OUTBOUND,
        provider=provider,
        provider_ref=f"call-{next(_refs)}",
        status="ended" if outcome else "queued",
        started_at=started,
        created_at=created or started,
        outcome=outcome,
        duration_s=duration,
        sentiment=sentiment,
        cost_cents=cost,
        currency=currency if cost is not None else None,
        summary=summary,
        data=data,
    )
    db.session.add(row)
    return row


def email(lead_row: Lead, status: str, started: datetime, direction: Direction = Direction.OUTBOUND) -> Interaction:
    row = Interaction(
        lead_id=lead_row.id,
        kind=InteractionKind.EMAIL,
        direction=direction,
        provider="sendgrid",
        provider_ref=f"msg-{next(_refs)}",
        status=status,
        started_at=started,
        created_at=started,
        subject="follow_up",
        data={},
    )
    db.session.add(row)
    return row


def seed_reference() -> Seeded:
    anna, ben = user("Anna Adler"), user("Ben Berg")
    mia = user("Mia Manager", Role.MANAGER, language="en")
    winter = Campaign(name="Winter", provider="retell", agent_id="a1", from_number="+4930000001")
    spring = Campaign(name="Spring", provider="vapi", agent_id="a2", from_number="+4930000002")
    db.session.add_all([winter, spring])
    db.session.flush()

    # Leads of the day (3), of the day before (2), outside (1), merged (1).
    l1 = lead(
        "Lara",
        "Lind",
        utc(2026, 1, 15, 8, 0),
        source="website",
        score=80,
        priority=Priority.HOT,
        owner=anna,
        campaign=winter,
        stage="booked",
        company="Lindwerk",
    )
    l2 = lead(
        "Kai",
        "Kurz",
        utc(2026, 1, 15, 9, 30),
        source="website",
        score=50,
        priority=Priority.WARM,
        owner=anna,
        utm_campaign="Newsletter",
        stage="nurturing",
        company="Kurz & Co",
    )
    l3 = lead(
        "Jana",
        "Jung",
        utc(2026, 1, 15, 22, 59, 59),
        source="partner",
        score=65,
        priority=Priority.WARM,
        owner=ben,
        campaign=spring,
        stage="following_up",
    )
    l4 = lead("Olaf", "Ost", utc(2026, 1, 15, 23, 0, 0), source="partner")  # Berlin 16 Jan 00:00
    l5 = lead(
        "Emil",
        "Eck",
        utc(2026, 1, 14, 10, 0),
        source="website",
        score=90,
        priority=Priority.HOT,
        owner=ben,
        campaign=winter,
        stage="calling",
    )
    l6 = lead("Frida", "Fink", utc(2026, 1, 14, 22, 59, 59), source="csv", score=20, priority=Priority.COLD, owner=anna)
    lead("Lara", "Lind", utc(2026, 1, 15, 10, 0), source="website", score=80, owner=anna, merged_into=l1)

    # Calls of the day (8 placed).
    call(
        l1,
        "retell",
        utc(2026, 1, 14, 23, 0, 0),
        outcome="booked",
        answered=True,
        end_status="completed",
        duration=300,
        sentiment="positive",
        cost=120,
    )  # C1 Berlin 00:00
    call(
        l1,
        "retell",
        utc(2026, 1, 15, 8, 30),
        outcome="voicemail",
        answered=False,
        end_status="voicemail",
        duration=20,
        cost=30,
    )  # C2 09:30
    call(
        l2,
        "vapi",
        utc(2026, 1, 15, 9, 45),
        outcome="interested",
        answered=True,
        end_status="completed",
        duration=180,
        sentiment="neutral",
        cost=90,
    )  # C3 10:45
    call(
        l3,
        "vapi",
        utc(2026, 1, 15, 12, 0),
        outcome="no_answer",
        answered=False,
        end_status="no_answer",
        duration=0,
        cost=10,
    )  # C4 13:00
    call(
        l3,
        "bland",
        utc(2026, 1, 15, 15, 0),
        outcome="do_not_call",
        answered=True,
        end_status="completed",
        duration=45,
        sentiment="negative",
        cost=40,
        summary="Bitte nicht mehr anrufen.",
    )  # C5 16:00
    call(
        l5,
        "bland",
        utc(2026, 1, 15, 16, 0),
        outcome="callback_requested",
        duration=60,
        sentiment="negative",
        summary="Later please, annoyed.",
    )  # C6 17:00, no answered flag
    call(
        l2,
        "retell",
        utc(2026, 1, 15, 22, 59, 59),
        outcome="busy",
        answered=False,
        end_status="busy",
        cost=5,
        currency="EUR",
    )  # C7 23:59:59
    call(l1, "retell", None, created=utc(2026, 1, 15, 11, 0))  # C9 12:00, still queued
    # Outside the day.
    call(l3, "retell", utc(2026, 1, 15, 23, 0, 0), outcome="booked", answered=True, duration=99)  # 16 Jan
    # The day before (2 placed).
    call(
        l5,
        "retell",
        utc(2026, 1, 14, 10, 30),
        outcome="booked",
        answered=True,
        end_status="completed",
        duration=200,
        sentiment="positive",
        cost=100,
    )
    call(
        l6,
        "vapi",
        utc(2026, 1, 14, 22, 59, 59),
        outcome="not_interested",
        answered=True,
        end_status="completed",
        duration=100,
        sentiment="neutral",
        cost=50,
    )
    # Inside the 30-day trend only; outside everything.
    call(l6, "vapi", utc(2025, 12, 27, 12, 0), outcome="no_answer", answered=False, end_status="no_answer")
    call(l6, "vapi", utc(2025, 12, 1, 12, 0), outcome="no_answer", answered=False, end_status="no_answer")

    # Appointments: one booked today (counts), one cancelled (does not).
    db.session.add(
        Appointment(
            lead_id=l1.id,
            owner_id=anna.id,
            starts_at=utc(2026, 1, 20, 9),
            ends_at=utc(2026, 1, 20, 10),
            status=AppointmentStatus.CONFIRMED,
            created_at=utc(2026, 1, 15, 0, 1),
        )
    )
    db.session.add(
        Appointment(
            lead_id=l2.id,
            owner_id=anna.id,
            starts_at=utc(2026, 1, 21, 9),
            ends_at=utc(2026, 1, 21, 10),
            status=AppointmentStatus.CANCELLED,
            created_at=utc(2026, 1, 15, 10, 0),
        )
    )

    # Emails of the day (6 outbound, 1 inbound that does not count) and of the day before (1).
    for lead_row, status, hour in (
        (l1, "delivered", 7),
        (l2, "opened", 8),
        (l3, "clicked", 9),
        (l5, "bounced", 10),
        (l1, "sent", 11),
        (l2, "dropped", 12),
    ):
        email(lead_row, status, utc(2026, 1, 15, hour))
    email(l2, "received", utc(2026, 1, 15, 13), direction=Direction.INBOUND)
    email(l5, "delivered", utc(2026, 1, 14, 12))
    # A note is not a call or an email.
    db.session.add(
        Interaction(
            lead_id=l1.id,
            kind=InteractionKind.NOTE,
            direction=Direction.INTERNAL,
            started_at=utc(2026, 1, 15, 14),
            created_at=utc(2026, 1, 15, 14),
            status="created",
        )
    )

    # Unsubscribes: Kai twice today (one lead), Frida the day before.
    for lead_row, at in ((l2, utc(2026, 1, 15, 12)), (l2, utc(2026, 1, 15, 12, 5)), (l6, utc(2026, 1, 14, 15))):
        db.session.add(
            AuditEntry(
                actor="sendgrid", action="lead.email_unsubscribed", entity_type="lead", entity_id=lead_row.id, at=at
            )
        )
    db.session.commit()
    return Seeded(
        anna=anna.id,
        ben=ben.id,
        mia=mia.id,
        leads={"l1": l1.id, "l2": l2.id, "l3": l3.id, "l4": l4.id, "l5": l5.id, "l6": l6.id},
    )
