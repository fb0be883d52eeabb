"""The sandbox's memory: calls per provider, request counts, injected faults. Thread-safe."""

from __future__ import annotations

import builtins
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SandboxCall:
    provider: str
    call_id: str
    request: dict[str, Any]  # what the client sent (as the provider received it)
    to_number: str
    persona: str
    language: str
    created_ms: int
    status: str = "queued"  # provider-neutral life: queued, ringing, in_progress, ended, analyzed
    started_ms: int | None = None
    ended_ms: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fault:
    status: int  # e.g. 429 or 503
    remaining: int
    retry_after_s: float | None = None
    until: float | None = None  # time.monotonic() deadline: every request until then, whatever `remaining` says


@dataclass
class WebhookMode:
    duplicate: int = 0  # extra copies of every event
    reorder: bool = False  # send each call's events in reverse order
    delay_s: float = 0.0


class SandboxState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: dict[tuple[str, str], SandboxCall] = {}
        self.create_requests: dict[str, int] = {}  # every create request received, accepted or not
        self.created: dict[str, int] = {}  # calls actually created ("dialled")
        self.faults: dict[str, Fault] = {}
        self.webhook_modes: dict[str, WebhookMode] = {}
        self.response_delays: dict[str, float] = {}
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    def count_request(self, provider: str) -> None:
        with self._lock:
            self.create_requests[provider] = self.create_requests.get(provider, 0) + 1

    def take_fault(self, provider: str) -> Fault | None:
        with self._lock:
            fault = self.faults.get(provider)
            if fault is None:
                return None
            if fault.until is not None:
                return fault if time.monotonic() < fault.until else None
            if fault.remaining <= 0:
                return None
            fault.remaining -= 1
            return fault

    def add_call(self, call: SandboxCall) -> SandboxCall:
        with self._lock:
            self.calls[(call.provider, call.call_id)] = call
            self.created[call.provider] = self.created.get(call.provider, 0) + 1
        return call

    def get(self, provider: str, call_id: str) -> SandboxCall | None:
        with self._lock:
            return self.calls.get((provider, call_id))

    def list(self, provider: str | None = None) -> list[SandboxCall]:
        with self._lock:
            calls = [c for c in self.calls.values() if provider is None or c.provider == provider]
        return sorted(calls, key=lambda c: c.created_ms)

    # builtins.list: inside this class `list` names the method above.
    def find(self, provider: str, **metadata: str) -> builtins.list[SandboxCall]:
        return [
            c
            for c in self.list(provider)
            if all(str((c.request.get("metadata") or {}).get(k)) == v for k, v in metadata.items())
        ]

    def mode(self, provider: str) -> WebhookMode:
        return self.webhook_modes.get(provider, WebhookMode())

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "create_requests": dict(self.create_requests),
                "created": dict(self.created),
                "calls": len(self.calls),
            }


def now_ms() -> int:
    return int(time.time() * 1000)
