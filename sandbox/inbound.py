"""Inbound calls from the sandbox (issue 17 item 6; docs/providers.md §1.7 and the providers' inbound docs): a
caller rings one of the CRM's numbers, and the sandbox does what each provider does before the call is answered.

* Retell: a signed `call_inbound` webhook (X-Retell-Signature with the API key, compact JSON, `call_id`
  included) to the number's `inbound_webhook_url`; 10 s timeout, up to 3 retries while the number rings.
* Vapi: the `assistant-request` server message to the number's `server.url` (X-Vapi-Secret); one attempt,
  7.5 s end to end; the answer must name `assistantId`, `assistant`, `destination` or `error`.
* Bland: no pre-answer webhook exists; the number's `dynamic_data` request (configured on the number:
  Authorization Bearer with the webhook secret) is made at the start of the call.

`POST /sandbox/inbound/<provider>` `{"from": caller or null, "to": the CRM's number}` places one and answers
what the CRM answered and how long it took; `place_inbound_call` is the same for tests and scripts.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox
from sandbox.retell import retell_signature

# Seconds the provider waits for the answer, and how many more times it asks (Retell's inbound-call-webhook
# and Vapi's assistant-request docs).
DEADLINE_S = {"retell": 10.0, "vapi": 7.5, "bland": 10.0}
RETRIES = {"retell": 3, "vapi": 0, "bland": 0}
PATHS = {
    "retell": "/webhooks/retell/inbound",
    "vapi": "/webhooks/vapi/assistant-request",
    "bland": "/webhooks/bland/inbound",
}


@dataclass
class InboundAnswer:
    provider: str
    status: int | None  # the last attempt's HTTP status; None: no answer in time
    attempts: int
    elapsed_s: float
    answer: dict[str, Any] | None = None
    agent: str | None = None  # the agent/assistant the answer names
    variables: dict[str, Any] = field(default_factory=dict)
    accepted: bool = False  # what the provider would do: answer the call with the CRM's agent and variables

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def request_for(
    provider: str, caller: str | None, to: str, keys: dict[str, str], call_id: str
) -> tuple[bytes, dict[str, str]]:
    """The body and headers `provider` sends for an inbound call (signed per attempt: the timestamp is)."""
    if provider == "retell":
        inbound: dict[str, Any] = {"to_number": to, "call_id": call_id}
        if caller is not None:
            inbound["from_number"] = caller
        body = _dumps({"event": "call_inbound", "event_timestamp": int(time.time() * 1000), "call_inbound": inbound})
        return body, {"Content-Type": "application/json", "X-Retell-Signature": retell_signature(body, keys["retell"])}
    if provider == "vapi":
        message: dict[str, Any] = {
            "type": "assistant-request",
            "timestamp": int(time.time() * 1000),
            "call": {"id": call_id, "orgId": "org_sandbox", "type": "inboundPhoneCall"},
            "phoneNumber": {"id": "pn_sandbox", "number": to},
        }
        if caller is not None:
            message["customer"] = {"number": caller}
        body = _dumps({"message": message})
        return body, {"Content-Type": "application/json", "X-Vapi-Secret": keys["vapi_secret"]}
    body = _dumps({"from": caller, "to": to, "call_id": call_id})
    return body, {"Content-Type": "application/json", "Authorization": f"Bearer {keys['bland_webhook_secret']}"}


def _read(provider: str, result: InboundAnswer) -> None:
    answer = result.answer or {}
    if provider == "retell":
        found = answer.get("call_inbound")
        inbound: dict[str, Any] = found if isinstance(found, dict) else {}
        result.agent = inbound.get("override_agent_id")
        result.variables = inbound.get("dynamic_variables") or {}
        # Only the boolean true rejects (docs/providers.md §1.7); strings are what Retell types the variables as.
        result.accepted = inbound.get("reject") is not True and all(
            isinstance(v, str) for v in result.variables.values()
        )
    elif provider == "vapi":
        result.agent = answer.get("assistantId")
        result.variables = (answer.get("assistantOverrides") or {}).get("variableValues") or {}
        result.accepted = any(k in answer for k in ("assistantId", "assistant", "squadId", "destination"))
    else:
        result.variables = answer.get("variables") or {}
        result.accepted = bool(result.variables)


def place_inbound_call(
    provider: str, crm_base: str, keys: dict[str, str], *, caller: str | None, to: str, call_id: str | None = None
) -> InboundAnswer:
    """Ring the CRM's number `to` from `caller` (None: withheld) through `provider`'s inbound mechanism."""
    call_id = call_id or f"sandbox_in_{uuid.uuid4().hex[:16]}"
    url = crm_base.rstrip("/") + PATHS[provider]
    started = time.perf_counter()
    result = InboundAnswer(provider, None, 0, 0.0)
    with httpx.Client(timeout=DEADLINE_S[provider]) as client:
        for _ in range(1 + RETRIES[provider]):
            result.attempts += 1
            body, headers = request_for(provider, caller, to, keys, call_id)
            try:
                response = client.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                result.status = None
                continue
            result.status = response.status_code
            if 200 <= response.status_code < 300:
                try:
                    result.answer = response.json()
                except ValueError:
                    result.answer = None
                break
    result.elapsed_s = time.perf_counter() - started
    if result.answer is not None and result.elapsed_s <= DEADLINE_S[provider] * (1 + RETRIES[provider]):
        _read(provider, result)
    return result


def register(app: Flask, sandbox: Sandbox) -> None:
    @app.post("/sandbox/inbound/<provider>")
    def inbound_call(provider: str) -> ResponseReturnValue:
        if provider not in PATHS:
            return jsonify({"error": f"unknown provider {provider!r}"}), 404
        if not sandbox.config.webhook_base:
            return jsonify({"error": "the sandbox has no CRM to call (webhook_base)"}), 409
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("to"), str):
            return jsonify({"error": 'body must be {"from": caller or null, "to": the CRM\'s number}'}), 400
        caller = data.get("from") if isinstance(data.get("from"), str) else None
        result = place_inbound_call(
            provider, sandbox.config.webhook_base, sandbox.config.keys, caller=caller, to=data["to"]
        )
        return jsonify(result.as_dict()), 200
