"""Deliveries and faults: the stream the harness sends and the schedule of faults it injects meanwhile.

Lead deliveries (this module sends them): signed webhooks, API posts, re-sent copies (same webhook-id,
sometimes re-signed with a new timestamp; same Idempotency-Key) (F5), skewed timestamps within the
300 s tolerance (F11, must be accepted), stale and tampered copies (F7, must be refused). Provider and
SendGrid events come from the sandbox's own calls and mails, duplicated and reordered through its
webhook modes (F5, F6; SendGrid 3x). Faults (docs/reliability.md §3.4) run on a cycle, see FAULT_CYCLE.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.chaos.stack import SOURCE, Stack

PERSONAS = ("delivers", "quiet", "opens", "clicks", "bounces", "unsubscribes", "replies")
# Share of each lead delivery kind (the rest of the stream is the sandbox's provider and SendGrid events).
KINDS = (
    ("lead_webhook", 0.45),
    ("lead_api", 0.20),
    ("lead_webhook_resent", 0.12),  # same webhook-id and body, re-signed with a new timestamp
    ("lead_webhook_replayed", 0.05),  # the very same request again
    ("lead_api_resent", 0.06),  # same Idempotency-Key and body
    ("lead_skewed", 0.06),  # timestamp 4 min off (F11, within the 5 min tolerance): accepted
    ("lead_stale", 0.03),  # timestamp 6 min old (F7): refused
    ("lead_tampered", 0.03),  # one byte changed after signing (F7): refused
)
MUST_REFUSE = {"lead_stale", "lead_tampered"}
NEW_LEAD_KINDS = {"lead_webhook", "lead_api", "lead_skewed"}


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return (
        "v1,"
        + base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()
    )


@dataclass
class Sent:
    kind: str
    identity: int  # the lead's number (its email and phone derive from it)
    status: int  # 0: no answer (connection refused, timeout)
    submission_id: int | None = None
    elapsed_s: float = 0.0


@dataclass
class Ledger:
    """What the harness sent and what it got back; threads append under the lock."""

    sent: list[Sent] = field(default_factory=list)
    faults: Counter = field(default_factory=Counter)
    fault_log: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Sent) -> None:
        with self.lock:
            self.sent.append(item)

    def fault(self, kind: str, t0: float) -> None:
        with self.lock:
            self.faults[kind] += 1
            self.fault_log.append((round(time.monotonic() - t0, 1), kind))


def lead_payload(n: int, run: str) -> dict[str, Any]:
    persona = PERSONAS[n % len(PERSONAS)]
    return {
        "first_name": f"Chaos{n}",
        "last_name": "Testlauf",
        "company": f"Chaos {run} GmbH",
        "email": f"chaos.{run}.{n}+{persona}@example.org",
        "phone": f"+49 30 231{n:05d}",
        "phone_consent": "Ja (Formular)",
    }


class Driver:
    def __init__(self, stack: Stack, ledger: Ledger, seed: int = 14) -> None:
        self.stack, self.ledger = stack, ledger
        self.rng = random.Random(seed)
        self.run = uuid.uuid4().hex[:6]
        self._next = 0
        self._recent_webhooks: list[tuple[int, str, bytes]] = []  # (identity, webhook-id, body)
        self._recent_api: list[tuple[int, str, bytes]] = []  # (identity, Idempotency-Key, body)
        self._first_headers: dict[str, dict[str, str]] = {}  # the very request, for replays
        self._lock = threading.Lock()

    def _new_identity(self) -> int:
        with self._lock:
            self._next += 1
            return self._next

    def _post(self, client: httpx.Client, kind: str, n: int, path: str, body: bytes, headers: dict) -> None:
        """Send like a webhook sender or API client: a 503, 429 or no answer is tried again (up to 4 times,
        1-4 s apart, as Retry-After asks); every attempt is a delivery of its own (kind + "_retry")."""
        for attempt in range(5):
            started = time.monotonic()
            status, sid, retry_after = 0, None, 1.0
            try:
                r = client.post(self.stack.web_url + path, content=body, headers=headers)
                status = r.status_code
                if 200 <= status < 300:
                    data = r.json()
                    sid = data.get("submission_id") if isinstance(data, dict) else None
                retry_after = float(r.headers.get("Retry-After", "1") or 1)
            except (httpx.HTTPError, ValueError):
                pass
            self.ledger.add(Sent(kind if attempt == 0 else kind + "_retry", n, status, sid, time.monotonic() - started))
            if status not in (0, 429, 502, 503, 504) or kind in MUST_REFUSE:
                return
            time.sleep(min(4.0, max(1.0, retry_after)) * (attempt + 1) / 2)
            if "webhook-timestamp" in headers:  # re-signed per attempt, as Standard Webhooks senders do
                headers = self._webhook_headers(headers["webhook-id"], body)

    def _webhook_headers(self, msg_id: str, body: bytes, skew_s: int = 0) -> dict[str, str]:
        ts = int(time.time()) + skew_s
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(self.stack.webhook_secret, msg_id, ts, body),
            "Content-Type": "application/json",
        }

    def one(self, client: httpx.Client, kind: str) -> None:  # noqa: C901 - one branch per kind
        path = f"/webhooks/leads/{SOURCE}"
        with self._lock:
            hooks, apis = list(self._recent_webhooks[-50:]), list(self._recent_api[-50:])
        if kind == "lead_webhook_resent" and hooks:
            n, msg_id, body = self.rng.choice(hooks)
            self._post(client, kind, n, path, body, self._webhook_headers(msg_id, body))
            return
        if kind == "lead_webhook_replayed" and hooks:
            n, msg_id, body = self.rng.choice(hooks)
            with self._lock:
                first = self._first_headers[msg_id]
            self._post(client, kind, n, path, body, dict(first))
            return
        if kind == "lead_api_resent" and apis:
            n, key, body = self.rng.choice(apis)
            headers = {"Authorization": f"Bearer {self.stack.api_key}", "Idempotency-Key": key}
            self._post(client, kind, n, "/api/v1/leads", body, {**headers, "Content-Type": "application/json"})
            return
        n = self._new_identity()
        body = json.dumps(lead_payload(n, self.run)).encode()
        if kind in ("lead_api", "lead_api_resent"):
            key = f"chaos-{self.run}-{n}"
            headers = {"Authorization": f"Bearer {self.stack.api_key}", "Idempotency-Key": key}
            with self._lock:
                self._recent_api.append((n, key, body))
            self._post(client, "lead_api", n, "/api/v1/leads", body, {**headers, "Content-Type": "application/json"})
            return
        msg_id = f"msg_{uuid.uuid4().hex}"
        if kind == "lead_skewed":
            skew = self.rng.choice((-240, 240))
            self._post(client, kind, n, path, body, self._webhook_headers(msg_id, body, skew))
        elif kind == "lead_stale":
            self._post(client, kind, n, path, body, self._webhook_headers(msg_id, body, -360))
        elif kind == "lead_tampered":
            headers = self._webhook_headers(msg_id, body)
            self._post(client, kind, n, path, body.replace(b"Testlauf", b"Testlaug"), headers)
        else:
            headers = self._webhook_headers(msg_id, body)
            with self._lock:
                self._recent_webhooks.append((n, msg_id, body))
                self._first_headers[msg_id] = headers
            self._post(client, "lead_webhook", n, path, body, headers)

    def pick_kind(self) -> str:
        x, acc = self.rng.random(), 0.0
        for kind, share in KINDS:
            acc += share
            if x < acc:
                return kind
        return KINDS[0][0]

    def stream(self, count: int, rate_per_s: float, concurrency: int = 6, stop: Callable[[], bool] = lambda: False):
        """Send up to `count` lead deliveries at about `rate_per_s`, `concurrency` at a time."""
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "client"):
                local.client = httpx.Client(timeout=10)
            return local.client

        with ThreadPoolExecutor(concurrency) as pool:
            start = time.monotonic()
            for i in range(count):
                if stop():
                    break
                delay = start + i / rate_per_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                kind = self.pick_kind()
                pool.submit(lambda k=kind: self.one(client(), k))


# ------------------------------------------------------------------------------------------ faults


def sandbox_post(stack: Stack, path: str, body: dict) -> None:
    httpx.post(stack.sandbox_url + path, json=body, timeout=5).raise_for_status()


def set_webhook_modes(stack: Stack, reorder: bool) -> None:
    """F5/F6 through the sandbox: voice events sent twice (every other phase reversed), SendGrid's 3x."""
    for provider in ("retell", "vapi", "bland"):
        sandbox_post(stack, "/sandbox/webhook-mode", {"provider": provider, "duplicate": 1, "reorder": reorder})
    sandbox_post(stack, "/sandbox/webhook-mode", {"provider": "sendgrid", "duplicate": 2, "reorder": reorder})


