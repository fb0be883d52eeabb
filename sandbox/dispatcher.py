"""Sends the sandbox's webhooks like a provider: in order per call, signed at send time, retried on
non-2xx on a provider-like schedule, and (when asked) duplicated, reordered or delayed to exercise the
receivers.

Retries follow the providers' documented behaviour (docs/chaos.md §C2 has the sources): Retell retries a
webhook up to 3 times after a non-2xx or a 10 s timeout (intervals not documented); SendGrid's Event
Webhook retries at growing intervals for up to 24 hours; its Inbound Parse retries a 5xx for up to 72 hours
and drops a 4xx. Vapi and Bland document nothing we found, so they get Retell's schedule. A failed
delivery is retried on a thread of its own: the call's later events go out meanwhile ("triggered in order,
but not blocking", as Retell puts it), so a long retry never holds back the rest of the sequence.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import httpx

from sandbox.state import WebhookMode

log = logging.getLogger(__name__)

Signer = Callable[[bytes], dict[str, str]]


@dataclass(frozen=True)
class RetrySchedule:
    """When a failed delivery is sent again: first_delay_s, times factor each retry, at most max_delay_s
    apart; no retry after max_retries retries or later than horizon_s after the first attempt."""

    first_delay_s: float
    factor: float = 2.0
    max_delay_s: float = 600.0
    horizon_s: float = 24 * 3600.0
    max_retries: int | None = None
    retry_4xx: bool = True  # Inbound Parse drops a 4xx at once; the others retry any non-2xx

    def delay(self, retry_no: int) -> float:
        return min(self.first_delay_s * self.factor**retry_no, self.max_delay_s)

    def scaled(self, time_scale: float = 1.0, max_delay_s: float | None = None) -> RetrySchedule:
        """The same schedule with every interval times time_scale (and capped): for harnesses that compress
        time."""
        cap = self.max_delay_s * time_scale if max_delay_s is None else min(self.max_delay_s * time_scale, max_delay_s)
        return replace(
            self,
            first_delay_s=min(self.first_delay_s * time_scale, cap),
            max_delay_s=cap,
            horizon_s=self.horizon_s * time_scale,
        )


# Which schedule a delivery follows (Delivery.schedule). Intervals the providers do not publish are ours.
PROVIDER_SCHEDULES: dict[str, RetrySchedule] = {
    "voice": RetrySchedule(first_delay_s=2.0, factor=4.0, max_delay_s=60.0, horizon_s=300.0, max_retries=3),
    "sendgrid_events": RetrySchedule(first_delay_s=5.0, factor=2.0, max_delay_s=600.0, horizon_s=24 * 3600.0),
    "sendgrid_inbound": RetrySchedule(
        first_delay_s=300.0, factor=2.0, max_delay_s=3 * 3600.0, horizon_s=72 * 3600.0, retry_4xx=False
    ),
    # RFC 8058 one-click posts come from the recipient's mail provider; we assume it retries like SendGrid.
    "one_click": RetrySchedule(first_delay_s=5.0, factor=2.0, max_delay_s=600.0, horizon_s=24 * 3600.0),
}
# Tests that need a delivery settled within seconds pass this (SandboxConfig.webhook_retry).
QUICK_SCHEDULES: dict[str, RetrySchedule] = {
    name: RetrySchedule(first_delay_s=0.2, factor=2.0, max_delay_s=2.0, horizon_s=5.0, max_retries=3)
    for name in PROVIDER_SCHEDULES
}


@dataclass
class Delivery:
    url: str
    body: bytes
    sign: Signer  # headers computed when sent (timestamps in signatures are per attempt)
    content_type: str = "application/json"
    schedule: str = "voice"  # a key of the dispatcher's schedules
    attempts: list[int] = field(default_factory=list)  # HTTP status of every attempt (0 = no connection)
    abandoned: bool = False  # the sandbox stopped (close()) before the schedule was done


class Dispatcher:
    def __init__(
        self, schedules: dict[str, RetrySchedule] | None = None, timeout_s: float = 10.0, retries: int | None = None
    ) -> None:
        self.schedules = dict(PROVIDER_SCHEDULES if schedules is None else schedules)
        self.timeout_s = timeout_s
        self.retries = retries  # tests: at most this many retries whatever the schedule says
        self.sent: list[Delivery] = []  # every delivery once its schedule is done (delivered, given up, abandoned)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()

    def send_sequence(self, deliveries: list[tuple[float, Delivery]], mode: WebhookMode) -> None:
        """Send (delay_s, delivery) pairs in order on a thread of their own (one call's events)."""
        plan = list(deliveries)
        if mode.reorder:
            plan = [(plan[i][0], d) for i, (_, d) in enumerate(reversed(plan))]
        expanded = []
        for delay, delivery in plan:
            expanded.append((delay + mode.delay_s, delivery))
            expanded.extend(
                (
                    0.05,
                    Delivery(delivery.url, delivery.body, delivery.sign, delivery.content_type, delivery.schedule),
                )
                for _ in range(mode.duplicate)
            )
        self._spawn(self._run, expanded)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="sandbox-webhooks")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _run(self, plan: list[tuple[float, Delivery]]) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            for delay, delivery in plan:
                if self._closed.wait(max(0.0, delay)):
                    self._finish(delivery, abandoned=True)
                    continue
                started = time.monotonic()
                if self._attempt(client, delivery) or not self._retryable(delivery):
                    self._finish(delivery)
                else:
                    self._spawn(self._retry, delivery, started)

    def _attempt(self, client: httpx.Client, delivery: Delivery) -> bool:
        try:
            headers = {"Content-Type": delivery.content_type, **delivery.sign(delivery.body)}
            status = client.post(delivery.url, content=delivery.body, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        delivery.attempts.append(status)
        return 200 <= status < 300

    def _retryable(self, delivery: Delivery) -> bool:
        status = delivery.attempts[-1]
        return self.schedules[delivery.schedule].retry_4xx or not 400 <= status < 500

    def _retry(self, delivery: Delivery, started: float) -> None:
        schedule = self.schedules[delivery.schedule]
        limit = schedule.max_retries
        if self.retries is not None:
            limit = self.retries if limit is None else min(limit, self.retries)
        with httpx.Client(timeout=self.timeout_s) as client:
            retry_no = 0
            while limit is None or retry_no < limit:
                wait = schedule.delay(retry_no)
                if time.monotonic() + wait - started > schedule.horizon_s:
                    break
                if self._closed.wait(wait):
                    self._finish(delivery, abandoned=True)
                    return
                retry_no += 1
                if self._attempt(client, delivery) or not self._retryable(delivery):
                    break
        self._finish(delivery)

    def _finish(self, delivery: Delivery, abandoned: bool = False) -> None:
        delivery.abandoned = abandoned
        with self._lock:
            self.sent.append(delivery)

    def pending(self) -> int:
        """Sequences and retries not done yet (a harness waits for 0 before it counts what was given up)."""
        with self._lock:
            return sum(t.is_alive() for t in self._threads)

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

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop: pending retries end at once and are kept in `sent` as abandoned (counted, not lost
        silently); a delivery mid-request finishes that request first."""
        self._closed.set()
        self.idle(timeout_s)
