"""The booking-time re-check: just before a slot is booked, ask the rep's calendars themselves, once and with a
short timeout, whether the slot is still free (the busy table may be up to one sync round old).

Answers True (free in every counted calendar), False (an event there now: "that slot was just taken, may I
offer ..."), or None when a calendar could not answer in time or refused the credential: the caller then
books on the local table's word, as the turn already checked it (the sync marks a refused credential)."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import sqlalchemy as sa

from crm.calendars import expand
from crm.calendars.busy import busy_blocks
from crm.calendars.connections import open_port
from crm.calendars.port import CalendarError
from crm.extensions import db
from crm.models import User
from crm.models.calendars import CalendarConnection, CalendarEvent, CalendarStatus

log = logging.getLogger(__name__)
TIMEOUT_S = 2
# All live re-checks of one booking (a team booking may have many candidate reps).
BUDGET_S = 3.0


def slot_still_free(user_id: int, start: datetime, end: datetime, *, timeout_s: int = TIMEOUT_S) -> bool | None:
    connections = db.session.scalars(
        sa.select(CalendarConnection).where(
            CalendarConnection.user_id == user_id,
            CalendarConnection.counts_as_busy.is_(True),
            CalendarConnection.status != CalendarStatus.BROKEN,
        )
    ).all()
    if not connections:
        return True
    user = db.session.get(User, user_id)
    tz = (user.timezone if user is not None else None) or "Europe/Berlin"
    own = set(db.session.scalars(sa.select(CalendarEvent.href).where(CalendarEvent.deleted.is_(False))))
    answer: bool | None = True
    for connection in connections:
        try:
            objects = open_port(connection, timeout_s=timeout_s).busy_objects(start, end)
        except CalendarError as exc:
            log.info("calendar %s re-check without an answer: %s", connection.id, exc)
            answer = None
            continue
        for obj in objects:
            if obj.ics is None or obj.href in own:
                continue  # the CRM's own events: the appointments table already decides
            if any(o.start < end and start < o.end for o in expand.expand(obj.ics, start, end, tz)):
                return False
    return answer


def calendar_taken(user_ids: list[int], start: datetime, end: datetime, *, budget_s: float = BUDGET_S) -> set[int]:
    """The reps whose own calendars hold [start, end) now: the local busy table says so, or the calendar
    itself does when asked once (slot_still_free), in id order (the booking's order) until `budget_s` is
    spent; the rest go by the table. Call it outside a write transaction: it waits for calendar services."""
    local = busy_blocks(user_ids, start, end)
    taken = {uid for uid, blocks in local.items() if any(s < end and start < e for s, e in blocks)}
    deadline = time.monotonic() + budget_s
    for uid in sorted(user_ids):
        if time.monotonic() > deadline:
            break
        if uid not in taken and slot_still_free(uid, start, end) is False:
            taken.add(uid)
    return taken
