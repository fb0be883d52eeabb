"""Twilio's own price of a call (docs/audio-agent.md §T4): the sandbox's Twilio fills in `price` and
`price_unit` some time after the end (null before), as Twilio does; after the signed `completed` callback
the CRM fetches the call with the twilio SDK over HTTP, again with doubling waits while the price is null,
a bounded number of times, and records Twilio's price instead of the estimate (kept, marked "estimate",
when no price comes)."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind
from crm.services import twilio_calls
from providers.twilio_cost import RealtimeUsage, call_cost_cents
from providers.twilio_realtime import TwilioPrice
from tests.voice.twilio.conftest import number, seed_campaign, seed_lead, the_call
from tests.voice.twilio.test_twilio_webhooks import SID


def price_delay(tw, seconds: float) -> None:
    httpx.post(f"{tw.box.url}/twilio_realtime/price-delay", json={"seconds": seconds}).raise_for_status()


def placed_call(tw) -> str:
    seed_campaign(tw.app)
    placed, _key = tw.place(seed_lead(tw.app, number(1)))  # answered; the stream cannot connect: it completes
    tw.wait_ended(placed.call_id)
    return placed.call_id


def wait_for(predicate, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_twilios_price_replaces_the_estimate(tw, monkeypatch):
    monkeypatch.setattr(twilio_calls, "PRICE_FIRST_WAIT_S", 0.2)
    price_delay(tw, 3.0)  # the first look (below) comes before it on a loaded host too
    sid = placed_call(tw)
    sandbox_call = tw.twilio()[sid]
    # At the end: the estimate, marked as such (Twilio's price is still null).
    first = the_call(tw.app, sid)
    assert first.data[twilio_calls.COST_BASIS] == "estimate", first.data
    wait_for(lambda: the_call(tw.app, sid).data.get(twilio_calls.COST_BASIS) == "twilio_price")
    call = the_call(tw.app, sid)
    minutes = -(-call.duration_s // 60)
    assert call.data[twilio_calls.PRICE] == {"price": f"-{minutes * 0.013:.5f}", "unit": "USD"}
    assert call.cost_cents == call_cost_cents(call.duration_s, call.data[twilio_calls.PRICE]["price"], None)
    assert call.currency == "USD"
    assert sandbox_call.fetches >= 2  # fetched again while the price was null


def test_no_price_keeps_the_estimate_after_bounded_tries(tw, monkeypatch):
    monkeypatch.setattr(twilio_calls, "PRICE_TRIES", 3)
    monkeypatch.setattr(twilio_calls, "PRICE_FIRST_WAIT_S", 0.1)
    price_delay(tw, 3600)
    sid = placed_call(tw)
    sandbox_call = tw.twilio()[sid]
    wait_for(lambda: sandbox_call.fetches >= 3)
    time.sleep(0.6)  # longer than the next wait would have been
    assert sandbox_call.fetches == 3
    call = the_call(tw.app, sid)
    assert call.data[twilio_calls.COST_BASIS] == "estimate" and twilio_calls.PRICE not in call.data
    assert call.cost_cents == call_cost_cents(call.duration_s, None, None)


def test_the_relay_sweep_asks_for_the_price_a_stopped_process_never_fetched(tw, monkeypatch):
    """The process that took Twilio's `completed` stops before its thread asks (here: no thread at all); the
    relay's minute sweep asks Twilio over HTTP, 2, 4, 8 ... minutes after the end, and records the price
    once Twilio has it; nothing is asked before an ask is due, and nothing after the price is in."""
    monkeypatch.setattr(twilio_calls, "fetch_price_later", lambda *args, **kwargs: None)
    price_delay(tw, 3600)  # Twilio has no price yet
    sid = placed_call(tw)
    sandbox_call = tw.twilio()[sid]
    ended = the_call(tw.app, sid).ended_at
    with tw.app.app_context():
        assert twilio_calls.sweep_prices(tw.app, now=ended + timedelta(minutes=1)) == 0  # not due yet
        assert sandbox_call.fetches == 0
        assert twilio_calls.sweep_prices(tw.app, now=ended + timedelta(minutes=3)) == 0  # asked: still null
        assert sandbox_call.fetches == 1
        assert the_call(tw.app, sid).data[twilio_calls.PRICE_CHECKS] == 1
        assert twilio_calls.sweep_prices(tw.app, now=ended + timedelta(minutes=3, seconds=30)) == 0  # next at 4
        assert sandbox_call.fetches == 1
        sandbox_call.price_delay_s = 0.0  # Twilio has filled it in
        assert twilio_calls.sweep_prices(tw.app, now=ended + timedelta(minutes=5)) == 1
        assert twilio_calls.sweep_prices(tw.app, now=ended + timedelta(hours=1)) == 0
    assert sandbox_call.fetches == 2
    call = the_call(tw.app, sid)
    minutes = -(-call.duration_s // 60)
    assert call.data[twilio_calls.COST_BASIS] == "twilio_price"
    assert call.data[twilio_calls.PRICE] == {"price": f"-{minutes * 0.013:.5f}", "unit": "USD"}
    assert call.cost_cents == call_cost_cents(call.duration_s, call.data[twilio_calls.PRICE]["price"], None)


def test_the_provider_fetches_until_the_price_is_there(tw):
    price_delay(tw, 4.0)  # longer than a loaded host takes from the end to the first fetch here
    sid = placed_call(tw)
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        time.sleep(s)

    found = tw.provider.fetch_price(sid, tries=7, first_wait_s=0.3, sleep=sleep)
    assert found is not None and found.unit == "USD" and found.price.startswith("-0.0")
    assert waits and waits == [0.3 * 2**i for i in range(len(waits))]  # doubling
    assert tw.provider.fetch_price("CA" + "0" * 32, tries=3, first_wait_s=0.01) is None  # unknown: no retry


def test_price_and_tokens_in_either_order(app, ctx):
    """Twilio's price and the bridge's tokens both count, whichever is recorded first."""
    from tests.voice.bridge.test_booking import add_lead

    lead = add_lead()
    db.session.add(
        Interaction(
            lead_id=lead.id,
            kind=InteractionKind.CALL,
            direction=Direction.OUTBOUND,
            provider="twilio_realtime",
            provider_ref=SID,
            status="ended",
            duration_s=95,
            data={"final": True},
        )
    )
    db.session.commit()
    usage = RealtimeUsage(SID, audio_tokens_in=20_000, audio_tokens_out=10_000)
    assert twilio_calls.record_price(SID, TwilioPrice("-0.25000", "USD"))
    db.session.commit()
    call = db.session.scalars(sa.select(Interaction).where(Interaction.provider_ref == SID)).one()
    assert (call.cost_cents, call.data[twilio_calls.COST_BASIS]) == (25, "twilio_price")  # not 2 x 1.4 ct
    assert twilio_calls.record_usage(usage)
    db.session.commit()
    # 25 ct of Twilio's + 20k audio tokens in at $32/M (64 ct) + 10k out at $64/M (64 ct).
    assert call.cost_cents == call_cost_cents(95, "-0.25000", usage) == 153
    # A price in another currency is kept, not added to the USD figure: the estimate stays.
    assert twilio_calls.record_price(SID, TwilioPrice("-0.20000", "EUR"))
    assert call.data[twilio_calls.COST_BASIS] == "estimate" and call.cost_cents == call_cost_cents(95, None, usage)
