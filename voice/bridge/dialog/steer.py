"""The rules policy's steps for turns that steer the call away from picking a time (issue 15 item 3):
opt-out (sure or hedged), callback, deferral, question, and the repairs they share (ask the pending question
again, clarify). Each step says its sentences and ends the turn; RulesPolicy (rules.py) chooses the step
from intents.decide and the stage. No state of its own: everything comes from the ``Turn``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from voice.bridge.dialog.callee_text import full_name
from voice.bridge.dialog.intents import Reading
from voice.bridge.dialog.state import Stage
from voice.bridge.dialog.timetalk import TimeTalk
from voice.bridge.dialog.turn import ToolFailed, Turn, constraint_json
from voice.bridge.dialog.types import SlotChoice, Speech, TurnEvent
from workflows.vocabulary import CallOutcome

OPT_OUT_REASON = "asked in the call not to be called again"


async def opt_out(t: Turn) -> AsyncIterator[TurnEvent]:
    """P5: recorded at once, at any stage, before a word is said; confirmed even when the tool fails (the
    classification still reaches the chain by webhook)."""
    try:
        _, record = await t.tool("record_opt_out", {"reason": OPT_OUT_REASON}, t.tools.record_opt_out(OPT_OUT_REASON))
        yield record
    except ToolFailed as failed:
        yield failed.record
    yield t.say("opted_out")
    yield t.say("goodbye")
    yield t.done(intent="do_not_call", classification=CallOutcome.DO_NOT_CALL, end_call=True)


async def ask_remove(t: Turn) -> AsyncIterator[TurnEvent]:
    """A hedged opt-out ("not interested in calls like this"): ask, never carry on as if nothing was said."""
    yield t.say("ask_remove")
    yield t.done(intent="opt_out_unsure")


async def remove_answer(t: Turn, r: Reading) -> AsyncIterator[TurnEvent]:
    """The answer to "shall I remove your number?": yes records the opt-out; anything else ends politely
    as not interested (the callee did not want this call)."""
    if (r.confirm and not r.decline) or r.opt_out:
        async for e in opt_out(t):
            yield e
        return
    yield t.say("not_interested")
    yield t.say("goodbye")
    yield t.done(intent="refusal", classification=CallOutcome.NOT_INTERESTED, end_call=True)


async def callback(t: Turn, r: Reading, timetalk: TimeTalk) -> AsyncIterator[TurnEvent]:
    """A callback request: the window the callee said ("after the holidays", "Ende Februar") is the turn's
    constraint, no slot is looked up or offered; the chain turns CALLBACK_REQUESTED into a callback task
    inside calling hours."""
    wish = timetalk.preference(r.text, t.language, t.request.now)
    if wish is not None:
        # The chain calls back in that window (voice.bridge.chain_notify); the tool only sends a signal in the
        # background, so the callee hears no pause. A failure is recorded and the chain's next-day callback
        # still happens.
        try:
            _, record = await t.tool("record_callback", constraint_json(wish), t.tools.record_callback(wish))
            yield record
        except ToolFailed as failed:
            yield failed.record
    yield t.say("callback_at" if wish else "callback_later")
    yield t.say("goodbye")
    yield t.done(intent="callback", classification=CallOutcome.CALLBACK_REQUESTED, constraint=wish, end_call=True)


async def deferral_offer(t: Turn) -> AsyncIterator[TurnEvent]:
    """The callee cannot say a time now: offer a booking link by email or a callback."""
    yield t.say("deferral_offer")
    yield t.done(intent="deferral")


async def deferral_answer(
    t: Turn, r: Reading, timetalk: TimeTalk, *, max_clarifications: int, slot_length: timedelta
) -> AsyncIterator[TurnEvent]:
    """The answer to "a booking link by email, or a call later?"; either way the call then ends politely."""
    step: AsyncIterator[TurnEvent]
    if r.callback or (r.by_call and not r.by_mail):
        step = callback(t, r, timetalk)
    elif r.by_mail or (r.confirm and not r.decline):
        step = _link(t)
    elif r.decline:
        step = _no_thanks(t)
    else:
        step = clarify(t, max_clarifications=max_clarifications, slot_length=slot_length)
    async for e in step:
        yield e


async def _link(t: Turn) -> AsyncIterator[TurnEvent]:
    yield t.say("link_sent")
    yield t.say("goodbye")
    yield t.done(intent="booking_link", classification=CallOutcome.INTERESTED, end_call=True)


async def _no_thanks(t: Turn) -> AsyncIterator[TurnEvent]:
    yield t.say("not_interested")
    yield t.say("goodbye")
    yield t.done(intent="decline", classification=CallOutcome.INTERESTED, end_call=True)


async def question(t: Turn, r: Reading, *, slot_length: timedelta) -> AsyncIterator[TurnEvent]:
    """A question instead of an answer: a short reply, then the question the call is waiting on."""
    if r.who:
        yield t.say("question_who", company=t.request.company_name or "Leadchain")
    else:
        yield t.say("question_later")
    async for e in ask_pending(t, slot_length=slot_length):
        yield e
    yield t.done(intent="question")


async def clarify(t: Turn, *, max_clarifications: int, slot_length: timedelta) -> AsyncIterator[TurnEvent]:
    if t.state.clarifications >= max_clarifications:
        yield t.say("give_up")
        yield t.say("goodbye")
        yield t.done(intent="unclear", end_call=True)
        return
    yield t.say("clarify", t.state.clarifications)
    async for e in ask_pending(t, slot_length=slot_length):
        yield e
    yield t.done(intent="unclear")


async def ask_pending(t: Turn, *, slot_length: timedelta) -> AsyncIterator[Speech]:
    """Say the question the call is waiting on again (after a clarification, a question or a reconnect)."""
    stage = t.state.stage
    if stage == Stage.IDENTITY:
        name = full_name(t.request.callee)
        yield t.say("identity", name=name) if name else t.say("identity_anon")
    elif stage in (Stage.Q_NEED, Stage.Q_TIMING, Stage.Q_DECIDER):
        yield t.say({Stage.Q_NEED: "q_need", Stage.Q_TIMING: "q_timing", Stage.Q_DECIDER: "q_decider"}[stage])
    elif stage == Stage.OFFER and t.state.offered:
        offered = t.state.offered
        if len(offered) == 1:
            yield t.say("offer_one", slot=t.slot_text(offered[0]))
        else:
            yield t.say("offer_two", first=t.slot_text(offered[0]), second=t.slot_text(offered[1]))
        t.result.offered = tuple(SlotChoice(s, s + slot_length) for s in offered[:2])
    elif stage == Stage.CALLBACK_OFFER:
        yield t.say("offer_callback")
    elif stage == Stage.REMOVE_OFFER:
        yield t.say("ask_remove")
    elif stage == Stage.DEFERRAL_OFFER:
        yield t.say("deferral_offer")
    else:
        yield t.say("propose_ask")
