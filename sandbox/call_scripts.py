"""A sandbox call's script (issue 22): what the callee says turn by turn, and what the agent in the OpenAI
Realtime stand-in answers and which tools it calls. Both ends of a Twilio-to-Realtime call are the sandbox:
the Media Streams client (sandbox.twilio_media) speaks the callee's turns, the Realtime stand-in
(sandbox.openai_realtime) hears them and plays the model. The bridge between them passes only ids, so the
two meet in a ScriptBook:

* the media client registers the script under its `callSid` before it connects (and releases it after);
* a Realtime session claims a script the first time it needs one: the one whose `callSid` appears anywhere
  in its session configuration (e.g. the instructions) or its connect URL, else the oldest one no session
  has claimed (calls opened one after another pair by order);
* each utterance the stand-in's VAD cuts is "heard" by finding the exact audio of a scripted turn in it
  (μ-law is passed through unchanged: the bytes the callee sent are the bytes the model gets). A match in
  another unclaimed script moves the session to that script (two calls opened at once pair by what is said);
  without a match (the bridge transcoded the audio) the Nth utterance is the script's Nth turn."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sandbox import speech
from sandbox.personas import Persona


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class CallerTurn:
    text: str  # what the callee says ("" with dtmf: keys only)
    reply: str | None = None  # what the agent answers (after its tool calls)
    tools: tuple[ToolCall, ...] = ()  # what the agent calls first, one response each, in order
    barge_in_ms: int | None = None  # talk over the agent after this much of its audio has played
    dtmf: str = ""  # keys pressed before speaking


@dataclass(frozen=True)
class CallScript:
    language: str
    greeting: str | None  # the agent's opening line (its first response without a user turn)
    turns: tuple[CallerTurn, ...]
    name: str = ""


# The agent's tool calls per persona: turn index -> calls. The arguments carry the callee's words, so the
# bridge's own parsing (voice.bridge.timeprefs) reads the wish as it would from a real model.
def _persona_tools(persona: Persona, callee_lines: list[str]) -> dict[int, tuple[ToolCall, ...]]:
    if persona.classification == "booked" and len(callee_lines) >= 6:
        wish = callee_lines[4]
        return {
            4: (ToolCall("find_slots", {"wish": wish}),),
            5: (ToolCall("book", {"slot_index": 0}),),
        }
    if persona.classification == "do_not_call" and callee_lines:
        return {0: (ToolCall("do_not_contact", {"reason": callee_lines[0]}),)}
    return {}


def script_for(persona: Persona, language: str) -> CallScript:
    """The persona's transcript in `language` as a script: each callee line with the agent line after it."""
    lines = persona.transcript.get(language) or persona.transcript.get("en") or []
    greeting = lines[0][1] if lines and lines[0][0] == "agent" else None
    callee = [(i, text) for i, (who, text) in enumerate(lines) if who == "callee"]
    tools = _persona_tools(persona, [text for _, text in callee])
    turns = []
    for n, (i, text) in enumerate(callee):
        reply = lines[i + 1][1] if i + 1 < len(lines) and lines[i + 1][0] == "agent" else None
        turns.append(CallerTurn(text, reply, tools.get(n, ())))
    return CallScript(language, greeting, tuple(turns), persona.name)


@dataclass
class _Entry:
    call_sid: str
    script: CallScript
    claimed_by: str | None = None
    greeted: bool = False  # the agent said the greeting (a reconnected session does not say it again)
    next_turn: int = 0  # the turn the next utterance is, when its audio matches none
    probes: list[tuple[int, list[bytes]]] = field(default_factory=list)  # (turn index, audio slices)


