"""The conversation state, rebuilt from the transcript on every turn (there is no per-call memory).

The agent's own earlier sentences say where the call is: the last question we asked sets the stage,
the last offer's slots are read back from its words (``TimeTalk.read_back``), our reminders and
clarifications are counted. The callee's earlier turns give the qualification answers (each one read
against the question that preceded it), the time preference (merged turn by turn, later corrections
winning) and whether the recording was declined. The same transcript always gives the same state, so a
reconnected session or another bridge instance continues the same call."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache

from voice.bridge.dialog import intents, phrases
from voice.bridge.dialog.timetalk import TimeTalk
from voice.bridge.dialog.types import Turn
from voice.bridge.timeprefs.constraint import TimeConstraint

MAX_ANSWER_CHARS = 300


class Stage(str, enum.Enum):
    START = "start"  # nothing said yet
    IDENTITY = "identity"  # we asked whether we speak with the right person
    Q_NEED = "q_need"  # qualification questions
    Q_TIMING = "q_timing"
    Q_DECIDER = "q_decider"
    PROPOSE = "propose"  # we asked when an appointment would suit
    OFFER = "offer"  # we offered one or two slots
    CALLBACK_OFFER = "callback_offer"  # no human free: we asked whether someone should call back
    REMOVE_OFFER = "remove_offer"  # a hedged opt-out: we asked whether to remove the number
    DEFERRAL_OFFER = "deferral_offer"  # the callee could not say a time: we offered a booking link or a callback
    ENDED = "ended"  # we said goodbye
    OPEN = "open"  # the last agent turn is not one of ours (the LLM policy spoke)


STAGE_OF_PHRASE = {
    "identity": Stage.IDENTITY,
    "identity_anon": Stage.IDENTITY,
    "q_need": Stage.Q_NEED,
    "q_timing": Stage.Q_TIMING,
    "q_decider": Stage.Q_DECIDER,
    "propose_ask": Stage.PROPOSE,
    "ask_time": Stage.PROPOSE,
    "offer_one": Stage.OFFER,
    "offer_two": Stage.OFFER,
    # The offer invariant (docs/voice-bridge.md §V11): the question before alternatives waits for a time or a
    # yes; alternatives, said as such, are an offer like any other.
    "alternatives_ask": Stage.PROPOSE,
    **dict.fromkeys(("alt_one_hours", "alt_one_full", "alt_one_other"), Stage.OFFER),
    **dict.fromkeys(("alt_two_hours", "alt_two_full", "alt_two_other"), Stage.OFFER),
    "offer_callback": Stage.CALLBACK_OFFER,
    "ask_remove": Stage.REMOVE_OFFER,
    "deferral_offer": Stage.DEFERRAL_OFFER,
    "goodbye": Stage.ENDED,
    # An inbound caller's booking and the new time of a move (voice/bridge/dialog/inbound.py) go on as the
    # outbound dialog's appointment steps.
    "in_book_ask": Stage.PROPOSE,
    "in_move_ask": Stage.PROPOSE,
}
# Qualification answer key -> the question that asks for it, in the order they are asked.
QUESTIONS = {"need": "q_need", "timing": "q_timing", "decision_maker": "q_decider"}
QUESTION_STAGES = {Stage.Q_NEED: "need", Stage.Q_TIMING: "timing", Stage.Q_DECIDER: "decision_maker"}
# Phrases that never change the stage on their own (a reminder keeps the question it reminds of).
_NEUTRAL = {
    "reminder",
    "clarify",
    "thanks",
    "no_recording",
    "filler",
    "sorry_hiccup",
    "carry_on",
    "taken",
    "no_slots",
    "outside_hours",
    "wish_full",
    "wish_unavailable",
    "intro",
    "context",
    "propose",
    "no_colleague",
    "question_who",
    "question_later",
}
_RECOGNISED = phrases.KEYS


@dataclass(frozen=True)
class Said:
    key: str
    start: int
    end: int
    fields: dict[str, str]


def recognise(text: str, languages: Iterable[str] | None = None) -> list[Said]:
    """Our own phrases in one agent turn, in the order they were said. ``languages``: the ones to look for
    (the call's own when the dialog replays its turns: the agent speaks one language per call, and every
    further language would cost each turn another pass); every language the agent speaks when None."""
    codes = tuple(languages) if languages is not None else phrases.LANGUAGES
    return list(_recognised(text, codes))


@lru_cache(maxsize=4096)
def _recognised(text: str, codes: tuple[str, ...]) -> tuple[Said, ...]:
    # Cached: every turn replays the call's earlier agent turns, whose words do not change.
    norm = phrases.normalise(text)
    found: list[Said] = []
    for key in _RECOGNISED:
        for language in codes:
            for m in phrases.pattern(key, language).finditer(norm):
                found.append(Said(key, m.start(), m.end(), phrases.fields_of(m)))
    found.sort(key=lambda s: (s.start, -s.end))
    # The same words may match in both languages or as parts of a longer phrase: keep non-overlapping.
    kept: list[Said] = []
    for s in found:
        if kept and s.start < kept[-1].end:
            continue
        kept.append(s)
    return tuple(kept)


@dataclass(frozen=True)
class DialogState:
    stage: Stage = Stage.START
    offered: tuple[datetime, ...] = ()  # the slots of our latest offer, when the stage is OFFER/OPEN
    answers: dict[str, str] = field(default_factory=dict)
    asked: dict[str, int] = field(default_factory=dict)  # qualification key -> times we asked
    constraint: TimeConstraint | None = None  # the callee's time preference so far
    recording_declined: bool = False
    reminders: int = 0  # our reminders since the callee last spoke
    clarifications: int = 0  # our clarification questions in a row
    agent_turns: int = 0
    utterance: str | None = None  # what the callee just said (None: the agent spoke last)
    said_last: tuple[str, ...] = ()  # the phrase keys of our last turn

    @property
    def begun(self) -> bool:
        return self.agent_turns > 0


def answers_in(stage: Stage, reading: intents.Reading, has_preference: bool) -> dict[str, str]:
    """The qualification answers one callee turn gives, read against the question before it."""
    if reading.empty or not is_plain_answer(reading):
        return {}
    text = reading.text[:MAX_ANSWER_CHARS]
    out: dict[str, str] = {}
    key = QUESTION_STAGES.get(stage)
    if key and not (has_preference and stage != Stage.Q_TIMING) and not reading.appointment:
        out[key] = text
    # Said without being asked ("das entscheide ich selbst, am liebsten sofort").
    if reading.decider and stage not in (Stage.IDENTITY, Stage.OFFER):
        out.setdefault("decision_maker", text)
    if reading.timing and stage not in (Stage.IDENTITY, Stage.OFFER, Stage.PROPOSE):
        out.setdefault("timing", text)
    return out


def is_plain_answer(reading: intents.Reading) -> bool:
    """Not one of the turns that steer the call elsewhere (opt-out, refusal, callback, ...)."""
    return not (
        reading.opt_out
        or reading.opt_out_unsure
        or reading.wrong_number
        or reading.voicemail
        or reading.human
        or reading.refusal
        or reading.callback
        or reading.no_recording
        or reading.material
    )


def preference_in(
    stage: Stage, reading: intents.Reading, language: str, now: datetime, timetalk: TimeTalk
) -> TimeConstraint | None:
    """The appointment preference in a callee turn. An answer to "by when do you want it done?" is about
    the project, not the appointment; the intent is decided first (intents.decide), so a callback wish is a
    callback and a question or an open answer is not read for times."""
    if stage in (Stage.Q_TIMING, Stage.START, Stage.REMOVE_OFFER, Stage.DEFERRAL_OFFER) or reading.empty:
        return None
    if reading.voicemail or reading.intent not in (intents.Intent.APPOINTMENT, intents.Intent.OTHER):
        return None
    return timetalk.preference(reading.text, language, now)


def offered_in(said: list[Said], text: str, language: str, now: datetime, timetalk: TimeTalk) -> tuple[datetime, ...]:
    """The slots of the last offer in one agent turn (plain or as alternatives), read back from its words."""
    offers = [s for s in said if STAGE_OF_PHRASE.get(s.key) == Stage.OFFER]
    if not offers:
        return ()
    last = offers[-1]
    slots: list[datetime] = []
    for name in ("slot", "first", "second"):
        if name in last.fields:
            found = timetalk.slots_in(last.fields[name], language, now)
            if found:
                slots.append(found[0])
    if not slots:  # the fields did not read back on their own: read the whole sentence
        slots = timetalk.slots_in(phrases.normalise(text)[last.start : last.end], language, now)
    return tuple(dict.fromkeys(slots))


def rebuild(transcript: Iterable[Turn], language: str, now: datetime, timetalk: TimeTalk) -> DialogState:
    """The dialog state from the transcript: the history replayed turn by turn, then the callee's
    latest words (the trailing user turns) as the utterance to answer."""
    turns = [t for t in transcript if isinstance(t, Turn)]
    cut = len(turns)
    while cut and turns[cut - 1].role == "user":
        cut -= 1
    history, current = turns[:cut], turns[cut:]
    utterance = " ".join(t.text or "" for t in current).strip() if current else None

    state = DialogState()
    for turn in history:
        if turn.role == "agent":
            state = _after_agent_turn(state, turn.text or "", language, now, timetalk)
        else:
            state = _after_callee_turn(state, turn.text, language, now, timetalk)
    if utterance is None:
        return state
    declined = state.recording_declined or intents.read(utterance).no_recording
    return replace(state, reminders=0, recording_declined=declined, utterance=utterance)


def _after_agent_turn(state: DialogState, text: str, language: str, now: datetime, timetalk: TimeTalk) -> DialogState:
    """What our own words tell: the stage we moved to, the slots offered, questions asked, reminders."""
    said = recognise(text, (phrases.lang(language),))
    staged = [s for s in said if s.key in STAGE_OF_PHRASE]
    stage = state.stage
    if staged:
        stage = STAGE_OF_PHRASE[staged[-1].key]
    elif text.strip() and not said:
        stage = Stage.OPEN
    offered = state.offered
    if stage == Stage.OFFER and staged:
        offered = offered_in(said, text, language, now, timetalk)
    elif stage == Stage.OPEN:
        offered = tuple(dict.fromkeys(timetalk.slots_in(text, language, now)))
    elif staged:
        offered = ()
    asked = dict(state.asked)
    for key, question in QUESTIONS.items():
        asked[key] = asked.get(key, 0) + sum(1 for s in said if s.key == question)
    return replace(
        state,
        stage=stage,
        offered=offered,
        asked=asked,
        clarifications=state.clarifications + 1 if any(s.key == "clarify" for s in said) else 0,
        reminders=state.reminders + sum(1 for s in said if s.key == "reminder"),
        agent_turns=state.agent_turns + 1,
        said_last=tuple(s.key for s in said),
    )


def _after_callee_turn(
    state: DialogState, text: str | None, language: str, now: datetime, timetalk: TimeTalk
) -> DialogState:
    """What the callee said back then: answers to our questions, a time preference, no recording."""
    reading = intents.read(text)
    preference = preference_in(state.stage, reading, language, now, timetalk)
    answers = dict(state.answers)
    for key, value in answers_in(state.stage, reading, preference is not None).items():
        answers.setdefault(key, value)
    constraint = state.constraint
    if preference is not None:
        constraint = constraint.merged(preference) if constraint is not None else preference
    declined = state.recording_declined or reading.no_recording
    return replace(state, reminders=0, recording_declined=declined, answers=answers, constraint=constraint)


def next_question(answers: dict[str, str], asked: dict[str, int], limit: int = 3) -> str | None:
    """The next qualification key to ask: not answered, asked at most once before, at most ``limit``."""
    for number, key in enumerate(QUESTIONS):
        if number >= limit:
            return None
        if key not in answers and asked.get(key, 0) < 2:
            return key
    return None
