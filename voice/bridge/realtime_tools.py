"""The CRM tools of a Realtime session: the LLM policy's function schemas (voice.bridge.dialog.llm_schema)
in the Realtime API's flat form, plus callback, transfer and end, and their execution over the bridge's
``Tools`` (voice.bridge.crm_tools: worker threads, the hard timeout, bookings idempotent per call and slot).

A tool answers with the JSON text the model reads (``function_call_output.output``); an effect the session
has to carry out (hang up, transfer) comes back as ``ToolOutcome.action``. A result is kept per function
call id, so a call the model repeats (or a reconnect replays) runs once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from providers.events import CLASSIFICATIONS
from voice.bridge.dialog import phrases
from voice.bridge.dialog.llm_schema import QUALIFICATION_KEYS, TIME_PREFERENCE, constraint_from, loads, start_from
from voice.bridge.dialog.llm_schema import TOOLS as LLM_TOOLS
from voice.bridge.dialog.timetalk import TimeTalk
from voice.bridge.dialog.types import SlotChoice, SlotOffer, Tools, ToolTimeout
from voice.bridge.offers import BUSINESS_TZ, mark, satisfies
from voice.bridge.timeprefs.constraint import TimeConstraint
from workflows.vocabulary import CallOutcome

log = logging.getLogger(__name__)

SLOT_MINUTES = 30
# Other names a caller of these tools may use (the sandbox's scripted model says do_not_contact).
ALIASES = {"do_not_contact": "record_opt_out", "transfer": "transfer_call", "hang_up": "end_call"}
Action = Literal["end", "transfer"]

_EXTRA: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "record_callback",
        "description": "The callee wants to be called back later: the time they named (leave out what they "
        "did not say). Then say goodbye and call end_call with outcome callback_requested.",
        "parameters": {
            "type": "object",
            "properties": {"time_preference": TIME_PREFERENCE},
            "required": ["time_preference"],
        },
    },
    {
        "type": "function",
        "name": "transfer_call",
        "description": "Hand the call to a human colleague, after you said that you connect them.",
        "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}},
    },
    {
        "type": "function",
        "name": "end_call",
        "description": "Hang up, after your goodbye: the outcome of the call.",
        "parameters": {
            "type": "object",
            "properties": {"outcome": {"type": "string", "enum": list(CLASSIFICATIONS)}},
            "required": ["outcome"],
        },
    },
]


def tool_definitions() -> list[dict[str, Any]]:
    """The session's tools: find_slots, book, record_qualification, record_opt_out (the LLM policy's own
    schemas, unwrapped from chat completions' {"function": ...}), record_callback, transfer_call, end_call."""
    mapped = [
        {"type": "function", **tool["function"]} for tool in LLM_TOOLS if tool["function"]["name"] != "turn_result"
    ]
    return mapped + _EXTRA


@dataclass(frozen=True)
class ToolOutcome:
    output: str
    action: Action | None = None
    classification: str | None = None


