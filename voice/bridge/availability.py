"""When the lead's owner (or the team) is free: the slots that match a caller's wish, or the best alternatives.

Synchronous functions for a Flask app context (see voice/bridge/booking.py); read-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from crm.calendars.busy import busy_blocks
from crm.extensions import db
from crm.models import Appointment, AppointmentStatus, Lead, Role, User
from crm.services.business_calendar import BusinessCalendar, Slot
from voice.bridge.booking_results import BUSINESS_TZ, SlotChoice, SlotOffer
from voice.bridge.lead_records import as_utc, live_lead
from voice.bridge.offer_hours import nearest, no_match_reason, opening_hours, wish_moment
from voice.bridge.offers import mark
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
class Rep:
    """One rep's calendar as the offer sees it: working hours and zone, and the confirmed busy times."""

    user_id: int
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
    # The reps' own calendars (issue 18): only the local busy table the sync keeps, merged into blocks in the
    # database (crm/calendars/busy.py), never a calendar service during a turn.
    for user_id, blocks in busy_blocks(list(busy), start, end).items():
        if blocks:
            busy[user_id] = sorted(busy[user_id] + blocks)
    return busy


def rep_calendar(user: User) -> BusinessCalendar:
    return BusinessCalendar.from_user_hours(user.working_hours, user.timezone or BUSINESS_TZ)


def _load_reps(users: list[User], now: datetime) -> list[Rep]:
    busy = _busy([u.id for u in users], now - timedelta(days=1), now + timedelta(days=HORIZON_DAYS + 2))
    return [Rep(u.id, rep_calendar(u), busy[u.id]) for u in users]


def _choice(slot: Slot, rep: Rep) -> SlotChoice:
    return SlotChoice(start=as_utc(slot.start), end=as_utc(slot.end), owner_id=rep.user_id)


def _wall(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(BUSINESS_TZ)).replace(tzinfo=None)


def _scan(constraint: TimeConstraint, reps: list[Rep], now: datetime, options: ScanOptions) -> tuple[Slot, Rep] | None:
    """The earliest free slot that satisfies the wish (the exact wished time, when one was said), at its
    least busy rep."""
    candidates: list[tuple[Slot, Rep]] = []
    for rep in reps:
        limit = None if constraint.exact is not None else 1
        slots = resolve(constraint, rep.calendar, now, busy=rep.busy, limit=limit, **options)
        if constraint.exact is not None:
            slots = [s for s in slots if s.exact_match]
        if slots:
            candidates.append((min(slots, key=lambda s: s.start), rep))
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c[0].start, c[1].load, c[1].user_id))


def _ranked(constraint: TimeConstraint, reps: list[Rep], now: datetime, count: int, options: ScanOptions) -> list[Slot]:
    """Each rep's best alternatives, pooled (a time at its least busy rep), ranked once more against the
    wish, slots that satisfy the constraint before the relaxed ones."""
    pool: dict[datetime, tuple[Slot, Rep]] = {}
    for rep in sorted(reps, key=lambda r: (r.load, r.user_id)):
        for slot in calendar_alternatives(constraint, rep.calendar, now, count=count, busy=rep.busy, **options):
            pool.setdefault(slot.start, (slot, rep))
    if len(reps) == 1:
        return [slot for slot, _ in pool.values()]
    wish = resolve(constraint, reps[0].calendar, now, limit=1, **options)
    target = wish[0].start if wish else None
    fitting = [s for s, _ in pool.values() if constraint.allows(_wall(s.start), _wall(s.end))]
    relaxed = [s for s, _ in pool.values() if not constraint.allows(_wall(s.start), _wall(s.end))]
    ranked = rank_alternatives(constraint, fitting, count, wished=target)
    if len(ranked) < count:
        ranked += rank_alternatives(constraint, relaxed, count - len(ranked), wished=target)
    return ranked


def _nearest_free(
    constraint: TimeConstraint, reps: list[Rep], now: datetime, count: int, options: ScanOptions
) -> list[Slot]:
    """For a wish outside the opening hours: the free slots nearest to the wished moment (the caller's
    negations still hold), not the first slots of the day."""
    target = wish_moment(constraint, now, options.get("horizon_days", HORIZON_DAYS))
    if target is None:
        return []
    relaxed = TimeConstraint(
        excluded_weekdays=constraint.excluded_weekdays,
        excluded_dates=constraint.excluded_dates,
        excluded_windows=constraint.excluded_windows,
        language=constraint.language,
    )
    pool: dict[datetime, Slot] = {}
    for rep in sorted(reps, key=lambda r: (r.load, r.user_id)):
        for slot in resolve(relaxed, rep.calendar, now, busy=rep.busy, **options):
            pool.setdefault(slot.start, slot)
    return nearest(pool.values(), target, count)


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
    reps, the least busy one (then the lowest id) gets the slot. Every slot is marked by
    offers.satisfies; without a match the offer says why (``no_match_reason``: "full" only when the
    calendar has working time there and it is booked) and names the opening hours; alternatives to a
    wish outside the hours are the free slots nearest to it."""
    now = as_utc(now)
    lead = live_lead(lead_id)
    if lead is None:
        return SlotOffer(None, ())
    users, owner_id = reps_for(lead)
    if not users:
        return SlotOffer(None, (), owner_id=owner_id)
    return offer_for(
        constraint, _load_reps(users, now), now, owner_id=owner_id, duration=duration, alternatives=alternatives
    )


def offer_for(
    constraint: TimeConstraint,
    reps: list[Rep],
    now: datetime,
    *,
    owner_id: int | None = None,
    duration: timedelta = DEFAULT_DURATION,
    alternatives: int = 2,
) -> SlotOffer:
    """find_slots over calendars already loaded (pure: no database)."""
    options: ScanOptions = {"duration": duration, "step": STEP, "horizon_days": HORIZON_DAYS, "lead_time": MIN_NOTICE}
    found = _scan(constraint, reps, now, options)
    if found is not None:
        return mark(constraint, SlotOffer(_choice(*found), (), wish_free=True, owner_id=owner_id))
    empty = [Rep(rep.user_id, rep.calendar, []) for rep in reps]
    reason = no_match_reason(
        constraint,
        [r.calendar for r in reps],
        duration,
        free_without_busy=_scan(constraint, empty, now, options) is not None,
    )
    hours = opening_hours(r.calendar for r in reps)
    if alternatives <= 0:
        return SlotOffer(None, (), owner_id=owner_id, no_match_reason=reason, opening_hours=hours)
    if reason == "outside_hours":
        ranked = _nearest_free(constraint, reps, now, alternatives, options)
    else:
        ranked = _ranked(constraint, reps, now, alternatives, options)
    by_start = {s.start: s for s in ranked}
    owners = _owners(reps, list(by_start.values()))
    chosen = tuple(_choice(by_start[start], owners[start]) for start in list(by_start)[:alternatives])
    offer = SlotOffer(None, chosen, owner_id=owner_id, no_match_reason=reason, opening_hours=hours)
    return mark(constraint, offer)


def _owners(reps: list[Rep], slots: list[Slot]) -> dict[datetime, Rep]:
    """The rep each slot goes to: the least busy one (then the lowest id) who is free then."""
    out: dict[datetime, Rep] = {}
    for slot in slots:
        for rep in sorted(reps, key=lambda r: (r.load, r.user_id)):
            free = not any(a < slot.end and slot.start < b for a, b in rep.busy)
            if free and rep.calendar.is_open(slot.start, slot.end):
                out[slot.start] = rep
                break
        else:
            out[slot.start] = reps[0]
    return out
