"""The booking-time re-check: just before a slot is booked, ask the rep's calendars themselves, once and with a
short timeout, whether the slot is still free (the busy table may be up to one sync round old).

Answers True (free in every counted calendar), False (an event there now: "that slot was just taken, may I
offer ..."), or None when a calendar could not answer in time or refused the credential: the caller then
books on the local table's word, as the turn already checked it (the sync marks a refused credential).

A slot the calendar holds and the busy table does not (an event made after the last sync) has the rep's
calendars synced at once (calendar_taken): the dialog searches for other times right after "taken", in
the same turn, and a search on the old table would offer the same busy time again, or find the wish
"free" and offer nothing else."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import sqlalchemy as sa

from crm.calendars import expand
from crm.calendars.busy import busy_blocks
from crm.calendars.connections import open_port
from crm.calendars.port import CalendarError
from crm.calendars.sync import sync_connection
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


def calendar_taken(
    user_ids: list[int], start: datetime, end: datetime, *, budget_s: float = BUDGET_S, now: datetime | None = None
) -> set[int]:
    """The reps whose own calendars hold [start, end) now: the local busy table says so, or the calendar
    itself does when asked once (slot_still_free), in id order (the booking's order) until `budget_s` is
    spent; the rest go by the table. A rep found busy only by asking has their calendars synced (`now`: the
    sync's clock, the caller's). Call it outside a write transaction: it waits for calendar services."""
    local = busy_blocks(user_ids, start, end)
    taken = {uid for uid, blocks in local.items() if any(s < end and start < e for s, e in blocks)}
    deadline = time.monotonic() + budget_s
    for uid in sorted(user_ids):
        if time.monotonic() > deadline:
            break
        if uid not in taken and slot_still_free(uid, start, end) is False:
            taken.add(uid)
            if time.monotonic() < deadline:  # within the booking's budget only: the caller is waiting
                resync(uid, now)
    return taken


def resync(user_id: int, now: datetime | None = None) -> None:
    """Sync the rep's counted calendars now (the re-check saw an event the busy table lacks). A failure is
    logged and leaves the table as it was: the booking's answer ("taken") stands either way."""
    connection_ids = db.session.scalars(
        sa.select(CalendarConnection.id).where(
            CalendarConnection.user_id == user_id,
            CalendarConnection.counts_as_busy.is_(True),
            CalendarConnection.status != CalendarStatus.BROKEN,
        )
    ).all()
    for connection_id in connection_ids:
        try:
            summary = sync_connection(connection_id, now=now)
        except Exception:  # noqa: BLE001 - a failed sync must not fail the booking that asked for it
            db.session.rollback()
            log.warning("calendar %s: the sync after a re-check failed", connection_id, exc_info=True)
            continue
        if summary.error:
            log.info("calendar %s: the sync after a re-check found %s", connection_id, summary.error)