@dataclass
class CallFacts:
    """What the tools learned during the call (for the call's record): ids and labels only."""

    classification: str | None = None
    appointment_id: int | None = None
    constraint: TimeConstraint | None = None
    offered: dict[str, SlotChoice] = field(default_factory=dict)  # by start, ISO
    last_offer: tuple[SlotChoice, ...] = ()  # the latest find_slots' slots, in the order given
    qualification: dict[str, str] = field(default_factory=dict)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class RealtimeToolbox:
    """Runs the model's function calls for one call."""

    def __init__(
        self,
        tools: Tools,
        *,
        language: str,
        now: datetime,
        timetalk: TimeTalk,
        transfer_available: bool,
    ) -> None:
        self.tools = tools
        self.language = phrases.lang(language)
        self.now = now
        self.timetalk = timetalk
        self.transfer_available = transfer_available
        self.facts = CallFacts()
        self._done: dict[str, ToolOutcome] = {}

    async def run(self, call_id: str, name: str, arguments: str | dict[str, Any] | None) -> ToolOutcome:
        if call_id in self._done:
            return self._done[call_id]  # a repeated call (replay): its first answer, nothing run again
        outcome = await self._run(ALIASES.get(name, name), loads(arguments))
        self._done[call_id] = outcome
        return outcome

    async def _run(self, name: str, args: dict[str, Any]) -> ToolOutcome:
        try:
            if name == "find_slots":
                return ToolOutcome(await self._find_slots(args))
            if name == "book":
                return ToolOutcome(await self._book(args))
            if name == "record_qualification":
                answers = {
                    k: str(v)[:300] for k, v in (args.get("answers") or {}).items() if k in QUALIFICATION_KEYS and v
                }
                self.facts.qualification.update(answers)
                await self.tools.record_qualification(dict(self.facts.qualification))
                return ToolOutcome(_json({"ok": True}))
            if name == "record_opt_out":
                self.facts.classification = CallOutcome.DO_NOT_CALL
                await self.tools.record_opt_out(str(args.get("reason") or "asked in the call")[:200])
                return ToolOutcome(_json({"ok": True}), classification=CallOutcome.DO_NOT_CALL)
            if name == "record_callback":
                window = constraint_from(args.get("time_preference"), self.language)
                if window is not None:
                    await self.tools.record_callback(window)
                self._classify(CallOutcome.CALLBACK_REQUESTED)
                return ToolOutcome(_json({"ok": True}))
            if name == "transfer_call":
                if not self.transfer_available:
                    return ToolOutcome(_json({"ok": False, "error": "no colleague available; offer a callback"}))
                return ToolOutcome(_json({"ok": True}), action="transfer")
            if name == "end_call":
                outcome = args.get("outcome")
                if outcome in CLASSIFICATIONS:
                    self._classify(str(outcome))
                return ToolOutcome(_json({"ok": True}), action="end", classification=self.facts.classification)
        except ToolTimeout:
            return ToolOutcome(_json({"error": "timeout", "say": phrases.say("fallback_mail", self.language)}))
        except Exception as e:  # noqa: BLE001 - reported to the model, never raised into the call
            log.warning("realtime tool %s failed: %s", name, type(e).__name__)
            return ToolOutcome(_json({"error": type(e).__name__}))
        return ToolOutcome(_json({"error": f"unknown tool {name}"[:80]}))

    def _classify(self, classification: str) -> None:
        # A booking or an opt-out is what the call did, whatever the model says at its end.
        if self.facts.classification not in (CallOutcome.BOOKED, CallOutcome.DO_NOT_CALL):
            self.facts.classification = classification

    async def _find_slots(self, args: dict[str, Any]) -> str:
        constraint = constraint_from(args.get("time_preference"), self.language)
        if constraint is None and isinstance(args.get("wish"), str):
            # The callee's words instead of the structured object: the dialog's own reader parses them.
            constraint = self.timetalk.preference(args["wish"][:300], self.language, self.now)
        if constraint is not None:
            self.facts.constraint = constraint
        wish = constraint if constraint is not None else TimeConstraint(language=self.language)
        # Every slot marked by the one check (voice/bridge/offers.py), whatever the tools did.
        offer: SlotOffer = mark(wish, await self.tools.find_slots(wish))
        two = replace(offer, alternatives=offer.alternatives[:2])
        slots = tuple(s for s in (two.wished, *two.alternatives) if s is not None)
        self.facts.last_offer = slots
        for slot in slots:
            self.facts.offered[slot.start.isoformat()] = slot
        return two.tool_result(lambda start: self.timetalk.render(start, self.language, self.now))

    async def _book(self, args: dict[str, Any]) -> str:
        start = start_from(args.get("start"), BUSINESS_TZ) if args.get("start") else None
        index = args.get("slot_index")
        if start is None and isinstance(index, int) and 0 <= index < len(self.facts.last_offer):
            start = self.facts.last_offer[index].start  # "the first one" of the latest offer
        if start is None:
            return _json({"error": "no valid start"})
        offered = next((s for s in self.facts.offered.values() if s.start == start), None)
        constraint = self.facts.constraint
        if offered is not None:
            slot = offered
        else:
            end = start + timedelta(minutes=SLOT_MINUTES)
            slot = SlotChoice(start, end, matches=satisfies(constraint, start, end) if constraint else None)
        booking = await self.tools.book(slot)
        if booking.status in ("booked", "already_booked"):
            self.facts.classification = CallOutcome.BOOKED
            self.facts.appointment_id = booking.appointment_id
        return _json(
            {"status": booking.status, "spoken": self.timetalk.render(booking.start or start, self.language, self.now)}
        )
