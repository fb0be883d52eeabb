"""The contract between the protocol servers (Retell, Vapi) and the dialog policy.

A server turns each provider request into a ``TurnRequest`` and iterates ``policy.respond(request, tools)``:
``Speech`` chunks are streamed to the provider as they come, ``ToolRecord``s are reported (Retell
tool-call records), and the final ``TurnDone`` carries the structured ``TurnResult`` (end_call,
transfer, classification, ...). ``Tools`` is implemented by the server on top of voice.bridge.booking;
it measures each call, speaks a filler itself when a tool is slow, and raises ``ToolTimeout`` past the
hard limit so the policy can fall back ("I'll confirm by email")."""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

# One SlotChoice and one SlotOffer for the whole bridge (the offer invariant lives with them).
from voice.bridge.offers import SlotChoice as SlotChoice
from voice.bridge.offers import SlotOffer as SlotOffer
from voice.bridge.timeprefs.constraint import TimeConstraint


@dataclass(frozen=True)
class Turn:
    role: Literal["agent", "user"]
    text: str


class TurnKind(str, enum.Enum):
    BEGIN = "begin"  # the opening line (Retell response_id 0, Vapi first completion)
    RESPONSE = "response"  # the callee finished a turn and an answer is required
    REMINDER = "reminder"  # the callee has been silent: a short re-prompt, not a new pitch


@dataclass(frozen=True)
class Callee:
    """What the policy may know about the person it talks to (read from the CRM by the server)."""

    lead_id: int | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    language: str = "de"
    owner_name: str | None = None
    do_not_contact: bool = False


@dataclass(frozen=True)
class CallerAppointment:
    """One of an inbound caller's upcoming appointments, as the dialog names it (its start) and changes it
    (its id, and the .ics sequence it was read at: a change names it, so a replayed turn changes it once)."""

    appointment_id: int
    start: datetime  # aware
    end: datetime
    sequence: int = 0


@dataclass(frozen=True)
class InboundCaller:
    """What the inbound dialog knows about a call to one of the company's numbers (issue 17), read by the
    bridge from the CRM: the number's greeting name, hours and transfer target, and the caller's upcoming
    appointments. `status` is crm.inbound.recognition.CallerStatus's value (known | unknown | withheld)."""

    number_id: int
    greeting_name: str
    status: str = "unknown"
    within_hours: bool = True
    transfer_target: str | None = None
    appointments: tuple[CallerAppointment, ...] = ()
    objected_to_calls: bool = False


@dataclass(frozen=True)
class TurnRequest:
    call_id: str
    provider: str  # retell | vapi
    kind: TurnKind
    transcript: tuple[Turn, ...]  # the full transcript so far, oldest first
    callee: Callee
    now: datetime  # aware; the reference time for "morgen", "nächsten Donnerstag"
    company_name: str = "Leadchain"
    transfer_number: str | None = None  # E.164, where a human can take over
    callback_number: str | None = None  # E.164 the callee can call back (the caller ID; TCPA wants it said)
    inbound: InboundCaller | None = None  # set when the person called one of the company's numbers


@dataclass(frozen=True)
class Booking:
    status: Literal["booked", "already_booked", "taken", "failed"]
    appointment_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None


class ToolTimeout(Exception):
    """A CRM tool did not answer within the hard timeout; the policy falls back."""


class Tools(Protocol):
    async def find_slots(self, constraint: TimeConstraint) -> SlotOffer: ...
    async def book(self, slot: SlotChoice) -> Booking: ...
    async def record_qualification(self, answers: dict[str, str]) -> None: ...
    async def record_opt_out(self, reason: str) -> None: ...

    async def record_callback(self, window: TimeConstraint) -> None:
        """The call ends with a callback request in `window` (what the caller said, parsed): the lead's chain
        calls back then. A default, so implementations written before it (subclassing Tools) keep working."""
        return None


@dataclass
class TurnResult:
    """The structured result of one turn; the rules policy and the LLM policy fill the same fields."""

    text: str = ""
    end_call: bool = False
    transfer_number: str | None = None
    intent: str | None = None  # e.g. identity_confirmed, interest, refusal, callback, wrong_number,
    # do_not_call, time_preference, confirm, decline, unclear, silence
    classification: str | None = None  # booked | interested | callback_requested | not_interested |
    # do_not_call | wrong_number (providers.events.CLASSIFICATIONS)
    qualification: dict[str, str] = field(default_factory=dict)
    constraint: TimeConstraint | None = None
    booking: Booking | None = None
    offered: tuple[SlotChoice, ...] = ()
    recording_declined: bool = False  # the callee objected to the recording (§ 201 StGB): stop recording
    transfer_summary: str | None = None  # for a warm transfer: who the callee is and what was said so far


@dataclass(frozen=True)
class Speech:
    text: str


@dataclass(frozen=True)
class ToolRecord:
    tool_call_id: str
    name: str
    arguments: dict[str, Any]
    result: str
    successful: bool


@dataclass(frozen=True)
class TurnDone:
    result: TurnResult


TurnEvent = Speech | ToolRecord | TurnDone


class DialogPolicy(Protocol):
    # An async generator, not any iterator: a server closes it (aclose) when a newer request supersedes
    # the turn, so the policy's own clean-up runs at once.
    def respond(self, request: TurnRequest, tools: Tools) -> AsyncGenerator[TurnEvent, None]: ...
