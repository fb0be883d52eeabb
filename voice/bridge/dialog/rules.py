"""The embedded default policy: deterministic rules, no LLM.

Each turn: rebuild the state from the transcript (state.py), read the callee's utterance and decide its
intent before any time is parsed (intents.py), act through the CRM tools, and say the next sentences
(phrases.py), one ``Speech`` chunk per sentence so the server can stream the first one at once. An opt-out
is recorded before anything is said, a hedged one is asked about; a response that ends the call always
carries a goodbye; nothing here raises into the server. The steps for callbacks, deferrals, questions and
opt-outs are in steer.py."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime, timedelta

from voice.bridge import offer_speech
from voice.bridge.dialog import intents, phrases, steer
from voice.bridge.dialog.callee_text import callee_names, e164, full_name, speakable_number, transfer_summary
from voice.bridge.dialog.intents import Intent, Reading
from voice.bridge.dialog.state import QUESTIONS, DialogState, Stage, answers_in, next_question, preference_in, rebuild
from voice.bridge.dialog.timetalk import TimeTalk, default_timetalk
from voice.bridge.dialog.turn import ToolFailed, Turn, constraint_json
from voice.bridge.dialog.types import (
    Speech,
    Tools,
    TurnDone,
    TurnEvent,
    TurnKind,
    TurnRequest,
)
from voice.bridge.timeprefs.constraint import TimeConstraint
from workflows.vocabulary import CallOutcome

log = logging.getLogger(__name__)


class RulesPolicy:
    """The default dialog policy. Stateless: everything comes from the request's transcript."""

    def __init__(
        self,
        timetalk: TimeTalk | None = None,
        *,
        max_reminders: int = 2,
        max_questions: int = 3,
        max_clarifications: int = 2,
        slot_minutes: int = 30,
    ) -> None:
        self.timetalk = timetalk or default_timetalk()
        self.max_reminders = max_reminders
        self.max_questions = max_questions
        self.max_clarifications = max_clarifications
        self.slot_length = timedelta(minutes=slot_minutes)

    def __repr__(self) -> str:
        return f"RulesPolicy(max_reminders={self.max_reminders}, max_questions={self.max_questions})"

    async def respond(self, request: TurnRequest, tools: Tools) -> AsyncGenerator[TurnEvent, None]:
        language = phrases.lang(request.callee.language)
        turn: Turn | None = None
        spoke = False
        try:
            state = rebuild(request.transcript, language, request.now, self.timetalk)
            turn = Turn(request, tools, state, language, self.timetalk)
            async for event in self._dispatch(turn):
                spoke = spoke or isinstance(event, Speech)
                yield event
                if isinstance(event, TurnDone):
                    return
        except Exception:  # noqa: BLE001 - the caller must never be left in silence by a bug here
            log.exception("call %s: the rules policy failed", request.call_id)
            if turn is None:
                turn = Turn(request, tools, DialogState(), language, self.timetalk)
            if not spoke:
                yield turn.say("sorry_hiccup")
            yield turn.done(intent="unclear")

    # ---- dispatch -----------------------------------------------------------------------------------

    async def _dispatch(self, t: Turn) -> AsyncIterator[TurnEvent]:
        state, request = t.state, t.request
        if not state.begun:
            async for e in self._opening(t):
                yield e
            return
        if request.kind == TurnKind.BEGIN and state.utterance is None:
            # A begin after a reconnect: the opening was said already; pick the thread up again.
            async for e in self._ask_pending(t):
                yield e
            yield t.done(intent="begin")
            return
        if request.kind == TurnKind.REMINDER or state.utterance is None:
            async for e in self._reminder(t):
                yield e
            return
        async for e in self._answer(t, intents.read(state.utterance)):
            yield e

    async def _opening(self, t: Turn) -> AsyncIterator[TurnEvent]:
        company = t.request.company_name or "Leadchain"
        yield t.say("opening", company=company)
        if t.request.callee.do_not_contact:
            yield t.say("known_objection")
            yield t.say("goodbye")
            yield t.done(intent="begin", classification=CallOutcome.DO_NOT_CALL, end_call=True)
            return
        yield t.say("objection")
        spoken = speakable_number(t.request.callback_number)
        if spoken:
            yield t.say("callback", number=spoken)
        name = full_name(t.request.callee)
        yield t.say("identity", name=name) if name else t.say("identity_anon")
        yield t.done(intent="begin")

    async def _reminder(self, t: Turn) -> AsyncIterator[TurnEvent]:
        if t.state.stage == Stage.ENDED:
            yield t.say("goodbye")
            yield t.done(intent="silence", end_call=True)
            return
        if t.state.reminders >= self.max_reminders:
            yield t.say("silence_end")
            yield t.say("goodbye")
            yield t.done(intent="silence", end_call=True)
            return
        yield t.say("reminder", t.state.reminders)
        yield t.done(intent="silence")

    async def _answer(self, t: Turn, r: Reading) -> AsyncIterator[TurnEvent]:
        state = t.state
        if r.opt_out:  # P5: recorded at once, at any stage, before a word is said
            async for e in steer.opt_out(t):
                yield e
            return
        if r.voicemail:
            yield t.say("voicemail")
            yield t.say("goodbye")
            yield t.done(intent="voicemail", end_call=True)
            return
        if self._wrong_person(t, r):
            yield t.say("wrong_number")
            yield t.say("goodbye")
            yield t.done(intent="wrong_number", classification=CallOutcome.WRONG_NUMBER, end_call=True)
            return
        if state.stage == Stage.ENDED:
            yield t.say("goodbye")
            yield t.done(intent="unclear", end_call=True)
            return
        if r.no_recording:
            yield t.say("no_recording")
            t.result.recording_declined = True
        if r.human:
            async for e in self._transfer(t):
                yield e
            return
        steering = self._steer(t, r)
        if steering is not None:
            async for e in steering:
                yield e
            return
        if r.material:
            yield t.say("material")
            yield t.say("goodbye")
            yield t.done(intent="interest", classification=CallOutcome.INTERESTED, end_call=True)
            return
        if r.no_recording:
            # Nothing else in the turn: go on where we were.
            async for e in self._ask_pending(t):
                yield e
            yield t.done(intent="recording_declined")
            return
        async for e in self._by_stage(t, r):
            yield e

    @staticmethod
    def _wrong_person(t: Turn, r: Reading) -> bool:
        """Said so, or a plain "no" to "am I speaking with ...?" without the callee's own name."""
        if r.wrong_number:
            return True
        plain_no = r.decline and not (r.confirm or r.refusal or r.callback)
        return t.state.stage == Stage.IDENTITY and plain_no and not r.names(callee_names(t.request.callee))

    def _steer(self, t: Turn, r: Reading) -> AsyncIterator[TurnEvent] | None:
        """The step for a turn that steers away from picking a time (a hedged opt-out, a callback, a
        refusal, a deferral), decided from the intent before any time is parsed; None: none of these."""
        stage, intent = t.state.stage, r.intent
        if stage == Stage.REMOVE_OFFER:
            return steer.remove_answer(t, r)
        if intent == Intent.OPT_OUT_UNSURE:
            return steer.ask_remove(t)
        if stage == Stage.DEFERRAL_OFFER:
            return steer.deferral_answer(
                t, r, self.timetalk, max_clarifications=self.max_clarifications, slot_length=self.slot_length
            )
        if r.callback and stage != Stage.CALLBACK_OFFER:
            return steer.callback(t, r, self.timetalk)
        if self._declines_alternatives(t, r):
            return self._ask_time(t)
        if r.refusal or (r.soft_refusal and stage not in (Stage.OFFER, Stage.CALLBACK_OFFER)):
            return self._refusal(t)
        if intent == Intent.DEFERRAL and stage in (Stage.PROPOSE, Stage.OFFER, Stage.OPEN):
            return steer.deferral_offer(t)
        return None

    def _declines_alternatives(self, t: Turn, r: Reading) -> bool:
        """A plain "no" to "shall I name other times?" turns down the alternatives, not the appointment (a
        refusal, a callback or a new wish go their usual way)."""
        if not offer_speech.asked_alternatives(t) or not r.decline or r.refusal or r.callback or r.human:
            return False
        return self.timetalk.preference(r.text, t.language, t.request.now) is None

    async def _ask_time(self, t: Turn) -> AsyncIterator[TurnEvent]:
        yield t.say("ask_time")
        yield t.done(intent="decline")

    async def _refusal(self, t: Turn) -> AsyncIterator[TurnEvent]:
        yield t.say("not_interested")
        yield t.say("goodbye")
        yield t.done(intent="refusal", classification=CallOutcome.NOT_INTERESTED, end_call=True)

    async def _by_stage(self, t: Turn, r: Reading) -> AsyncIterator[TurnEvent]:
        """The answer at the current stage, by the first rule that applies: a yes/no to a callback
        offer, a pick among the offered slots, a wish for a time, then what the stage asked for."""
        state, stage = t.state, t.state.stage
        wish = preference_in(stage, r, t.language, t.request.now, self.timetalk)
        picking = stage in (Stage.OFFER, Stage.OPEN) and bool(state.offered)
        step: AsyncIterator[TurnEvent]
        if stage == Stage.CALLBACK_OFFER and (r.confirm or r.decline):
            step = self._callback_offer_answer(t, r)
        elif r.intent == Intent.QUESTION:
            step = steer.question(t, r, slot_length=self.slot_length)
        elif r.intent == Intent.OPEN and stage in (Stage.PROPOSE, Stage.OPEN):
            # "Egal, schlagen Sie was vor": the best slots for what was said so far.
            step = self._offer(t, state.constraint or TimeConstraint(language=t.language), intent="open_answer")
        elif picking and len(state.offered) > 1 and (r.first != r.second) and not r.decline:
            # "Den zweiten, bitte": an ordinal picks an offered slot (parsers read "the second" as a date).
            step = self._book(t, state.offered[1] if r.second else state.offered[0])
        elif wish is not None:
            step = self._wish_answer(t, r, wish)
        elif picking:
            step = self._offered_answer(t, r)
        elif stage in (Stage.PROPOSE, Stage.OPEN):
            step = self._propose_answer(t, r)
        elif stage == Stage.IDENTITY:
            step = self._identity_answer(t, r)
        elif stage in (Stage.Q_NEED, Stage.Q_TIMING, Stage.Q_DECIDER):
            step = self._question_answer(t, r)
        else:
            step = self._clarify(t)
        async for e in step:
            yield e

    async def _callback_offer_answer(self, t: Turn, r: Reading) -> AsyncIterator[TurnEvent]:
        if r.confirm:
            yield t.say("callback_later")
            yield t.say("goodbye")
            yield t.done(intent="callback", classification=CallOutcome.CALLBACK_REQUESTED, end_call=True)
            return
        yield t.say("carry_on")
        yield t.say("propose_ask")
        yield t.done(intent="decline")

    async def _wish_answer(self, t: Turn, r: Reading, wish: TimeConstraint) -> AsyncIterator[TurnEvent]:
        state = t.state
        if state.stage in (Stage.OFFER, Stage.OPEN) and state.offered:
            # "Donnerstag passt": the callee picks an offered slot by naming it.
            chosen = [s for s in state.offered if wish.allows(s, s + self.slot_length)]
            if len(chosen) == 1 or (chosen and r.confirm and not r.decline):
                async for e in self._book(t, chosen[0]):
                    yield e
                return
        merged = state.constraint.merged(wish) if state.constraint is not None else wish
        async for e in self._offer(t, merged, intent="time_preference"):
            yield e

    async def _offered_answer(self, t: Turn, r: Reading) -> AsyncIterator[TurnEvent]:
        offered = t.state.offered
        pick = None
        if r.second and len(offered) > 1:
            pick = offered[1]
        elif r.first or r.confirm:
            pick = offered[0]
        if pick is not None and not r.decline:
            async for e in self._book(t, pick):
                yield e
            return
        if r.decline or r.soft_refusal:
            yield t.say("ask_time")
            yield t.done(intent="decline")
            return
        async for e in self._clarify(t):
            yield e

    async def _propose_answer(self, t: Turn, r: Reading) -> AsyncIterator[TurnEvent]:
        if r.confirm or r.appointment:
            async for e in self._offer(t, t.state.constraint or TimeConstraint(language=t.language), intent="confirm"):
                yield e
            return
        if r.decline:
            yield t.say("no_appointment")
            yield t.say("goodbye")
            yield t.done(intent="decline", classification=CallOutcome.INTERESTED, end_call=True)
            return
        async for e in self._clarify(t):
            yield e

    async def _identity_answer(self, t: Turn, r: Reading) -> AsyncIterator[TurnEvent]:
        confirmed = r.confirm or r.names(callee_names(t.request.callee)) or r.appointment or len(r.text) > 3
        if r.empty or not confirmed:
            async for e in self._clarify(t):
                yield e
            return
        yield t.say("intro")
        yield t.say("context", company=t.request.company_name or "Leadchain")
        if r.appointment:
            constraint = t.state.constraint or TimeConstraint(language=t.language)
            async for e in self._offer(t, constraint, intent="identity_confirmed"):
                yield e
            return
        async for e in self._qualify(t, {}, intent="identity_confirmed"):
            yield e

    async def _question_answer(self, t: Turn, r: Reading) -> AsyncIterator[TurnEvent]:
        if r.empty:
            async for e in self._clarify(t):
                yield e
            return
        new = answers_in(t.state.stage, r, False)
        async for e in self._record(t, new):
            yield e
        if r.appointment:
            async for e in self._offer(t, t.state.constraint or TimeConstraint(language=t.language), intent="interest"):
                yield e
            return
        yield t.say("thanks", len(t.result.qualification))
        async for e in self._qualify(t, new, intent="interest"):
            yield e

    # ---- pieces -------------------------------------------------------------------------------------

    async def _record(self, t: Turn, new: dict[str, str]) -> AsyncIterator[TurnEvent]:
        fresh = {k: v for k, v in new.items() if k not in t.result.qualification}
        if not fresh:
            return
        answers = {**t.result.qualification, **fresh}
        t.result.qualification = answers
        try:
            _, record = await t.tool(
                "record_qualification", {"answers": answers}, t.tools.record_qualification(dict(answers))
            )
            yield record
        except ToolFailed as failed:
            yield failed.record  # the answers are in the result; the call goes on

    async def _qualify(self, t: Turn, new: dict[str, str], intent: str) -> AsyncIterator[TurnEvent]:
        answers = {**t.state.answers, **new}
        key = next_question(answers, t.state.asked, self.max_questions)
        if key is None:
            yield t.say("propose")
            yield t.say("propose_ask")
        else:
            yield t.say(QUESTIONS[key])
        yield t.done(intent=intent)

    async def _offer(
        self, t: Turn, constraint: TimeConstraint, *, intent: str, avoid: tuple[datetime, ...] = ()
    ) -> AsyncIterator[TurnEvent]:
        t.result.constraint = constraint if not constraint.empty else t.result.constraint
        try:
            offer, record = await t.tool("find_slots", constraint_json(constraint), t.tools.find_slots(constraint))
            yield record
        except ToolFailed as failed:
            yield failed.record
            yield t.say("fallback_proposal")
            yield t.say("goodbye")
            yield t.done(intent=intent, classification=CallOutcome.INTERESTED, end_call=True)
            return
        # Said under the offer invariant: matching slots plainly, anything else only after the real reason,
        # a question and a yes, as an alternative (docs/voice-bridge.md §V11).
        async for e in offer_speech.present(t, constraint, offer, intent=intent, avoid=avoid):
            yield e

    async def _book(self, t: Turn, start: datetime) -> AsyncIterator[TurnEvent]:
        # The slot comes from the transcript alone (the words of our offer), so a replayed turn books the
        # same slot; the CRM picks the rep when owner_id is None and books once per call and slot. The slot
        # is marked with whether it satisfies the caller's constraint, so the booking records it.
        slot = offer_speech.booking_slot(t, start, self.slot_length)
        try:
            booking, record = await t.tool(
                "book", {"start": start.isoformat(), "end": slot.end.isoformat()}, t.tools.book(slot)
            )
            yield record
        except ToolFailed as failed:
            yield failed.record
            yield t.say("fallback_mail")
            yield t.say("goodbye")
            yield t.done(intent="confirm", classification=CallOutcome.INTERESTED, end_call=True)
            return
        if booking.status in ("booked", "already_booked"):
            yield t.say("booked", slot=t.slot_text(booking.start or start))
            yield t.say("confirmation_mail")
            yield t.say("goodbye")
            yield t.done(intent="confirm", classification=CallOutcome.BOOKED, booking=booking, end_call=True)
            return
        if booking.status == "taken":
            yield t.say("taken")
            t.result.booking = booking
            async for e in self._offer(
                t, t.state.constraint or TimeConstraint(language=t.language), intent="confirm", avoid=(start,)
            ):
                yield e
            return
        yield t.say("fallback_mail")
        yield t.say("goodbye")
        yield t.done(intent="confirm", classification=CallOutcome.INTERESTED, booking=booking, end_call=True)

    async def _transfer(self, t: Turn) -> AsyncIterator[TurnEvent]:
        number = e164(t.request.transfer_number)
        if number:
            yield t.say("transfer")
            yield t.done(intent="transfer", transfer_number=number, transfer_summary=self.summary(t))
            return
        yield t.say("no_colleague")
        yield t.say("offer_callback")
        yield t.done(intent="transfer")

    def _clarify(self, t: Turn) -> AsyncIterator[TurnEvent]:
        return steer.clarify(t, max_clarifications=self.max_clarifications, slot_length=self.slot_length)

    def _ask_pending(self, t: Turn) -> AsyncIterator[Speech]:
        """Say the question the call is waiting on again (after a clarification or a reconnect)."""
        return steer.ask_pending(t, slot_length=self.slot_length)

    def summary(self, t: Turn) -> str:
        """A few lines for the colleague taking a warm transfer."""
        return transfer_summary(t.request.callee, t.result, t.language)
