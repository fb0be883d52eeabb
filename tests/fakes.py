"""Test doubles for the provider layer: they record every request so tests can count side effects.

They stand in for real providers only in tests of the chain's logic; provider behaviour itself is
tested against the provider sandbox over HTTP.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

from crm.email.port import EmailMessage
from providers.base import CallRequest, ProviderCall, ProviderRejected, ProviderUnavailable
from workflows.payloads import CallResult


@dataclass
class Script:
    """What happens on each successive call to one number: (status, classification) per attempt."""

    outcomes: list[tuple[str, str | None]] = field(default_factory=lambda: [("completed", "booked")])


class FakeVoiceProvider:
    def __init__(self, name: str = "fake", scripts: dict[str, Script] | None = None) -> None:
        self.name = name
        self.scripts = scripts or {}
        self.placed: list[CallRequest] = []
        self.by_key: dict[str, ProviderCall] = {}
        self.results: dict[str, CallResult] = {}
        self.fail_next: list[Exception] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def place_call(self, request: CallRequest) -> ProviderCall:
        with self._lock:
            if self.fail_next:
                raise self.fail_next.pop(0)
            if request.idempotency_key in self.by_key:
                return self.by_key[request.idempotency_key]
            call = ProviderCall(self.name, f"{self.name}_fake_call_{next(self._ids)}")
            self.placed.append(request)
            self.by_key[request.idempotency_key] = call
            attempt = sum(1 for r in self.placed if r.to_number == request.to_number)
            outcomes = self.scripts.get(request.to_number, Script()).outcomes
            status, classification = outcomes[min(attempt, len(outcomes)) - 1]
            self.results[call.call_id] = CallResult(
                provider=self.name,
                call_id=call.call_id,
                event_id=f"{call.call_id}:ended",
                answered=status == "completed",
                status=status,
                classification=classification,
                duration_s=95 if status == "completed" else 0,
            )
            return call

    def find_call(self, idempotency_key: str) -> ProviderCall | None:
        return self.by_key.get(idempotency_key)

    def get_call(self, call_id: str) -> CallResult | None:
        return self.results.get(call_id)

    def calls_to(self, number: str) -> int:
        return sum(1 for r in self.placed if r.to_number == number)


class FakeEmailSender:
    def __init__(self) -> None:
        self.name = "fake-mail"
        self.sent: list[EmailMessage] = []
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> str:
        with self._lock:
            self.sent.append(message)
            return f"msg_{len(self.sent)}"

    def find_sent(self, idempotency_key: str) -> str | None:
        for i, m in enumerate(self.sent, 1):
            if m.idempotency_key == idempotency_key:
                return f"msg_{i}"
        return None

    def templates_to(self, lead_id: int) -> list[str]:
        return [m.template for m in self.sent if m.lead_id == lead_id]


__all__ = ["FakeEmailSender", "FakeVoiceProvider", "ProviderRejected", "ProviderUnavailable", "Script"]
