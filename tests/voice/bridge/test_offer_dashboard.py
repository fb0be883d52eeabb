"""The dashboard counts the bookings whose slot did not satisfy the caller's wish (Appointment.offer_matched
false, stored by the voice bridge's book()), for the team (managers) or the rep's own appointments; on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm.extensions import db
from crm.models import Appointment, Role, User
from crm.ui import dashboard_queries as dq

NOW = datetime(2031, 3, 6, 15, 0, tzinfo=UTC)  # Thursday 16:00 in Berlin


def rep(name: str, role: Role = Role.SALES) -> User:
    user = User(email=f"{name.lower()}@leadchain.example", name=name, role=role, timezone="Europe/Berlin", active=True)
    db.session.add(user)
    db.session.flush()
    return user


def booked(owner: User, created: datetime, matched: bool | None, hour: int) -> None:
    start = datetime(2031, 3, 10, hour, 0, tzinfo=UTC)
    db.session.add(
        Appointment(
            owner_id=owner.id,
            starts_at=start,
            ends_at=start + timedelta(minutes=30),
            title="call booking",
            offer_matched=matched,
            created_at=created,
        )
    )


def test_the_dashboard_counts_bookings_outside_the_wish(ctx):
    mia, anna, bob = rep("Mia", Role.MANAGER), rep("Anna"), rep("Bob")
    today, yesterday = NOW - timedelta(hours=2), NOW - timedelta(days=1)
    booked(anna, today, False, 8)
    booked(anna, today, True, 9)
    booked(anna, today, None, 10)  # not known (booked elsewhere): not counted
    booked(bob, today, False, 11)
    booked(anna, yesterday, False, 12)
    booked(bob, NOW - timedelta(days=9), False, 13)  # last week
    db.session.commit()

    team = dq.dashboard(mia, "daily", NOW)
    assert team.unmatched is not None and team.unmatched.key == dq.UNMATCHED
    assert (team.unmatched.current, team.unmatched.previous) == (2, 1)
    assert [f.key for f in team.figures] == list(dq.TEAM_KEYS)  # the report's figures are unchanged
    own = dq.dashboard(anna, "daily", NOW)
    assert (own.unmatched.current, own.unmatched.previous) == (1, 1)
    week = dq.dashboard(bob, "weekly", NOW)
    assert (week.unmatched.current, week.unmatched.previous) == (1, 1)
