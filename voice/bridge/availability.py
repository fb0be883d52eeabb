"""When the lead's owner (or the team) is free: the slots that match a caller's wish, or the best alternatives.

Synchronous functions for a Flask app context (see voice/bridge/booking.py); read-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Appointment, AppointmentStatus, Lead, Role, User
from crm.services.business_calendar import BusinessCalendar, Slot
from voice.bridge.booking_results import BUSINESS_TZ, SlotOffer
from voice.bridge.dialog.types import SlotChoice
from voice.bridge.lead_records import as_utc, live_lead
from voice.bridge.timeprefs.calendar import ScanOptions, rank_alternatives, resolve
from voice.bridge.timeprefs.calendar import alternatives as calendar_alternatives
from voice.bridge.timeprefs.constraint import TimeConstraint

DEFAULT_DURATION = timedelta(minutes=30)
# Offers start on this grid; an exact wish ("um 14:15") is checked as said.
STEP = timedelta(minutes=30)
HORIZON_DAYS = 14
# No slot sooner than this: the rep needs a moment to prepare.
MIN_NOTICE = timedelta(hours=1)


@dataclass
class _Rep:
    user: User
    calendar: BusinessCalendar
    busy: list[tuple[datetime, datetime]]

    @property
    def load(self) -> int:
        return len(self.busy)


def reps_for(lead: Lead, owner_id: int | None = None) -> tuple[list[User], int | None]:
    """The reps whose calendars count: the given owner, else the lead's (active) owner, else the team
    (active sales users). Returns them and the owner id asked for (None = the team)."""
    wanted = owner_id or lead.owner_id
    if wanted:
        user = db.session.get(User, wanted)
        if user is not None and user.active:
            return [user], user.id
    team = list(
        db.session.scalars(sa.select(User).where(User.active.is_(True), User.role == Role.SALES).order_by(User.id))
    )
    return team, None


def _busy(user_ids: Iterable[int], start: datetime, end: datetime) -> dict[int, list[tuple[datetime, datetime]]]:
    busy: dict[int, list[tuple[datetime, datetime]]] = {uid: [] for uid in user_ids}
    if not busy:
        return busy
    rows = db.session.execute(
        sa.select(Appointment.owner_id, Appointment.starts_at, Appointment.ends_at)
        .where(
            Appointment.owner_id.in_(list(busy)),
            Appointment.status == AppointmentStatus.CONFIRMED,
            Appointment.ends_at > start,
            Appointment.starts_at < end,
        )
        .order_by(Appointment.starts_at)
    )
    for owner, s, e in rows:
        busy[owner].append((s, e))
    return busy


def rep_calendar(user: User) -> BusinessCalendar:
    return BusinessCalendar.from_user_hours(user.working_hours, user.timezone or BUSINESS_TZ)


def _load_reps(users: list[User], now: datetime) -> list[_Rep]:
    busy = _busy([u.id for u in users], now - timedelta(days=1), now + timedelta(days=HORIZON_DAYS + 2))
    return [_Rep(u, rep_calendar(u), busy[u.id]) for u in users]


def _choice(slot: Slot, rep: _Rep) -> SlotChoice:
    return SlotChoice(start=as_utc(slot.start), end=as_utc(slot.end), owner_id=rep.user.id)


def _wall(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(BUSINESS_TZ)).replace(tzinfo=None)


def find_slots(
    lead_id: int,
    constraint: TimeConstraint,
    now: datetime,
    *,
    duration: timedelta = DEFAULT_DURATION,
    alternatives: int = 2,
) -> SlotOffer:
    """Free slots for the lead's owner (or, without one, the team's sales reps) that match the wish.

    Working hours come from each rep (User.working_hours in User.timezone; null = the team default,
    Mon-Fri 09-17), German public holidays are closed, confirmed appointments are busy. Returns the
    wished slot if free (the exact wished time; without one, the earliest slot that satisfies the
    constraint), else ``alternatives`` best alternatives; ``wish_free`` says which. Of several free
    reps, the least busy one (then the lowest id) gets the slot."""
    now = as_utc(now)
    lead = live_lead(lead_id)
    if lead is None:
        return SlotOffer(None, ())
    users, owner_id = reps_for(lead)
    if not users:
        return SlotOffer(None, (), owner_id=owner_id)
    reps = _load_reps(users, now)
    kwargs: ScanOptions = {"duration": duration, "step": STEP, "horizon_days": HORIZON_DAYS, "lead_time": MIN_NOTICE}
    candidates: list[tuple[Slot, _Rep]] = []
    for rep in reps:
        slots = resolve(
            constraint, rep.calendar, now, busy=rep.busy, limit=None if constraint.exact is not None else 1, **kwargs
        )
        if constraint.exact is not None:
            slots = [s for s in slots if s.exact_match]
        if slots:
            candidates.append((min(slots, key=lambda s: s.start), rep))
    if candidates:
        slot, rep = min(candidates, key=lambda c: (c[0].start, c[1].load, c[1].user.id))
        return SlotOffer(_choice(slot, rep), (), wish_free=True, owner_id=owner_id)
    if alternatives <= 0:
        return SlotOffer(None, (), wish_free=False, owner_id=owner_id)
    # Not free: each rep's best alternatives, pooled (a time at its least busy rep), ranked once more
    # against the wish, slots that satisfy the constraint before the relaxed ones.
    pool: dict[datetime, tuple[Slot, _Rep]] = {}
    for rep in sorted(reps, key=lambda r: (r.load, r.user.id)):
        for slot in calendar_alternatives(constraint, rep.calendar, now, count=alternatives, busy=rep.busy, **kwargs):
            pool.setdefault(slot.start, (slot, rep))
    if len(reps) == 1:
        ranked = [slot for slot, _ in pool.values()]
    else:
        wish = resolve(constraint, reps[0].calendar, now, limit=1, **kwargs)
        target = wish[0].start if wish else None
        fitting = [s for s, _ in pool.values() if constraint.allows(_wall(s.start), _wall(s.end))]
        relaxed = [s for s, _ in pool.values() if not constraint.allows(_wall(s.start), _wall(s.end))]
        ranked = rank_alternatives(constraint, fitting, alternatives, wished=target)
        if len(ranked) < alternatives:
            ranked += rank_alternatives(constraint, relaxed, alternatives - len(ranked), wished=target)
    chosen = tuple(_choice(*pool[s.start]) for s in ranked[:alternatives])
    return SlotOffer(None, chosen, wish_free=False, owner_id=owner_id)


# ---- booking --------------------------------------------------------------------------------------
