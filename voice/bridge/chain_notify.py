"""Tell a lead's chain what happened during a live call: a booking, or a callback window the caller named.

* ``notify_booking``: the bridge calls it right after a successful ``booking.book()``. The chain records it
  (signal ``call_booking``) and, when the call's result arrives, follows up as booked (confirmation email
  with the invite, a task for the owner) even if the provider's post-call analysis says "interested". If
  the signal is lost, the webhook path still reports the call as booked: the CRM's call merge keeps the
  outcome of a call whose appointment exists (crm.services.calls).
* ``notify_callback``: the call ends with a callback request in a window ("Ende Februar", "after the
  holidays"). ``callback_request`` resolves the window in the lead's zone to UTC instants (times only, none
  of the words said); the chain records it (signal ``callback_request``) and, when the call's result says
  callback_requested, makes the callback task due at the window's start and calls then. Lost, the chain
  does what it did before: a callback task the next day.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from voice.bridge.timeprefs.constraint import TimeConstraint
from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import CallbackRequest, CallBooking

log = logging.getLogger(__name__)

Outcome = Literal["signalled", "gone", "no_chain", "failed"]
# How far ahead an open-ended window ("montags", "after the holidays") is searched for its first day.
SEARCH_DAYS = 400


async def _signal(client: Client, chain_id: str | None, signal: Any, payload: Any, what: str) -> Outcome:
    """Signal the chain. "gone": the chain has ended or never existed (logged, nothing to do); "failed":
    Temporal could not be reached (logged; the caller may retry, the signals are idempotent). `what` names
    the event in the log by ids only."""
    if not chain_id:
        log.info("%s: the lead has no chain", what)
        return "no_chain"
    try:
        await client.get_workflow_handle(chain_id).signal(signal, payload)
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            log.info("%s: chain %s is gone (%s)", what, chain_id, e.message)
            return "gone"
        log.warning("%s: chain %s not signalled: %s", what, chain_id, e)
        return "failed"
    except (ConnectionError, OSError, RuntimeError) as e:
        log.warning("%s: chain %s not signalled: %s", what, chain_id, e)
        return "failed"
    log.info("%s signalled to chain %s", what, chain_id)
    return "signalled"


async def notify_booking(client: Client, chain_id: str | None, booking: CallBooking) -> Outcome:
    what = f"booking {booking.appointment_id} of call {booking.call_id}"
    return await _signal(client, chain_id, LeadChainWorkflow.call_booking, booking, what)


async def notify_callback(client: Client, chain_id: str | None, request: CallbackRequest) -> Outcome:
    what = f"callback window of call {request.call_id}"
    return await _signal(client, chain_id, LeadChainWorkflow.callback_request, request, what)


# ---- the window as UTC instants ------------------------------------------------------------------------


def _day_bounds(constraint: TimeConstraint, day: date) -> tuple[time | None, time | None]:
    """The earliest start and the latest end the constraint allows on `day` (None: the day's edge)."""
    windows = constraint.windows_for(day.weekday())
    if not windows:
        return constraint.exact, None
    starts = [w.start for w in windows]
    ends = [w.end for w in windows]
    start = None if None in starts else min(s for s in starts if s is not None)
    end = None if None in ends else max(e for e in ends if e is not None)
    return start, end


def _candidate_days(constraint: TimeConstraint, today: date) -> tuple[list[date], bool]:
    """The days the constraint allows, in order, and whether the list is bounded (a last day exists)."""
    if constraint.dates:
        return sorted(d for d in constraint.dates if constraint.allows_day(d)), True
    first = constraint.date_from or today
    if constraint.date_to is not None:
        count, bounded = (constraint.date_to - first).days + 1, True
    else:
        count, bounded = SEARCH_DAYS, False
    days = (first + timedelta(days=n) for n in range(max(count, 0)))
    return [d for d in days if constraint.allows_day(d)], bounded


def callback_request(call_id: str, constraint: TimeConstraint, tz: str, now: datetime) -> CallbackRequest | None:
    """The window the caller named, resolved in the lead's zone `tz` (the constraint's dates and clock times
    are the caller's wall-clock): not_before is the start of its first day that has not ended yet (the
    earliest window or the exact time that day), not_after the end of its last day, None when the window
    is open-ended. A window wholly in the past keeps its last day, so the chain can say it is over. None:
    the constraint is empty or allows no day (nothing to call back at)."""
    if constraint.empty:
        return None
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    days, bounded = _candidate_days(constraint, today)
    if not days:
        return None

    def bounds(day: date) -> tuple[datetime, datetime]:
        start, end = _day_bounds(constraint, day)
        begin = datetime.combine(day, start or time(0), zone)
        finish = datetime.combine(day, end, zone) if end else datetime.combine(day + timedelta(days=1), time(0), zone)
        return begin.astimezone(UTC), finish.astimezone(UTC)

    current = next((d for d in days if bounds(d)[1] > now), days[-1])
    not_before = bounds(current)[0]
    not_after = bounds(days[-1])[1] if bounded else None
    return CallbackRequest(call_id=call_id, not_before=not_before, not_after=not_after)