def _probes(script: CallScript) -> list[tuple[int, list[bytes]]]:
    """Per turn, up to three 20 ms slices of its audio taken where the voice is loud and varied (a slice of a
    pause would be found in any audio)."""
    out = []
    size = speech.FRAME_BYTES
    for index, turn in enumerate(script.turns):
        if not turn.text:
            continue
        audio = speech.speak(turn.text, script.language)
        offsets = [len(audio) * step // 20 for step in range(2, 19)]
        voiced = [audio[o : o + size] for o in offsets if len(set(audio[o : o + size])) >= _VARIED]
        out.append((index, voiced[:: max(1, len(voiced) // 3)][:3]))
    return out


_VARIED = 40  # distinct μ-law values in a slice of speech (digital silence has one, a pause a handful)


class ScriptBook:
    """The scripts of the calls in progress, by callSid, shared by the media client and the stand-in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}  # insertion order: the order calls registered

    def register(self, call_sid: str, script: CallScript) -> None:
        entry = _Entry(call_sid, script, probes=_probes(script))
        with self._lock:
            self._entries[call_sid] = entry

    def release(self, call_sid: str) -> None:
        with self._lock:
            self._entries.pop(call_sid, None)

    def claim(self, session_id: str, hints: str) -> tuple[str, CallScript] | None:
        """The script for a session: the one whose callSid is in `hints`, else the oldest unclaimed."""
        with self._lock:
            for entry in self._entries.values():
                if entry.claimed_by in (None, session_id) and entry.call_sid in hints:
                    entry.claimed_by = session_id
                    return entry.call_sid, entry.script
            for entry in self._entries.values():
                if entry.claimed_by is None:
                    entry.claimed_by = session_id
                    return entry.call_sid, entry.script
        return None

    def hear(self, session_id: str, audio: bytes) -> tuple[str, CallScript, int] | None:
        """The scripted turn whose exact μ-law audio is in `audio`: in the session's own script first,
        then in an unclaimed one (the session then moves to it)."""
        with self._lock:
            entries = sorted(self._entries.values(), key=lambda e: e.claimed_by != session_id)
            for entry in entries:
                if entry.claimed_by not in (None, session_id):
                    continue
                for index, slices in entry.probes:
                    if any(s in audio for s in slices):
                        for other in self._entries.values():
                            if other.claimed_by == session_id:
                                other.claimed_by = None
                        entry.claimed_by = session_id
                        return entry.call_sid, entry.script, index
        return None

    def progress(self, call_sid: str) -> tuple[bool, int]:
        """(greeting said, next turn) of the call, kept here so a reconnected session goes on from there."""
        with self._lock:
            entry = self._entries.get(call_sid)
            return (entry.greeted, entry.next_turn) if entry else (False, 0)

    def advance(self, call_sid: str, *, greeted: bool | None = None, next_turn: int | None = None) -> None:
        with self._lock:
            entry = self._entries.get(call_sid)
            if entry is not None:
                entry.greeted = entry.greeted if greeted is None else greeted
                entry.next_turn = entry.next_turn if next_turn is None else next_turn

    def unclaim(self, session_id: str) -> None:
        """A session ended (or dropped): its script can be claimed again (by the reconnecting bridge)."""
        with self._lock:
            for entry in self._entries.values():
                if entry.claimed_by == session_id:
                    entry.claimed_by = None


# Short scripts for whole calls through the bridge (tests/voice/twilio_e2e, bench/audio_bridge.py and the
# local stack's demo call): a few seconds of speech each, in English. A Twilio call to a number given one
# (Sandbox.twilio_scripts, or POST /twilio_realtime/scripts) plays it instead of the number's persona.
_OPENING = "Hello, this is an AI agent calling for Leadchain, and this call is recorded."
SCENARIOS: dict[str, CallScript] = {
    # Books inside "Tuesday after 2 pm": find_slots with the callee's words, then the first slot offered.
    "books_tuesday": CallScript(
        "en",
        _OPENING + " When would suit you for a short meeting?",
        (
            CallerTurn(
                "Tuesday after 2 pm.",
                "I have a slot on Tuesday afternoon. Shall I book it?",
                (ToolCall("find_slots", {"wish": "Tuesday after 2 pm."}),),
            ),
            CallerTurn("Yes, please.", "It is booked. Goodbye!", (ToolCall("book", {"slot_index": 0}),)),
        ),
        "books_tuesday",
    ),
    # Talks over the opening after 800 ms of it has played (the agent's audio must stop: Twilio `clear`).
    "barge_in": CallScript(
        "en",
        _OPENING + " I am calling about the offer you asked us about last week, and I would like to ask you "
        "a few short questions about it.",
        (CallerTurn("Sorry, who is calling?", "Leadchain. Goodbye!", barge_in_ms=800),),
        "barge_in",
    ),
    # bench/audio_bridge.py: a barge-in over the opening, then one ordinary turn (two replies to time).
    "bench": CallScript(
        "en",
        _OPENING + " I am calling about the offer you asked us about last week, and I would like to ask you "
        "a few short questions about it.",
        (
            CallerTurn("Sorry, who is calling?", "Leadchain, about your enquiry. Is now a good time?", barge_in_ms=600),
            CallerTurn("Yes, go ahead.", "Thank you. Goodbye!"),
        ),
        "bench",
    ),
    # Asks never to be called again: the agent records the opt-out.
    "never_call": CallScript(
        "en",
        _OPENING,
        (
            CallerTurn(
                "Never call me again.",
                "Understood, we will not call you again. Goodbye.",
                (ToolCall("do_not_contact", {"reason": "Never call me again."}),),
            ),
        ),
        "never_call",
    ),
}