@dataclass
class Fault:
    kind: str
    inject: Callable[[Stack, float], None]  # (stack, scale): blocks for the fault's duration, then heals
    needs: str | None = None  # the stack process it acts on, when the stack may run without it


def _kill_restart(name: str, down_s: float) -> Callable[[Stack, float], None]:
    return lambda stack, scale: stack.restart(name, signal.SIGKILL, down_s * scale)


def _all_workers_down(stack: Stack, scale: float) -> None:
    for name in ("chain", "provider"):
        stack.kill(name)
    time.sleep(20 * scale)
    for name in ("chain", "provider"):
        stack.start_proc(name)


def _temporal_restart(sig: int) -> Callable[[Stack, float], None]:
    def inject(stack: Stack, scale: float) -> None:
        stack.kill("temporal", sig, wait_s=20)
        time.sleep(3 * scale)
        stack.start_proc("temporal")

    return inject


def _db(mode: str) -> Callable[[Stack, float], None]:
    def inject(stack: Stack, scale: float) -> None:
        assert stack.pg_proxy is not None
        stack.pg_proxy.drop() if mode == "drop" else stack.pg_proxy.stall()
        time.sleep(8 * scale)
        stack.pg_proxy.pass_through()

    return inject


def _storm(status: int) -> Callable[[Stack, float], None]:
    def inject(stack: Stack, scale: float) -> None:
        for provider in ("retell", "vapi", "bland", "sendgrid"):
            sandbox_post(
                stack, "/sandbox/faults", {"provider": provider, "status": status, "count": 8, "retry_after_s": 1}
            )
        time.sleep(10 * scale)

    return inject


