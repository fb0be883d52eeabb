"""When a follow-up task the chain creates is due.

* **callback**: inside the lead's next calling window (the compliance gate's hours in the lead's zone,
  holidays off), so the rep is asked to call when calling is allowed and likely to reach the person:
  no sooner than CALLBACK_LEAD_TIME from now, CALLBACK_GRACE after the window opens (or at its opening
  when the window closes sooner). Never at night, on a weekend outside the window, or on a holiday.
  A callback the caller asked for at a stated time ("Ende Februar": TaskInput.not_before) is due at
  that moment, or at the first calling-window moment after it (`callback_due_from`), never sooner than
  CALLBACK_LEAD_TIME from now.
* **appointment** ("prepare the booked appointment"): APPOINTMENT_PREP before the appointment starts,
  or at the start of the owner's working day when that is later (an 09:30 meeting is prepared at 09:00,
  not at 07:30). Never in the past: when the appointment is very soon, due in SOON or at its start,
  whichever comes first.
* anything else: `due_in_s` after now, as the chain asked.

The chain's TaskInput (lead, kind, title, due_in_s, key) stays as it is, so recorded histories replay;
the activity computes the better time here. Pure functions plus one reader of the CRM (`due_at`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Appointment, AppointmentStatus, Lead, User
from crm.services import settings_store
from crm.services.business_calendar import BusinessCalendar
from crm.services.compliance import CallingWindow, GatePolicy, is_within_window, next_window_start, zone_for
from workflows.vocabulary import TaskKind

log = logging.getLogger(__name__)

CALLBACK_LEAD_TIME = timedelta(hours=1)
CALLBACK_GRACE = timedelta(minutes=30)
APPOINTMENT_PREP = timedelta(hours=2)
SOON = timedelta(minutes=15)


def callback_due(now: datetime, tz: str, window: CallingWindow, holiday_calendar=None) -> datetime:
    """A moment inside the first calling window that is at least CALLBACK_LEAD_TIME away."""
    start = next_window_start(now + CALLBACK_LEAD_TIME, tz, window, holiday_calendar)
    due = start + CALLBACK_GRACE
    return due if is_within_window(due, tz, window, holiday_calendar) else start


def callback_due_from(
    not_before: datetime, now: datetime, tz: str, window: CallingWindow, holiday_calendar=None
) -> datetime:
    """The first moment inside the calling window at or after `not_before` (the start of the window the
    caller named), and at least CALLBACK_LEAD_TIME from now."""
    return next_window_start(max(not_before, now + CALLBACK_LEAD_TIME), tz, window, holiday_calendar)


def appointment_due(starts_at: datetime, now: datetime, working_day_start: datetime | None = None) -> datetime:
    """When to prepare an appointment starting at `starts_at`; never before `now`."""
    due = starts_at - APPOINTMENT_PREP
    if working_day_start is not None and due < working_day_start <= starts_at:
        due = working_day_start
    if due < now + SOON:
        due = min(now + SOON, starts_at)
    return max(due, now)


def _working_day_start(owner: User | None, starts_at: datetime) -> datetime | None:
    """The first working interval's start on the appointment's local day in the owner's calendar."""
    try:
        calendar = BusinessCalendar.from_user_hours(
            owner.working_hours if owner else None,
            owner.timezone if owner else None,
            company=settings_store.company(),  # its zone for a rep without one, its state's holidays
        )
    except ValueError as e:  # hours or zone an admin mistyped: plain "2 hours before" then
        log.warning("working hours of user %s unusable: %s", owner.id if owner else None, e)
        return None
    intervals = calendar.intervals(starts_at.astimezone(ZoneInfo(calendar.tz)).date())
    return intervals[0][0] if intervals else None


def next_appointment(lead_id: int, now: datetime) -> Appointment | None:
    """The lead's next appointment that is not cancelled and not over."""
    return db.session.scalar(
        sa.select(Appointment)
        .where(
            Appointment.lead_id == lead_id, Appointment.status != AppointmentStatus.CANCELLED, Appointment.ends_at > now
        )
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(1)
    )


def due_at(
    lead: Lead, kind: str, due_in_s: int, *, now: datetime, policy: GatePolicy, not_before: datetime | None = None
) -> datetime:
    """The due time of a task of `kind` on `lead` created at `now` (UTC, aware); `not_before`: the start of
    the window a caller asked to be called back in (callbacks only)."""
    if kind == TaskKind.CALLBACK:
        tz = zone_for(lead.phone_timezone, lead.phone_region)
        window, holidays = policy.window_for(lead.phone_region), policy.holiday_calendar(lead.phone_region)
        if not_before is not None:
            return callback_due_from(not_before, now, tz, window, holidays)
        return callback_due(now, tz, window, holidays)
    if kind == TaskKind.APPOINTMENT:
        appointment = next_appointment(lead.id, now)
        if appointment is not None:
            owner = db.session.get(User, appointment.owner_id)
            return appointment_due(appointment.starts_at, now, _working_day_start(owner, appointment.starts_at))
        # No appointment on record (yet): soon, never at once.
        return now + max(timedelta(seconds=due_in_s), SOON)
    return now + timedelta(seconds=max(due_in_s, 0))
