"""The CRM's side of `twilio_realtime` calls (providers/twilio_realtime.py, docs/audio-agent.md §T3/§T4).

* Which Twilio call our call key made: Twilio has no idempotency key, so the CRM remembers it from Twilio's
  signed status callbacks, whose URL carries the key. `call_for_key` is handed to the provider through
  app.extensions[TWILIO_CALLS_EXTENSION].
* What a call cost: Twilio's own price (fetched after the end, `fetch_price_later`, and asked again by the
  relay's minute sweep, `sweep_prices`, for a call still without one: the thread dies with its process) or,
  until it is known or when it never comes, an estimate at the configured per-minute rate, marked as such;
  plus the model's tokens the bridge reported (`record_usage`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Interaction, SideEffect
from crm.models.types import utcnow
from crm.tenancy.context import operator_scope, unit_of_work
from providers.factory import registry
from providers.twilio_cost import RealtimeUsage, call_cost_cents
from providers.twilio_wire import NAME
from providers.wire import MalformedPayload
from workflows.payloads import CallResult

if TYPE_CHECKING:
    from providers.twilio_realtime import TwilioPrice

log = logging.getLogger(__name__)

CALL_KEY = "call_key"  # the key's place in the call's data
USAGE = "realtime_usage"  # the bridge's RealtimeUsage, as JSON
PRICE = "twilio_price"  # Twilio's own price once fetched: {"price": "-0.01300", "unit": "USD"}
COST_BASIS = "cost_basis"  # "twilio_price" or "estimate" (the configured per-minute rate)
# Twilio's price is fetched up to PRICE_TRIES times, PRICE_FIRST_WAIT_S, then twice as long ... apart
# (about a minute in all); a call still without one keeps the estimate.
PRICE_TRIES = 6
PRICE_FIRST_WAIT_S = 1.0
# The durable net under that thread (sweep_prices): an answered call still priced by the estimate is asked
# for again the n-th time PRICE_SWEEP_FIRST x 2^n after its end (2, 4, 8 ... minutes: about ten asks in
# PRICE_LOOK_BACK, where Twilio's own figure is expected within minutes); PRICE_CHECKS counts the asks.
PRICE_SWEEP_FIRST = timedelta(minutes=2)
PRICE_LOOK_BACK = timedelta(hours=24)
PRICE_CHECKS = "price_checks"
BRIDGE = "bridge"  # the bridge's end-of-call record (voice.bridge.realtime_records.store_report)
# How long a poll of an answered, ended call waits for that record (with_bridge_report).
BRIDGE_REPORT_POLL_S = 10.0
# How long an answered call's result waits in the outbox for the bridge's record (its classification)
# when Twilio's end status comes first. The bridge writes it as the stream stops, within a second or two;
# a bridge that died mid-call never does, and the chain is told the bare end status after this wait.
REPORT_WAIT_S = 30.0


def remember_key(call: Interaction, call_key: str | None) -> None:
    """Note on the call's record the key that dialled it (the first callback's; never overwritten)."""
    if call_key and CALL_KEY not in (call.data or {}):
        call.data = {**(call.data or {}), CALL_KEY: call_key}


def call_for_key(call_key: str) -> str | None:
    """The CallSid our key made, once one of its callbacks arrived; None otherwise. Read in the caller's
    company scope (the place_call activity's)."""
    lead_id = db.session.scalar(sa.select(SideEffect.lead_id).where(SideEffect.key == call_key))
    if lead_id is None:
        return None
    calls = db.session.scalars(
        sa.select(Interaction)
        .where(Interaction.lead_id == lead_id, Interaction.provider == NAME)
        .order_by(Interaction.id.desc())
        .limit(50)
    ).all()
    return next((c.provider_ref for c in calls if (c.data or {}).get(CALL_KEY) == call_key), None)


def report_wait_s(call: Interaction) -> float:
    """The outbox hold for an ended call's result (crm.services.calls.queue_result): REPORT_WAIT_S for an
    answered call the bridge has not reported yet, else none (nobody talked: nothing to classify)."""
    data = call.data or {}
    return REPORT_WAIT_S if data.get("answered") and BRIDGE not in data else 0.0


def with_bridge_report(
    polled: CallResult, *, wait_s: float = BRIDGE_REPORT_POLL_S, sleep: Callable[[float], None] = time.sleep
) -> CallResult:
    """A polled result (Twilio's end, which carries no classification) with the bridge's classification from
    the call's record, as the webhook path's result has it (queue_result). An answered call the bridge has not
    reported yet is looked at again for up to `wait_s`: the bridge writes its record moments after the stream
    ends, and a poll that came between Twilio's end and that record gave the chain a bare "completed" for a
    callee who had asked never to be called again. After that the polled result goes as it is (a bridge that
    never reports must not hold the chain). Runs in the call's company's unit of work; reads only."""
    deadline = time.monotonic() + wait_s
    while True:
        call = db.session.scalar(
            sa.select(Interaction).where(Interaction.provider == NAME, Interaction.provider_ref == polled.call_id)
        )
        reported = call is not None and BRIDGE in (call.data or {})
        outcome = call.outcome if call is not None else None
        db.session.rollback()
        if reported:
            return replace(polled, classification=outcome if outcome not in (None, polled.status) else None)
        if call is None or not polled.answered or time.monotonic() >= deadline:
            return polled
        sleep(0.25)


def usage_of(call: Interaction) -> RealtimeUsage | None:
    raw = (call.data or {}).get(USAGE)
    try:
        return RealtimeUsage.from_json(raw) if raw is not None else None
    except MalformedPayload:
        return None


def _locked(call_sid: str) -> Interaction | None:
    return db.session.scalar(
        sa.select(Interaction)
        .where(Interaction.provider == NAME, Interaction.provider_ref == call_sid)
        .with_for_update()
    )


def price_call(call: Interaction) -> None:
    """The ended call's cost in US cents: Twilio's minutes at Twilio's own price once fetched, else at the
    configured rate (cost_basis "estimate"), plus the model's tokens when the bridge has reported them."""
    data = dict(call.data or {})
    reported = data.get(PRICE)
    price = reported.get("price") if isinstance(reported, dict) and reported.get("unit") == "USD" else None
    call.cost_cents = call_cost_cents(call.duration_s or 0, price, usage_of(call))
    call.currency = "USD"
    data[COST_BASIS] = "twilio_price" if price else "estimate"
    call.data = data


def record_usage(usage: RealtimeUsage) -> bool:
    """The bridge's report of the model's tokens on call `usage.call_sid` (it sums every Realtime
    `response.done`). Kept on the call's record; a call that has already ended gets its cost recomputed.
    False: no such call. The caller commits (in the call's company scope)."""
    call = _locked(usage.call_sid)
    if call is None:
        return False
    call.data = {**(call.data or {}), USAGE: usage.to_json()}
    if call.duration_s is not None and (call.data or {}).get("final"):
        price_call(call)
    return True


def record_price(call_sid: str, price: TwilioPrice) -> bool:
    """Twilio's own price of call `call_sid`, kept on its record and its cost recomputed with it (a price in
    another currency than USD is kept but not added to the USD token cost: the estimate stays). False: no
    such call. The caller commits (in the call's company scope)."""
    call = _locked(call_sid)
    if call is None:
        return False
    call.data = {**(call.data or {}), PRICE: {"price": price.price, "unit": price.unit}}
    if call.duration_s is not None:
        price_call(call)
    return True


def fetch_price_later(app: Any, company_id: int, call_sid: str) -> threading.Thread:
    """Fetch Twilio's price of an ended call in a background thread of this process (Twilio fills it in some
    time after the end; PRICE_TRIES fetches with doubling waits) and record it. A process that stops
    meanwhile leaves the estimate, marked as such."""

    def run() -> None:
        try:
            with app.app_context():
                try:
                    with unit_of_work(company_id):
                        provider: Any = registry(app).get(NAME)
                    if provider is None or not hasattr(provider, "fetch_price"):
                        return
                    found = provider.fetch_price(call_sid, tries=PRICE_TRIES, first_wait_s=PRICE_FIRST_WAIT_S)
                    if found is None:
                        log.info("twilio call %s: no price from Twilio; the estimate stays", call_sid)
                        return
                    with unit_of_work(company_id):
                        record_price(call_sid, found)
                        db.session.commit()
                finally:
                    db.session.remove()
        except Exception as e:  # noqa: BLE001 - the estimate stays; nothing else depends on this
            log.warning("twilio call %s: price not recorded (%s)", call_sid, type(e).__name__)

    thread = threading.Thread(target=run, name=f"twilio-price-{call_sid[-8:]}", daemon=True)
    thread.start()
    return thread


def _awaiting_price(now: datetime) -> list[tuple[int, str]]:
    """(company, call SID) of the answered calls ended within PRICE_LOOK_BACK that still carry the estimate
    and whose next ask is due."""
    with operator_scope("twilio-price", "find calls whose Twilio price is still to be asked for"):
        rows = db.session.execute(
            sa.select(Interaction.company_id, Interaction.provider_ref, Interaction.ended_at, Interaction.data).where(
                Interaction.provider == NAME,
                Interaction.provider_ref.is_not(None),
                Interaction.ended_at > now - PRICE_LOOK_BACK,
                Interaction.duration_s > 0,
            )
        ).all()
        db.session.rollback()
    due: list[tuple[int, str]] = []
    for company_id, call_sid, ended_at, data in rows:
        data = data or {}
        if PRICE in data or data.get(COST_BASIS) != "estimate":
            continue
        checks = int(data.get(PRICE_CHECKS) or 0)
        if ended_at + PRICE_SWEEP_FIRST * 2**checks <= now:
            due.append((company_id, call_sid))
    return due


def sweep_prices(app: Any, now: datetime | None = None) -> int:
    """Ask Twilio once for the price of each call whose ask is due (_awaiting_price), each in its company's
    unit of work: a price found is recorded, else the ask is counted. Inside an app context (the relay's
    minute sweep). Returns how many prices were recorded."""
    now = now or utcnow()
    recorded = 0
    for company_id, call_sid in _awaiting_price(now):
        with unit_of_work(company_id):
            try:
                provider: Any = registry(app).get(NAME)
                if provider is None or not hasattr(provider, "fetch_price"):
                    continue
                found = provider.fetch_price(call_sid, tries=1)
                if found is not None and record_price(call_sid, found):
                    recorded += 1
                elif (call := _locked(call_sid)) is not None:
                    checks = int((call.data or {}).get(PRICE_CHECKS) or 0)
                    call.data = {**(call.data or {}), PRICE_CHECKS: checks + 1}
                db.session.commit()
            except Exception as e:  # noqa: BLE001 - one call's price must not stop the others' (or the sweep)
                log.warning("twilio call %s: price not asked for (%s)", call_sid, type(e).__name__)
            finally:
                db.session.rollback()
    return recorded
