"""The sandbox process: one Flask app, each provider under its own path prefix (the SDKs keep a base
URL's path, docs/providers.md §0), plus /sandbox/* to look inside and to inject faults."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, jsonify, render_template_string, request
from flask.typing import ResponseReturnValue
from werkzeug.serving import make_server

from sandbox import bland, recordings, retell, sendgrid, vapi

# Re-exported ("as"): the sandbox's entry point names them for the launcher and the tests; they live in
# sandbox.context so the provider modules can name them without importing this module back.
from sandbox.context import Sandbox as Sandbox
from sandbox.context import SandboxConfig as SandboxConfig
from sandbox.state import Fault, WebhookMode

log = logging.getLogger(__name__)
# Each provider under its own path prefix, listed: a missing module is an ImportError at start-up.
PROVIDERS = {"retell": retell, "vapi": vapi, "bland": bland, "sendgrid": sendgrid}
PROVIDER_MODULES = tuple(PROVIDERS)


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Provider sandbox: calls</title>
<style>body{font-family:sans-serif;margin:2rem}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3rem .6rem}</style>
</head><body><h1>Provider sandbox</h1><p>{{ stats }}</p><table><thead><tr><th>provider</th><th>call</th><th>to</th>
<th>persona</th><th>language</th><th>status</th></tr></thead><tbody>
{% for c in calls %}<tr><td>{{ c.provider }}</td><td>{{ c.call_id }}</td><td>{{ c.to_number }}</td>
<td>{{ c.persona }}</td><td>{{ c.language }}</td><td>{{ c.status }}</td></tr>
{% else %}<tr><td colspan="6">no calls yet</td></tr>{% endfor %}
</tbody></table></body></html>"""


def create_sandbox_app(config: SandboxConfig | None = None) -> Flask:
    app = Flask("leadchain-sandbox")
    sandbox = Sandbox(config or SandboxConfig())
    app.extensions["sandbox"] = sandbox
    for name, module in PROVIDERS.items():
        app.register_blueprint(module.blueprint(sandbox), url_prefix=f"/{name}")
    recordings.register(app, sandbox)

    create_paths = {"retell": "/retell/v2/create-phone-call", "vapi": "/vapi/call", "bland": "/bland/v1/calls"}

    @app.after_request
    def slow_answer(response: Response) -> Response:
        # Fault injection: the call exists, but the answer comes late (a client may die meanwhile).
        for provider, path in create_paths.items():
            delay = sandbox.state.response_delays.get(provider)
            if delay and request.method == "POST" and request.path == path and response.status_code < 300:
                time.sleep(delay)
        return response

    @app.post("/sandbox/response-delay")
    def response_delay() -> ResponseReturnValue:
        body = request.get_json(force=True, silent=True) or {}
        provider = str(body.get("provider", ""))
        if provider not in create_paths:
            return jsonify(error="provider must be one of " + ", ".join(create_paths)), 422
        sandbox.state.response_delays[provider] = float(body.get("seconds", 0))
        return jsonify(ok=True)

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    @app.get("/sandbox/calls")
    def calls() -> ResponseReturnValue:
        listed = sandbox.state.list(request.args.get("provider"))
        if request.args.get("format") == "json":
            return jsonify(
                [
                    {
                        "provider": c.provider,
                        "call_id": c.call_id,
                        "to_number": c.to_number,
                        "persona": c.persona,
                        "language": c.language,
                        "status": c.status,
                        "metadata": c.request.get("metadata"),
                    }
                    for c in listed
                ]
            )
        return render_template_string(PAGE, calls=listed, stats=sandbox.state.stats())

    @app.get("/sandbox/stats")
    def stats() -> ResponseReturnValue:
        return jsonify(sandbox.state.stats())

    @app.post("/sandbox/faults")
    def faults() -> ResponseReturnValue:
        body = request.get_json(force=True, silent=True) or {}
        provider = str(body.get("provider", ""))
        if provider not in PROVIDER_MODULES:
            return jsonify(error="provider must be one of " + ", ".join(PROVIDER_MODULES)), 422
        sandbox.state.faults[provider] = Fault(
            status=int(body.get("status", 503)),
            remaining=int(body.get("count", 1)),
            retry_after_s=body.get("retry_after_s"),
        )
        return jsonify(ok=True)

    @app.post("/sandbox/webhook-mode")
    def webhook_mode() -> ResponseReturnValue:
        body = request.get_json(force=True, silent=True) or {}
        provider = str(body.get("provider", ""))
        if provider not in PROVIDER_MODULES:
            return jsonify(error="provider must be one of " + ", ".join(PROVIDER_MODULES)), 422
        sandbox.state.webhook_modes[provider] = WebhookMode(
            duplicate=int(body.get("duplicate", 0)),
            reorder=bool(body.get("reorder", False)),
            delay_s=float(body.get("delay_s", 0)),
        )
        return jsonify(ok=True)

    return app


def serve(host: str, port: int, config: SandboxConfig) -> None:
    server = make_server(host, port, create_sandbox_app(config), threaded=True)
    log.info("provider sandbox on http://%s:%s", host, port)
    server.serve_forever()
