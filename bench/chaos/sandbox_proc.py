"""The provider sandbox as its own process, plus one read-only route for the chaos harness:

    python -m bench.chaos.sandbox_proc --port P --webhook-base http://127.0.0.1:W [--step-s 0.2]

GET /chaos/ledger: what the sandbox itself saw — every call created (with our idempotency key from its
metadata), every mail accepted (with its message_key custom arg), every webhook it sent (path and the HTTP
status of each attempt) and its counters. The sandbox package is not changed: the route reads the
objects create_sandbox_app already keeps (app.extensions["sandbox"]).
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlsplit

from flask import jsonify
from werkzeug.serving import make_server

from sandbox.app import SandboxConfig, create_sandbox_app


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
    webhooks = [{"path": urlsplit(d.url).path, "attempts": list(d.attempts)} for d in sent]
    return {"calls": calls, "mails": mails, "webhooks": webhooks, "stats": sandbox.state.stats()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--webhook-base", required=True)
    parser.add_argument("--step-s", type=float, default=0.2)
    args = parser.parse_args()
    app = create_sandbox_app(SandboxConfig(webhook_base=args.webhook_base, step_s=args.step_s))
    sandbox = app.extensions["sandbox"]
    app.add_url_rule("/chaos/ledger", "chaos_ledger", lambda: jsonify(ledger(sandbox)))
    make_server("127.0.0.1", args.port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
