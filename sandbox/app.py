"""The sandbox process: one Flask app, each provider under its own path prefix (the SDKs keep a base
URL's path, docs/providers.md §0), plus /sandbox/* to look inside and to inject faults."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, jsonify, render_template_string, request
from flask.typing import ResponseReturnValue
from werkzeug.serving import make_server

from sandbox import (
    bland,
    calcom,
    google_calendar,
    inbound,
    inbound_personas,
    microsoft_graph,
    provisioned,
    recordings,
    retell,
    retell_provisioning,
    sendgrid,
    sendgrid_contacts,
    stripe,
    twilio,
    vapi,
    vapi_provisioning,
)

# Re-exported ("as"): the sandbox's entry point names them for the launcher and the tests; they live in
# sandbox.context so the provider modules can name them without importing this module back.
from sandbox.context import Sandbox as Sandbox
from sandbox.context import SandboxConfig as SandboxConfig
from sandbox.openai_realtime import RealtimeServer
from sandbox.state import Fault, SandboxCall, WebhookMode

log = logging.getLogger(__name__)
# Each provider under its own path prefix, listed: a missing module is an ImportError at start-up.
PROVIDERS = {"retell": retell, "vapi": vapi, "bland": bland, "twilio_realtime": twilio, "sendgrid": sendgrid}
PROVIDER_MODULES = tuple(PROVIDERS)
# The calendar services (issue 18): the same prefix rule, kept out of PROVIDERS (no call faults or webhook modes).
CALENDARS = {"calcom": calcom, "google": google_calendar, "microsoft": microsoft_graph}


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Provider sandbox: calls</title>
<style>body{font-family:sans-serif;margin:2rem}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3rem .6rem}</style>
</head><body><h1>Provider sandbox</h1>
<p>{{ stats.calls }} call(s) placed; create requests per provider:
{% for name, n in stats.create_requests|dictsort %}{{ name }} {{ n }} ({{ stats.created.get(name, 0) }} accepted)
{{- ", " if not loop.last }}{% else %}none{% endfor %}</p>
<table><thead><tr><th>provider</th><th>call</th><th>to</th>
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
    for name, calendar_module in CALENDARS.items():
        app.register_blueprint(calendar_module.blueprint(sandbox), url_prefix=f"/{name}")
    recordings.register(app, sandbox)
    sendgrid_contacts.register(app, sandbox)  # SendGrid's Marketing Contacts (erasure, docs/privacy.md)
    stripe.register(app, sandbox)  # Stripe's billing API (issue 20, docs/billing.md)
    inbound.register(app, sandbox)
    inbound_personas.register(app, sandbox)
    # The setup wizard's provisioning (agents, assistants, numbers; docs/onboarding.md).
    provisioned.register(app)
    retell_provisioning.register(app, sandbox)
    vapi_provisioning.register(app, sandbox)
    _register_slow_answers(app, sandbox)
    _register_views(app, sandbox)
    _register_fault_controls(app, sandbox)
    _start_realtime(app, sandbox)
    return app


def _start_realtime(app: Flask, sandbox: Sandbox) -> None:
    """The OpenAI Realtime stand-in on its own port (a WebSocket server, outside Flask), when configured;
    GET /sandbox/realtime shows its figures, POST /sandbox/realtime/drop {"after_audio_deltas": n} drops
    the next answering connection mid-answer (the bridge's reconnect test)."""
    config = sandbox.config
    if config.realtime_port is None:
        return
    server = RealtimeServer(
        "127.0.0.1", config.realtime_port, api_key=config.keys["openai"], scripts=sandbox.call_scripts
    )
    sandbox.realtime = server.start()

    @app.get("/sandbox/realtime")
    def realtime_stats() -> ResponseReturnValue:
        return jsonify(server.stats())

    @app.post("/sandbox/realtime/drop")
    def realtime_drop() -> ResponseReturnValue:
        body = request.get_json(force=True, silent=True) or {}
        server.drop_next(int(body.get("after_audio_deltas", 1)))
        return jsonify(ok=True)


# The create-call path of each voice provider: the answer to it is what a response delay holds back.
CREATE_PATHS = {
    "retell": "/retell/v2/create-phone-call",
    "vapi": "/vapi/call",
    "bland": "/bland/v1/calls",
    "twilio_realtime": f"/twilio_realtime/2010-04-01/Accounts/{twilio.ACCOUNT_SID}/Calls.json",
}


def _call_row(call: SandboxCall) -> dict[str, Any]:
    return {
        "provider": call.provider,
        "call_id": call.call_id,
        "to_number": call.to_number,
        "persona": call.persona,
        "language": call.language,
        "status": call.status,
        "metadata": call.request.get("metadata"),
    }


def _register_slow_answers(app: Flask, sandbox: Sandbox) -> None:
    @app.after_request
    def slow_answer(response: Response) -> Response:
        # Fault injection: the call exists, but the answer comes late (a client may die meanwhile).
        for provider, path in CREATE_PATHS.items():
            delay = sandbox.state.response_delays.get(provider)
            if delay and request.method == "POST" and request.path == path and response.status_code < 300:
                time.sleep(delay)
        return response

    @app.post("/sandbox/response-delay")
    def response_delay() -> ResponseReturnValue:
        body = request.get_json(force=True, silent=True) or {}
        provider = str(body.get("provider", ""))
        if provider not in CREATE_PATHS:
            return jsonify(error="provider must be one of " + ", ".join(CREATE_PATHS)), 422
        sandbox.state.response_delays[provider] = float(body.get("seconds", 0))
        return jsonify(ok=True)


def _register_views(app: Flask, sandbox: Sandbox) -> None:
    """Read-only routes: health, the calls page/list and the counters."""

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    @app.get("/sandbox/calls")
    def calls() -> ResponseReturnValue:
        listed = sandbox.state.list(request.args.get("provider"))
        if request.args.get("format") == "json":
            return jsonify([_call_row(c) for c in listed])
        return render_template_string(PAGE, calls=listed, stats=sandbox.state.stats())

    @app.get("/sandbox/stats")
    def stats() -> ResponseReturnValue:
        return jsonify(sandbox.state.stats())


def _register_fault_controls(app: Flask, sandbox: Sandbox) -> None:
    """Fault injection: error answers and duplicated/reordered/delayed webhooks per provider."""

    @app.post("/sandbox/faults")
    def faults() -> ResponseReturnValue:
        body = request.get_json(force=True, silent=True) or {}
        provider = str(body.get("provider", ""))
        if provider not in PROVIDER_MODULES:
            return jsonify(error="provider must be one of " + ", ".join(PROVIDER_MODULES)), 422
        # {"seconds": S} answers every request for S seconds (a storm that outlasts a client's budget);
        # otherwise the next `count` requests.
        seconds = body.get("seconds")
        sandbox.state.faults[provider] = Fault(
            status=int(body.get("status", 503)),
            remaining=int(body.get("count", 1)),
            retry_after_s=body.get("retry_after_s"),
            until=None if seconds is None else time.monotonic() + float(seconds),
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


def serve(host: str, port: int, config: SandboxConfig) -> None:
    server = make_server(host, port, create_sandbox_app(config), threaded=True)
    log.info("provider sandbox on http://%s:%s", host, port)
    server.serve_forever()