def _slow_provider(stack: Stack, scale: float) -> None:
    for provider in ("retell", "vapi", "bland"):
        sandbox_post(stack, "/sandbox/response-delay", {"provider": provider, "seconds": 12})
    time.sleep(20 * scale)
    for provider in ("retell", "vapi", "bland"):
        sandbox_post(stack, "/sandbox/response-delay", {"provider": provider, "seconds": 0})


def _bridge_kill(stack: Stack, scale: float) -> None:
    """F10: the voice bridge SIGKILLed while the sandbox's Retell calls talk to it (each call's line drops
    mid-turn; the sandbox reconnects as Retell does, or the call ends as a lost session), back after 2 s."""
    if "bridge" not in stack.procs:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # mid-call: wait (up to 30 s) for a Retell call in conversation
        calls = httpx.get(f"{stack.sandbox_url}/sandbox/calls", params={"format": "json", "provider": "retell"}).json()
        if any(c["status"] == "in_progress" for c in calls):
            break
        time.sleep(0.2)
    stack.restart("bridge", signal.SIGKILL, 2 * scale)


def _vault_down(stack: Stack, scale: float) -> None:
    """F12: OpenBao stopped for 20 s (the processes serve their cached secrets; a new fetch fails
    closed), then started again and given the run's secrets."""
    if "openbao" in stack.procs:
        stack.kill("openbao", signal.SIGTERM)
        time.sleep(20 * scale)
        stack.start_proc("openbao")


FAULT_CYCLE = (
    Fault("F1 chain worker (with relay) SIGKILL", _kill_restart("chain", 2)),
    Fault("F8 provider 429 storm", _storm(429)),
    Fault("F9 database connections dropped", _db("drop")),
    Fault("F1/F2 provider worker SIGKILL", _kill_restart("provider", 2)),
    Fault("F4 Temporal restart (SIGKILL)", _temporal_restart(signal.SIGKILL)),
    Fault("web restart (gunicorn SIGKILL)", _kill_restart("web", 1)),
    Fault("F8 provider 5xx storm", _storm(503)),
    Fault("F9 database stalled", _db("stall")),
    Fault("F3 all workers down", _all_workers_down),
    Fault("F8 provider timeouts (answers 12 s late)", _slow_provider),
    Fault("F4 Temporal restart (SIGTERM)", _temporal_restart(signal.SIGTERM)),
    Fault("reports worker SIGKILL", _kill_restart("reports", 1)),
    Fault("F10 voice bridge SIGKILL mid-call", _bridge_kill, needs="bridge"),
    Fault("F12 OpenBao down 20 s", _vault_down, needs="openbao"),
)


def fault_loop(
    stack: Stack,
    ledger: Ledger,
    t0: float,
    stop: threading.Event,
    gap_s: float,
    scale: float,
    limit: int,
    only: tuple[str, ...] = (),
) -> None:
    """Inject the cycle's faults one after another, `gap_s` apart, until stopped or `limit` are done
    (`only`: the faults whose kind starts with one of these, e.g. ("F10", "F12"))."""
    cycle = [
        f for f in FAULT_CYCLE if (not only or f.kind.startswith(only)) and (f.needs is None or f.needs in stack.procs)
    ]
    i = 0
    while not stop.wait(gap_s) and i < limit:
        fault = cycle[i % len(cycle)]
        set_webhook_modes(stack, reorder=bool(i % 2))
        ledger.fault(fault.kind, t0)
        try:
            fault.inject(stack, scale)
        except Exception as e:  # noqa: BLE001 - a fault that could not be healed is a finding, recorded
            ledger.fault(f"harness error during {fault.kind}: {type(e).__name__}: {e}"[:200], t0)
        i += 1


def heal(stack: Stack) -> None:
    """Every fault off: proxy passing, sandbox answering at once, every process of the stack up."""
    assert stack.pg_proxy is not None
    stack.pg_proxy.pass_through()
    for provider in ("retell", "vapi", "bland"):
        sandbox_post(stack, "/sandbox/response-delay", {"provider": provider, "seconds": 0})
    for provider in ("retell", "vapi", "bland", "sendgrid"):
        sandbox_post(stack, "/sandbox/faults", {"provider": provider, "status": 503, "count": 0})
    for name, up in stack.alive().items():
        if not up:
            stack.start_proc(name)
