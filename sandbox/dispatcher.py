"""Sends the sandbox's webhooks like a provider: in order per call, signed at send time, retried on
non-2xx, and (when asked) duplicated, reordered or delayed to exercise the receivers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from sandbox.state import WebhookMode

log = logging.getLogger(__name__)

Signer = Callable[[bytes], dict[str, str]]


@dataclass
class Delivery:
    url: str
    body: bytes
    sign: Signer  # headers computed when sent (timestamps in signatures are per attempt)
    content_type: str = "application/json"
    attempts: list[int] = field(default_factory=list)  # HTTP status of every attempt (0 = no connection)


class Dispatcher:
    def __init__(self, retries: int = 3, timeout_s: float = 10.0) -> None:
        self.retries, self.timeout_s = retries, timeout_s
        self.sent: list[Delivery] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def send_sequence(self, deliveries: list[tuple[float, Delivery]], mode: WebhookMode) -> None:
        """Send (delay_s, delivery) pairs in order on a thread of their own (one call's events)."""
        plan = list(deliveries)
        if mode.reorder:
            plan = [(plan[i][0], d) for i, (_, d) in enumerate(reversed(plan))]
        expanded = []
        for delay, delivery in plan:
            expanded.append((delay + mode.delay_s, delivery))
            expanded.extend(
                (0.05, Delivery(delivery.url, delivery.body, delivery.sign, delivery.content_type))
                for _ in range(mode.duplicate)
            )
        thread = threading.Thread(target=self._run, args=(expanded,), daemon=True, name="sandbox-webhooks")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _run(self, plan: list[tuple[float, Delivery]]) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            for delay, delivery in plan:
                time.sleep(max(0.0, delay))
                self._deliver(client, delivery)

    def _deliver(self, client: httpx.Client, delivery: Delivery) -> None:
        for attempt in range(self.retries + 1):
            try:
                headers = {"Content-Type": delivery.content_type, **delivery.sign(delivery.body)}
                status = client.post(delivery.url, content=delivery.body, headers=headers).status_code
            except httpx.HTTPError:
                status = 0
            delivery.attempts.append(status)
            if 200 <= status < 300:
                break
            time.sleep(min(0.2 * 2**attempt, 2.0))
        with self._lock:
            self.sent.append(delivery)

    def idle(self, timeout_s: float = 30.0) -> bool:
        """Wait until every scheduled webhook has been sent (tests use it)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                return True
            alive[0].join(timeout=0.1)
        return False
