"""Benchmark (issue 14 item 1, must-show): the chain worker stopped for 5 minutes during a stream of provider
webhooks and leads.

    .venv/bin/python bench/worker_outage.py                      # defaults: --before 60 --outage 300 --rate 2
    .venv/bin/python bench/worker_outage.py --before 20 --outage 30 --rate 1    # a short look

The whole local stack as bench/chaos runs it (bench/chaos/stack.py: Temporal dev server, the provider
sandbox, the web under gunicorn with two sync workers, chain/provider/reports workers, a fresh PostgreSQL
database), except that the sandbox's webhooks reach the web through a forwarder in this process that
times each answer (time.perf_counter around the forwarded HTTP request). The sandbox spreads each call's
webhooks --webhook-delay seconds apart, so calls placed before the outage keep sending through it.

Phases: `before` (signed leads at --rate per second, the chains call, the sandbox posts their events),
`outage` (the chain worker, and with it the outbox relay, SIGTERMed for --outage seconds; leads and webhooks
go on), `after` (the worker restarted; the stream stops). Printed: webhooks and leads per phase with
non-2xx counts and p50/p99 (ms), lead intake p99 during/before, the results waiting when the worker
returned, and the time until the last of them was delivered to its chain (call_result_deliveries).
Must-show: webhook p99 < 100 ms in the outage, lead p99 during/before <= 2, delivery within 60 s.
Exit status 0 when all three hold, 1 when not, 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chaos.drive import lead_payload, sandbox_post, sign  # noqa: E402
from bench.chaos.stack import LOOPBACK, SOURCE, Stack, free_port  # noqa: E402
from providers.factory import SANDBOX_KEYS  # noqa: E402
from sandbox.retell import retell_signature  # noqa: E402


@dataclass
class Samples:
    by_phase: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # phase -> (status, seconds)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, phase: str, status: int, took: float) -> None:
        with self.lock:
            self.by_phase.setdefault(phase, []).append((status, took))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


class Forwarder:
    """Receives the sandbox's webhooks, forwards each to the web, times the web's answer, answers alike."""

    def __init__(self, web_url: str, samples: Samples, phase: list[str]) -> None:
        self.web_url, self.samples, self.phase = web_url, samples, phase
        self.port = free_port()
        self.client = httpx.Client(timeout=30)
        self.server = make_server(LOOPBACK, self.port, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @Request.application
    def app(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        body = request.get_data()
        started = time.perf_counter()
        try:
            answer = self.client.post(self.web_url + request.path, content=body, headers=headers)
            status, content = answer.status_code, answer.content
        except httpx.HTTPError:
            status, content = 502, b""
        self.samples.add(self.phase[0], status, time.perf_counter() - started)
        return Response(content, status=status, content_type="application/json")


class OutageStack(Stack):
    """The chaos stack with the sandbox's webhooks sent to the forwarder instead of the web, and no proxy in
    front of the database."""

    forward_to: str = ""

    def _proxied_db_url(self) -> str:
        # Straight to PostgreSQL: the chaos stack's fault proxy (tests/faults/tcp_proxy.py) pumps every
        # database byte through threads of this process, whose timing would be part of every figure here.
        return self.direct_db_url()

    def _define(self) -> None:
        super()._define()
        argv = self.procs["sandbox"].argv
        argv[argv.index("--webhook-base") + 1] = self.forward_to


def post_leads(stack: Stack, samples: Samples, phase: list[str], rate: float, stop: threading.Event) -> None:
    run, n = uuid.uuid4().hex[:6], 0
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            n += 1
            body = json.dumps(lead_payload(n, run)).encode()
            msg_id, ts = f"msg_{uuid.uuid4().hex}", int(time.time())
            headers = {
                "webhook-id": msg_id,
                "webhook-timestamp": str(ts),
                "webhook-signature": sign(stack.webhook_secret, msg_id, ts, body),
                "Content-Type": "application/json",
            }
            started = time.perf_counter()
            try:
                status = client.post(
                    f"{stack.web_url}/webhooks/leads/{SOURCE}", content=body, headers=headers
                ).status_code
            except httpx.HTTPError:
                status = 0
            samples.add(phase[0], status, time.perf_counter() - started)
            stop.wait(max(0.0, 1.0 / rate - (time.perf_counter() - started)))


def warm_up(stack: Stack) -> None:
    """Signed Retell events for a call that is not ours (answered 200, ignored), a few at once: each gunicorn
    worker pays for its first Retell webhook (the Retell SDK's import, seconds) before anything is timed."""
    body = b'{"event":"call_started","call":{"call_id":"call_warm_up","call_status":"ongoing"}}'

    def one() -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Retell-Signature": retell_signature(body, SANDBOX_KEYS["retell"]),
        }
        httpx.post(f"{stack.web_url}/webhooks/retell", content=body, headers=headers, timeout=60)

    threads = [threading.Thread(target=one) for _ in range(2 * stack.web_workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def outbox(stack: Stack) -> tuple[int, int]:
    """(pending, delivered) rows of call_result_deliveries, read straight from the database."""
    with psycopg.connect(stack.admin_conninfo, dbname=stack.db_name, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE delivered_at IS NULL), count(*) FILTER (WHERE delivered_at IS NOT NULL)"
            " FROM call_result_deliveries"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def report(name: str, rows: list[tuple[int, float]]) -> tuple[float, str]:
    took = [t for _, t in rows]
    bad = sum(1 for s, _ in rows if not 200 <= s < 300)
    p99 = pct(took, 0.99)
    line = f"{name:<22} n={len(rows):<5} non-2xx={bad:<4} p50={pct(took, 0.5) * 1000:7.1f} ms  p99={p99 * 1000:7.1f} ms"
    return p99, line


def run(args: argparse.Namespace) -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the forwarder's access log
    hooks, leads, phase = Samples(), Samples(), ["before"]
    with tempfile.TemporaryDirectory(prefix="worker_outage_") as tmp:
        stack = OutageStack(run_dir=Path(tmp))
        # Results come by webhook and relay only: the chain's own poll of the provider starts after the run.
        stack.chain_settings = {"call_result_grace_s": 3600, "call_result_timeout_s": 3600}
        forwarder = Forwarder("", hooks, phase)
        stack.forward_to = forwarder.url
        forwarder.thread.start()
        stop = threading.Event()
        try:
            stack.start()
            forwarder.web_url = stack.web_url
            warm_up(stack)
            for provider in ("retell", "vapi", "bland"):
                sandbox_post(stack, "/sandbox/webhook-mode", {"provider": provider, "delay_s": args.webhook_delay})
            sender = threading.Thread(target=post_leads, args=(stack, leads, phase, args.rate, stop), daemon=True)
            sender.start()
            time.sleep(args.before)
            # The outage starts once calls are sending webhooks (a fresh stack's first chains take a while).
            warm_until = time.monotonic() + args.warm_limit
            while len(hooks.by_phase.get("before", [])) < 3 and time.monotonic() < warm_until:
                time.sleep(1)
            phase[0] = "outage"
            stack.kill("chain", signal.SIGTERM)
            time.sleep(args.outage)
            stop.set()
            sender.join(timeout=30)
            waiting = outbox(stack)[0]
            phase[0] = "after"
            stack.start_proc("chain")
            returned = time.monotonic()
            while outbox(stack)[0] and time.monotonic() - returned < args.deliver_limit:
                time.sleep(0.5)
            deliver_s = time.monotonic() - returned
            pending, delivered = outbox(stack)
        finally:
            stop.set()
            forwarder.server.shutdown()
            stack.stop()
    print(f"worker_outage: {args.before:.0f} s before, chain worker down {args.outage:.0f} s, leads {args.rate}/s")
    hook_p99, line = report("webhooks in the outage", hooks.by_phase.get("outage", []))
    print(report("webhooks before", hooks.by_phase.get("before", []))[1])
    print(line)
    lead_before, line_before = report("leads before", leads.by_phase.get("before", []))
    lead_during, line_during = report("leads in the outage", leads.by_phase.get("outage", []))
    print(line_before)
    print(line_during)
    ratio = lead_during / lead_before if lead_before else float("nan")
    print(f"lead intake p99 during/before: {ratio:.2f}")
    print(
        f"results waiting when the worker returned: {waiting}; delivered after {deliver_s:.1f} s; "
        f"still pending {pending}; delivered in all {delivered}"
    )
    bad = sum(1 for p in ("before", "outage") for s, _ in hooks.by_phase.get(p, []) if not 200 <= s < 300)
    ok = bad == 0 and hook_p99 < 0.100 and ratio <= 2.0 and pending == 0 and waiting > 0 and deliver_s <= 60
    print("must-show:", "held" if ok else "NOT held")
    return 0 if ok else 1


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=float, default=60.0, help="seconds of traffic before the outage")
    parser.add_argument("--outage", type=float, default=300.0, help="seconds the chain worker is down")
    parser.add_argument("--rate", type=float, default=2.0, help="signed leads per second")
    parser.add_argument("--webhook-delay", type=float, default=40.0, help="seconds between a call's webhooks")
    parser.add_argument("--warm-limit", type=float, default=180.0, help="longest wait for the first webhooks")
    parser.add_argument("--deliver-limit", type=float, default=180.0, help="give up waiting for delivery after")
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        sys.exit(run(parse(None)))
    except (RuntimeError, OSError, psycopg.Error) as e:
        print(f"worker_outage could not run: {e}", file=sys.stderr)
        sys.exit(2)
