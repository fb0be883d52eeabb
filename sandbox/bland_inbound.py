"""Bland's inbound numbers in the sandbox (docs/inbound.md sec. 7; docs.bland.ai inbound-number-update, dynamic-data,
custom-tools, post-call webhooks), so an inbound persona runs through Bland's own mechanism end to end:

* `POST /v1/inbound/purchase` buys a number (docs.bland.ai inbound-purchase: `area_code` default "415",
  `country_code` "US" or "CA" (400 otherwise), `phone_number` an exact "+1…" number, no fallback) and answers
  as Bland documents it, `{"phone_number": "+1…"}`; the number is then listed by `GET /v1/inbound`, with no
  configuration until one is sent, and counted in the shared store of bought objects (GET /sandbox/provisioned,
  provider "bland", kind "phone_number"). Bland has no API to release a number it sold: neither has the sandbox.
* `POST /v1/inbound/{phone_number}` stores a number's configuration (auth: the raw key, no Bearer; the number
  with or without `+`/`%2B`, US assumed without a country code) and answers
  `{"status": "success", "message": "Successfully updated number +….", "updates": {…}}`;
  `GET /v1/inbound/{phone_number}` and `GET /v1/inbound` read it back.
* A call to a configured number (`play_call`) does what Bland does with that configuration, byte for byte from
  it: each `dynamic_data` request (url, method, headers, body with the system variables `{{from}}`, `{{to}}`,
  `{{call_id}}`, `{{phone_number}}`, `{{now}}` … filled in; `timeout` in ms, 2000 by default), its
  `response_data` extracted by JSONPath into the call's variables; then the agent's turns: a custom tool used
  as configured (`url`, `method`, `headers`, `body` with `{{input.<x>}}` and the variables filled in,
  `timeout` in ms, the `speech` said while it runs, `response` JSONPaths into variables); a transfer to the
  number's `transfer_phone_number`; at the end ONE post-call webhook to the number's `webhook`: the flat
  call-details object (`inbound: true`, `to` the number, `from` the caller, `transferred_to`, `transcripts`
  with `agent-action` entries for tool uses, `variables`, `metadata`), compact JSON signed with
  `X-Webhook-Signature` = hex HMAC-SHA256(webhook signing secret, body).

Bland's agent is a language model following the number's prompt; the sandbox stands in for it with a script
per persona (`AgentStep`): what the agent does after each of the caller's lines, its tool inputs written as
templates over the call's variables (plus `{{caller_said}}`, the caller's last words, which a model would
paraphrase). Assumed where Bland documents nothing: a withheld caller's `from` is "anonymous"; a template
variable that is not set becomes ""."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox
from sandbox.provisioned import store as provisioned_store

WITHHELD = "anonymous"
DYNAMIC_TIMEOUT_MS = 2000  # Bland's default for a dynamic_data request
TOOL_TIMEOUT_MS = 10000
_TEMPLATE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
PURCHASE_COUNTRIES = ("US", "CA")  # Bland sells these through the API; "for others, please contact support"
_AREA_CODE = re.compile(r"[2-9]\d\d")


@dataclass(frozen=True)
class AgentStep:
    """What Bland's agent does after the caller's next line (`heard`), or at the start (not `heard`)."""

    heard: bool = True
    tool: str | None = None  # a custom tool's name
    inputs: dict[str, str] = field(default_factory=dict)  # templates over the call's variables
    say: str = ""  # template, said after the tool answered
    transfer: bool = False  # to transfer_phone_number, when the variables say a person is available now
    closed: str = ""  # said instead of transferring when nobody is available
    end: bool = False  # the agent says goodbye and ends the call


@dataclass
class BlandCall:
    call_id: str
    to: str
    caller: str | None
    variables: dict[str, str] = field(default_factory=dict)
    transcripts: list[dict[str, Any]] = field(default_factory=list)
    tool_uses: list[tuple[str, int | None, dict[str, Any] | None]] = field(default_factory=list)
    dynamic_status: int | None = None
    dynamic_answer: dict[str, Any] | None = None
    dynamic_elapsed_s: float = 0.0
    transferred_to: str | None = None
    ended_by: str = "USER"
    webhook_status: int | None = None
    started_ms: int = 0
    ended_ms: int = 0

    def say(self, who: str, text: str) -> None:
        self.transcripts.append(
            {"id": len(self.transcripts) + 1, "created_at": _iso(time.time() * 1000), "text": text, "user": who,
             "c_id": self.call_id}
        )  # fmt: skip


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def normalise(raw: str) -> str | None:
    """Bland's path number: `+` or `%2B` optional, a US number without a country code."""
    digits = "".join(c for c in raw if c.isdigit())
    if not digits or len(digits) > 15:
        return None
    if raw.strip().startswith(("+", "%2B", "%2b")) or len(digits) > 10:
        return "+" + digits
    return "+1" + digits


