"""One response of the rules policy being built: the sentences said, the tool calls made and their
records, the result; and how a tool's arguments and answers are written into those records."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from voice.bridge.dialog import phrases
from voice.bridge.dialog.state import DialogState
from voice.bridge.dialog.timetalk import TimeTalk
from voice.bridge.dialog.types import (
    Booking,
    SlotOffer,
    Speech,
    ToolRecord,
    Tools,
    ToolTimeout,
    TurnDone,
    TurnRequest,
    TurnResult,
)
from voice.bridge.timeprefs.constraint import TimeConstraint

log = logging.getLogger(__name__)


def constraint_json(constraint: TimeConstraint | None) -> dict[str, Any]:
    """A constraint as JSON-able arguments for the tool-call record."""
    if constraint is None:
        return {}
    out: dict[str, Any] = {}
    for name in ("dates", "excluded_dates"):
        if getattr(constraint, name):
            out[name] = [d.isoformat() for d in getattr(constraint, name)]
    for name in ("date_from", "date_to", "exact"):
        if getattr(constraint, name):
            out[name] = getattr(constraint, name).isoformat()
    for name in ("weekdays", "excluded_weekdays"):
        if getattr(constraint, name):
            out[name] = sorted(getattr(constraint, name))
    for name in ("windows", "excluded_windows"):
        if getattr(constraint, name):
            out[name] = [
                [w.start.isoformat() if w.start else None, w.end.isoformat() if w.end else None]
                for w in getattr(constraint, name)
            ]
    if constraint.raw:
        out["raw"] = constraint.raw
    return out


class Turn:
    """One response being built: the sentences said, the tool calls made, the result. Lives for one
    ``respond`` call only."""

    def __init__(
        self, request: TurnRequest, tools: Tools, state: DialogState, language: str, timetalk: TimeTalk
    ) -> None:
        self.request = request
        self.timetalk = timetalk
        self.tools = tools
        self.state = state
        self.language = language
        self.sentences: list[str] = []
        self.tool_calls = 0
        self.result = TurnResult(
            qualification=dict(state.answers), constraint=state.constraint, recording_declined=state.recording_declined
        )

    def say(self, key: str, variant: int = 0, **fields: str) -> Speech:
        text = phrases.say(key, self.language, variant, **fields)
        self.sentences.append(text)
        return Speech(text + " ")

    def slot_text(self, start: datetime) -> str:
        return self.timetalk.render(start, self.language, self.request.now)

    async def tool(self, name: str, arguments: dict[str, Any], call: Awaitable[Any]) -> tuple[Any, ToolRecord]:
        """Run one tool call; returns (value, record). ``ToolTimeout`` and other failures are re-raised
        after the record is built (the caller falls back), as ``ToolFailed`` carrying the record."""
        self.tool_calls += 1
        # Deterministic ids: a replayed transcript reports the same tool calls.
        tool_call_id = f"{self.request.call_id}-{len(self.request.transcript)}-{self.tool_calls}-{name}"
        try:
            value = await call
        except ToolTimeout as e:
            raise ToolFailed(ToolRecord(tool_call_id, name, arguments, "timeout", False), e) from e
        except Exception as e:  # noqa: BLE001 - a broken tool is a fallback, not a crash
            log.warning("call %s: tool %s failed: %s", self.request.call_id, name, type(e).__name__)
            raise ToolFailed(ToolRecord(tool_call_id, name, arguments, f"error: {type(e).__name__}", False), e) from e
        return value, ToolRecord(tool_call_id, name, arguments, describe_tool_value(value), True)

    def done(self, **updates: Any) -> TurnDone:
        for key, value in updates.items():
            setattr(self.result, key, value)
        self.result.text = " ".join(self.sentences)
        return TurnDone(self.result)


class ToolFailed(Exception):
    """A tool call failed or timed out; carries the record of it for the turn's tool calls."""

    def __init__(self, record: ToolRecord, cause: BaseException) -> None:
        super().__init__(record.name)
        self.record = record
        self.timeout = isinstance(cause, ToolTimeout)


def describe_tool_value(value: Any) -> str:
    """A tool's answer as the JSON text of its record (what Retell's LLM reads back)."""
    if value is None:
        return json.dumps({"ok": True})
    if isinstance(value, SlotOffer):
        return value.tool_result()  # JSON, each slot marked matching or not (voice/bridge/offers.py)
    if isinstance(value, Booking):
        return json.dumps(
            {
                "status": value.status,
                "appointment_id": value.appointment_id,
                "start": value.start.isoformat() if value.start else None,
            }
        )
    return json.dumps({"result": str(value)[:500]}, ensure_ascii=False)
