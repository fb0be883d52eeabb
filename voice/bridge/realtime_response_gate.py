"""When one Realtime call may ask the model for a response, and when it may hang up or transfer
(voice.bridge.twilio_media, docs/audio-agent.md): one response at a time, none while a tool call runs or
a hang-up or transfer waits, and that action only once no response and no tool call runs. State only: the
session sends the events."""

from __future__ import annotations

from typing import Any


class ResponseGate:
    def __init__(self) -> None:
        self.active = False  # a response runs
        self.id: str | None = None  # its id, once response.created told it
        self.cancelled: set[str] = set()  # cancelled by a barge-in: their deltas still in flight are dropped
        self.wanted = False
        self.tools_running = 0
        self.seen_calls: set[str] = set()
        self.action: str | None = None  # "end" or "transfer", from a tool

    @property
    def busy(self) -> bool:
        return self.active or self.tools_running > 0 or self.wanted

    def created(self, response: dict[str, Any]) -> None:
        self.active = True
        self.id = response.get("id")

    def done(self, response: dict[str, Any]) -> None:
        if self.id is None or response.get("id") in (None, self.id):
            self.active = False  # (a response.done of an older, cancelled response changes nothing)

    def cancel_event(self) -> dict[str, Any]:
        """The response.cancel of the running response (a barge-in); its id counts as cancelled from now."""
        cancel: dict[str, Any] = {"type": "response.cancel"}
        if self.id:
            cancel["response_id"] = self.id
            self.cancelled.add(self.id)
        return cancel

    def tool_call(self, call_id: Any, name: Any) -> bool:
        """True for a new call of a named tool (now counted as running); a repeated call id is ignored."""
        if not isinstance(call_id, str) or not isinstance(name, str) or call_id in self.seen_calls:
            return False
        self.seen_calls.add(call_id)
        self.tools_running += 1
        return True

    def respond(self, model_open: bool) -> bool:
        """True when the wanted response may be asked for now; it counts as running from here."""
        if not self.wanted or self.active or self.tools_running or self.action or not model_open:
            return False
        self.wanted = False
        self.active = True
        self.id = None
        return True

    def ready_action(self) -> str | None:
        """The hang-up or transfer waiting, once no response and no tool call runs."""
        return None if self.active or self.tools_running else self.action
