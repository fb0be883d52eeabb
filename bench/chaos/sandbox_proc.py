"""The provider sandbox as its own process, plus one read-only route for the chaos harness:

    python -m bench.chaos.sandbox_proc --port P --webhook-base http://127.0.0.1:W [--step-s 0.2]
        [--retry-max-delay-s 30]

GET /chaos/ledger: what the sandbox itself saw — every call created (with our idempotency key from its
metadata), every mail accepted (with its message_key custom arg), every webhook it sent (path and the HTTP
status of each attempt), how many webhook sequences and retries are still pending, and its counters. The
route reads the objects create_sandbox_app already keeps (app.extensions["sandbox"]).

The webhooks are retried on the providers' own schedules (sandbox.dispatcher.PROVIDER_SCHEDULES: hours
for SendGrid) with the intervals capped at --retry-max-delay-s, so that a run's quiet wait (which waits for
no pending retry) is minutes, not hours; the number of retries and the horizons are the providers'.
"""

from __future__ import annotations

import argparse
import os
from typing import Any
from urllib.parse import urlsplit

from flask import jsonify
from werkzeug.serving import make_server

from sandbox.app import SandboxConfig, create_sandbox_app
from sandbox.dispatcher import PROVIDER_SCHEDULES


def ledger(sandbox: Any) -> dict[str, Any]:
    calls = []
    for call in sandbox.state.list():
        meta = call.request.get("metadata") or {}
        calls.append(
            {
                "provider": call.provider,
                "call_id": call.call_id,
                "key": meta.get("idempotency_key") if isinstance(meta, dict) else None,
                "lead_id": meta.get("lead_id") if isinstance(meta, dict) else None,
                "status": call.status,
            }
        )
    mails = [
        {"key": m.custom_args.get("message_key"), "lead_id": m.custom_args.get("lead_id")}
        for m in (sandbox.sendgrid.messages() if sandbox.sendgrid is not None else [])
    ]
    with sandbox.dispatcher._lock:  # the dispatcher's own list, read under its lock
        sent = list(sandbox.dispatcher.sent)
    webhooks = [{"path": urlsplit(d.url).path, "attempts": list(d.attempts), "abandoned": d.abandoned} for d in sent]
    return {
        "calls": calls,
        "mails": mails,
        "webhooks": webhooks,
        "webhooks_pending": sandbox.dispatcher.pending(),
        "stats": sandbox.state.stats(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--webhook-base", required=True)
    parser.add_argument("--step-s", type=float, default=0.2)
    parser.add_argument("--retry-max-delay-s", type=float, default=30.0)
    args = parser.parse_args()
    schedules = {k: v.scaled(max_delay_s=args.retry_max_delay_s) for k, v in PROVIDER_SCHEDULES.items()}
    # The voice bridge's URL holds its path secret: given by environment (as `leadchain sandbox` takes it).
    llm_url = os.environ.get("LEADCHAIN_SANDBOX_RETELL_LLM_URL") or None
    config = SandboxConfig(
        webhook_base=args.webhook_base, step_s=args.step_s, webhook_retry=schedules, retell_llm_websocket_url=llm_url
    )
    app = create_sandbox_app(config)
    sandbox = app.extensions["sandbox"]
    app.add_url_rule("/chaos/ledger", "chaos_ledger", lambda: jsonify(ledger(sandbox)))
    make_server("127.0.0.1", args.port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
