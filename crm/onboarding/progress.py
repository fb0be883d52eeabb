"""The wizard's screens, in order, and which of them a company has completed (onboarding_progress)."""

from __future__ import annotations

from typing import Any

from crm.extensions import db
from crm.models.onboarding import OnboardingProgress

SCREENS = ("company", "hours", "team", "phone", "calendars", "lead_sources", "test_call")
# German business hours (Mon–Fri 9–17) and a 30-minute consultation unless the admin says otherwise.
DEFAULT_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
DEFAULT_APPOINTMENT_MINUTES = 30


def progress(company_id: int) -> OnboardingProgress:
    """The company's progress; a company that completed no screen yet gets a row that is stored only when a
    screen is completed (`complete`), so opening the wizard (a GET) writes nothing."""
    row = db.session.execute(db.select(OnboardingProgress).filter_by(company_id=company_id)).scalar_one_or_none()
    if row is None:
        row = OnboardingProgress(company_id=company_id, completed=[], answers={})
    return row


def next_screen(row: OnboardingProgress) -> str | None:
    """The first screen not completed (where a resumed wizard opens); None when all are."""
    return next((s for s in SCREENS if s not in (row.completed or [])), None)


def complete(row: OnboardingProgress, screen: str, **answers: Any) -> None:
    # New lists/dicts (not in-place changes): the JSON columns see the assignment.
    if screen not in (row.completed or []):
        row.completed = [*(row.completed or []), screen]
    if answers:
        row.answers = {**(row.answers or {}), **answers}
    db.session.add(row)
    db.session.commit()


def forget(row: OnboardingProgress, screen: str) -> None:
    row.completed = [s for s in (row.completed or []) if s != screen]
    db.session.add(row)
    db.session.commit()