def fill(value: Any, variables: dict[str, str], inputs: dict[str, str] | None = None) -> Any:
    """`value` with every `{{name}}` in its strings replaced (names case-insensitive, trimmed; `input.<x>`
    from the agent's inputs); the same shape otherwise."""
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            name = match.group(1).strip().lower()
            if name.startswith("input.") and inputs is not None:
                return str(inputs.get(name[6:], ""))
            return str(variables.get(name, ""))

        return _TEMPLATE.sub(one, value)
    if isinstance(value, dict):
        return {k: fill(v, variables, inputs) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, variables, inputs) for v in value]
    return value


def extract(data: Any, path: str) -> Any:
    """A JSONPath of dots and indexes (`$.variables.caller_name`, `slots[0].start`, or dot notation)."""
    current = data
    for key, index in _PATH_PART.findall(path.strip().removeprefix("$").lstrip(".")):
        if index:
            if not isinstance(current, list) or int(index) >= len(current):
                return None
            current = current[int(index)]
        elif isinstance(current, dict):
            current = current.get(key)
        else:
            return None
    return current


def _as_variable(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _request(client: httpx.Client, spec: dict[str, Any], call: BlandCall, inputs: dict[str, str] | None,
             default_ms: int) -> tuple[int | None, Any]:  # fmt: skip
    """One configured request as Bland makes it: (status, the JSON answer or None)."""
    method = str(spec.get("method") or "GET").upper()
    headers = {str(k): str(v) for k, v in (fill(spec.get("headers") or {}, call.variables, inputs)).items()}
    kwargs: dict[str, Any] = {"headers": headers, "timeout": float(spec.get("timeout") or default_ms) / 1000}
    if spec.get("query"):
        kwargs["params"] = fill(spec["query"], call.variables, inputs)
    if method != "GET" and spec.get("body") is not None:
        kwargs["content"] = json.dumps(fill(spec["body"], call.variables, inputs), separators=(",", ":"),
                                       ensure_ascii=False).encode()  # fmt: skip
        headers.setdefault("Content-Type", "application/json")
    try:
        response = client.request(method, fill(str(spec["url"]), call.variables, inputs), **kwargs)
    except httpx.HTTPError:
        return None, None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def system_variables(call: BlandCall, config: dict[str, Any]) -> dict[str, str]:
    caller = call.caller or WITHHELD
    now = _iso(time.time() * 1000)
    found = {
        "phone_number": caller,
        "from": caller,
        "to": call.to,
        "short_from": caller.removeprefix("+"),
        "short_to": call.to.removeprefix("+"),
        "call_id": call.call_id,
        "now": now,
        "now_utc": now,
    }
    found.update({str(k).lower(): _as_variable(v) for k, v in (config.get("request_data") or {}).items()})
    return found


def _keep(call: BlandCall, answer: Any, paths: Iterable[tuple[Any, Any]]) -> None:
    """An answer's values into the call's variables: (variable name, JSONPath) pairs, as dynamic_data's
    `response_data` and a tool's `response` both name them."""
    for name, path in paths:
        call.variables[str(name).lower()] = _as_variable(extract(answer, str(path or "")))


def _dynamic_data(client: httpx.Client, config: dict[str, Any], call: BlandCall) -> None:
    started = time.perf_counter()
    for spec in config.get("dynamic_data") or []:
        status, answer = _request(client, spec, call, None, DYNAMIC_TIMEOUT_MS)
        call.dynamic_status = status
        if status is None or not 200 <= status < 300:
            continue
        call.dynamic_answer = answer if isinstance(answer, dict) else None
        _keep(call, answer, ((item["name"], item.get("data")) for item in spec.get("response_data") or []))
    call.dynamic_elapsed_s = time.perf_counter() - started


def _use_tool(client: httpx.Client, config: dict[str, Any], call: BlandCall, step: AgentStep) -> None:
    tool = next((t for t in config.get("tools") or [] if isinstance(t, dict) and t.get("name") == step.tool), None)
    if tool is None:
        call.tool_uses.append((str(step.tool), None, None))
        return
    inputs = {k: str(fill(v, call.variables)) for k, v in step.inputs.items()}
    if tool.get("speech"):
        call.say("assistant", str(tool["speech"]))
    call.say("agent-action", f"{tool['name']} {json.dumps(inputs, ensure_ascii=False)}")
    status, answer = _request(client, tool, call, inputs, TOOL_TIMEOUT_MS)
    call.tool_uses.append((str(tool["name"]), status, answer if isinstance(answer, dict) else None))
    if status is not None and 200 <= status < 300:
        _keep(call, answer, (tool.get("response") or {}).items())


def _person_available(config: dict[str, Any], call: BlandCall) -> bool:
    v = call.variables
    return (
        bool(config.get("transfer_phone_number"))
        and v.get("transfer_available") == v.get("within_business_hours") == "true"
    )


def play_call(
    config: dict[str, Any],
    *,
    to: str,
    caller: str | None,
    script: tuple[AgentStep, ...],
    lines: tuple[str, ...],
    signing_secret: str,
    call_id: str | None = None,
) -> BlandCall:
    """One inbound call to the number `config` configures: the caller says `lines` one by one; after each (and
    at the start) the agent does the script's next step. Ends with the post-call webhook."""
    call = BlandCall(call_id or str(uuid.uuid4()), to, caller, started_ms=int(time.time() * 1000))
    call.variables = system_variables(call, config)
    steps, said = list(script), list(lines)
    with httpx.Client() as client:
        _dynamic_data(client, config, call)
        if config.get("first_sentence"):
            call.say("assistant", str(fill(config["first_sentence"], call.variables)))
        while steps:
            step = steps.pop(0)
            if step.heard:
                if not said:
                    break  # the caller hung up
                call.variables["caller_said"] = said.pop(0)
                call.say("user", call.variables["caller_said"])
            if step.tool:
                _use_tool(client, config, call, step)
            if step.transfer and _person_available(config, call):
                call.transferred_to = str(config["transfer_phone_number"])
                call.say("agent-action", f"Transfer {call.transferred_to}")
                call.ended_by = "ASSISTANT"
                break
            text = step.closed if step.transfer else step.say
            if text:
                call.say("assistant", str(fill(text, call.variables)))
            if step.end:
                call.ended_by = "ASSISTANT"
                break
        call.ended_ms = int(time.time() * 1000)
        call.webhook_status = _post_call(client, config, call, signing_secret)
    return call


def details(config: dict[str, Any], call: BlandCall) -> dict[str, Any]:
    """The flat call-details object of the finished call (docs/providers.md §3.3/§3.5)."""
    seconds = max(1, round((call.ended_ms - call.started_ms) / 1000))
    spoken = [t for t in call.transcripts if t["user"] in ("user", "assistant")]
    return {
        "call_id": call.call_id,
        "c_id": call.call_id,
        "batch_id": None,
        "to": call.to,
        "from": call.caller or WITHHELD,
        "request_data": config.get("request_data") or {},
        "metadata": config.get("metadata") or {},
        "created_at": _iso(call.started_ms),
        "started_at": _iso(call.started_ms),
        "end_at": _iso(call.ended_ms),
        "inbound": True,
        "completed": True,
        "status": "completed",
        "queue_status": "complete",
        "endpoint_url": "api.sandbox.bland.local",
        "max_duration": config.get("max_duration", 30),
        "record": bool(config.get("record")),
        "recording_url": f"https://sandbox.bland.local/recordings/{call.call_id}.mp3" if config.get("record") else None,
        "pathway_id": config.get("pathway_id"),
        "call_length": round(seconds / 60, 4),
        "corrected_duration": str(seconds),
        "answered_by": None,
        "error_message": None,
        "summary": " ".join(t["text"] for t in spoken if t["user"] == "user")[:500] or None,
        "price": round(seconds / 60 * 0.09, 4),
        "call_ended_by": call.ended_by,
        "analysis": None,
        "analysis_schema": None,
        "variables": dict(call.variables),
        "concatenated_transcript": " \n ".join(f"{t['user']}: {t['text']}" for t in spoken),
        "transcripts": list(call.transcripts),
        "transferred_to": call.transferred_to,
        "pathway_logs": None,
        "disposition_tag": None,
    }


def _post_call(client: httpx.Client, config: dict[str, Any], call: BlandCall, secret: str) -> int | None:
    url = config.get("webhook")
    if not url:
        return None
    body = json.dumps(details(config, call), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }
    status: int | None = None
    for _ in range(3):  # a failed delivery is sent again (the same bytes: the signature has no timestamp)
        try:
            status = client.post(str(url), content=body, headers=headers, timeout=10).status_code
        except httpx.HTTPError:
            status = None
        if status is not None and status < 500:
            return status
    return status


def numbers(app: Flask) -> dict[str, dict[str, Any]]:
    """The numbers configured in this sandbox (E.164 -> configuration)."""
    found: dict[str, dict[str, Any]] = app.extensions.setdefault("sandbox.bland_inbound", {})
    return found


def purchase(app: Flask, body: Any) -> tuple[dict[str, Any], int]:
    """`POST /v1/inbound/purchase`: (Bland's answer, status). The number gets no configuration until one is sent."""
    if not isinstance(body, dict):
        return {
            "status": "error",
            "message": "Invalid parameters",
            "errors": ["Request body must be a JSON object."],
        }, 400
    area, country = str(body.get("area_code") or "415"), str(body.get("country_code") or "US")
    errors = []
    if country not in PURCHASE_COUNTRIES:
        errors.append(f"Invalid country_code {country!r}: the options are US or CA (for others, contact support).")
    exact = body.get("phone_number")
    if exact is not None and not (isinstance(exact, str) and re.fullmatch(r"\+1[2-9]\d{9}", exact)):
        errors.append("Invalid phone_number: an exact number with the +1 prefix, e.g. +12223334444.")
    elif exact is None and not _AREA_CODE.fullmatch(area):
        errors.append("Invalid area_code: three digits, e.g. 415.")
    if errors:
        return {"status": "error", "message": "Invalid parameters", "errors": errors}, 400
    store, bought = numbers(app), provisioned_store(app)
    with bought.lock:
        if exact is not None and str(exact) in store:
            return {
                "status": "error",
                "message": f"Phone number {exact} is not available.",
                "errors": ["Not available."],
            }, 400
        e164 = (
            str(exact)
            if exact is not None
            else next(n for n in (f"+1{area}555{i:04d}" for i in range(1, 10000)) if n not in store)
        )
        record: dict[str, Any] = {"phone_number": e164, "created_at": _iso(time.time() * 1000)}
        # The purchase takes a prompt and a webhook too (docs.bland.ai inbound-purchase).
        record.update({k: body[k] for k in ("prompt", "webhook") if body.get(k)})
        store[e164] = record
    bought.add("bland", "phone_number", e164, record)  # the same record: a configuration shows there too
    return {"phone_number": e164}, 200


def register(app: Flask, sandbox: Sandbox) -> None:
    store = numbers(app)

    def keyed(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        """Bland's own check on every /v1/inbound route: the raw API key in `authorization`, else 401."""

        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            if request.headers.get("authorization", "") != sandbox.config.keys["bland"]:
                errors = ["Missing or invalid authorization header."]
                return jsonify(status="error", message="Invalid API key.", errors=errors), 401
            return view(*args, **kwargs)

        return checked

    @keyed
    def bland_configure_number(number: str) -> ResponseReturnValue:
        e164 = normalise(number)
        body = request.get_json(silent=True)
        errors = [] if e164 else ["Invalid phone_number."]
        if not isinstance(body, dict):
            errors.append("Request body must be a JSON object.")
        elif not body.get("prompt") and not body.get("pathway_id"):
            errors.append("Missing required parameter: prompt.")
        for name in ("dynamic_data", "tools"):
            if isinstance(body, dict) and body.get(name) is not None and not isinstance(body[name], list):
                errors.append(f"Invalid parameter: {name} must be an array.")
        if errors or e164 is None or not isinstance(body, dict):
            return jsonify(status="error", message="Invalid parameters", errors=errors), 400
        current = store.setdefault(e164, {"phone_number": e164, "created_at": _iso(time.time() * 1000)})
        current.update(body)
        return jsonify(status="success", message=f"Successfully updated number {e164}.", updates=body)

    @keyed
    def bland_purchase() -> ResponseReturnValue:
        body = request.get_json(silent=True)
        answer, status = purchase(app, {} if body is None and not request.get_data() else body)
        return jsonify(answer), status

    @keyed
    def bland_number(number: str) -> ResponseReturnValue:
        found = store.get(normalise(number) or "")
        if found is None:
            return jsonify(status="error", message="Inbound number not found.", errors=["Not found."]), 404
        return jsonify(found)

    @keyed
    def bland_numbers() -> ResponseReturnValue:
        return jsonify(inbound_numbers=list(store.values()))

    # At Bland's API root, and under /bland too: the CRM's Bland endpoint on the sandbox is <sandbox>/bland
    # (providers.factory.provider_endpoint), as the outbound calls' /bland/v1/calls.
    for prefix in ("", "/bland"):
        name = prefix.strip("/") or "root"
        # A static rule: Werkzeug matches it before the <path:number> rule below.
        app.add_url_rule(f"{prefix}/v1/inbound/purchase", f"bland_purchase_{name}", bland_purchase, methods=["POST"])
        app.add_url_rule(f"{prefix}/v1/inbound/<path:number>", f"bland_configure_number_{name}",
                         bland_configure_number, methods=["POST"])  # fmt: skip
        app.add_url_rule(f"{prefix}/v1/inbound/<path:number>", f"bland_number_{name}", bland_number, methods=["GET"])
        app.add_url_rule(f"{prefix}/v1/inbound", f"bland_numbers_{name}", bland_numbers, methods=["GET"])
