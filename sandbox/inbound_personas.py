"""Inbound personas (issue 17 item 6): a caller rings one of the CRM's numbers through a provider's inbound
mechanism (sandbox.inbound), and the provider then drives the voice bridge with the caller's lines, as it
does for a live call:

* Retell: the Custom LLM WebSocket (sandbox.retell_llm.converse) with the call's `call_details`, whose
  metadata is what the CRM's call_inbound answer gave (`call_inbound.metadata`);
* Vapi: the custom LLM's `POST /chat/completions` per turn (the whole conversation each time, the call with
  `assistantOverrides.metadata` from the assistant-request answer, the `transferCall` and `endCall` tools
  offered), authenticated with the server secret.

Bland has no live protocol with the bridge (its agent runs at Bland, configured per number: transfer by the
number's `transfer_phone_number`): a Bland persona stops after the inbound request.

Each persona is one caller and their lines, one per turn, said whatever the agent says; the run reports the
transcript, whether the agent ended the call and the number it transferred to.

`POST /sandbox/inbound/<provider>/persona/<name>` `{"to": the CRM's number}` plays one persona against the
configured CRM (webhook_base) and bridge (retell_llm_websocket_url, vapi_llm_url) and answers the run."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox
from sandbox.inbound import PATHS, InboundAnswer, place_inbound_call
from sandbox.retell_llm import converse

VAPI_TOOLS = [
    {"type": "function", "function": {"name": "transferCall", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "endCall", "parameters": {"type": "object", "properties": {}}}},
]


@dataclass(frozen=True)
class InboundPersona:
    name: str
    caller: str | None  # None: the number is withheld
    lines: tuple[str, ...]  # the caller's turns; () after the greeting: they hang up early
    expect: str  # what the call should come to: the InboundCall outcome (crm.models.inbound)


# The callers of the suite's seed (tests/inbound/helpers.py): a known lead with one upcoming appointment,
# and numbers nobody has. The lines are English (the known caller's language) or German (the number's).
KNOWN = "+4930231251000"
_ANY_TIME = ("Any time, you pick.", "Yes, please.")
PERSONAS: dict[str, InboundPersona] = {
    p.name: p
    for p in (
        InboundPersona("known_books", KNOWN, ("I'd like to book another appointment.", *_ANY_TIME), "booked"),
        InboundPersona("known_moves", KNOWN, ("I need to move my appointment.", *_ANY_TIME), "rescheduled"),
        InboundPersona(
            "known_cancels",
            KNOWN,
            ("I have to cancel my appointment.", "Yes, that's right.", "No thanks, that's all."),
            "cancelled",
        ),
        InboundPersona(
            "unknown_caller",
            "+4917012345671",
            ("Ich möchte eine Nachricht hinterlassen.", "Bitte rufen Sie mich wegen eines Angebots zurück."),
            "message",
        ),
        InboundPersona("question", "+4917012345672", ("Wann haben Sie geöffnet?", "Nein danke, das wars."), "question"),
        InboundPersona("person_in_hours", KNOWN, ("Can I speak to a person, please?",), "transferred"),
        InboundPersona(
            "person_after_hours",
            KNOWN,
            ("Can I speak to a person, please?", "Please call me back about my invoice."),
            "message",
        ),
        InboundPersona("hangs_up_early", "+4917012345673", (), "abandoned"),
        InboundPersona(
            "withheld",
            None,
            ("Ich hätte gern einen Termin.", "Maria Huber, null eins sieben null, eins zwei drei vier."),
            "message",
        ),
    )
}


@dataclass
class InboundRun:
    persona: str
    provider: str
    call_id: str
    answer: InboundAnswer
    transcript: list[tuple[str, str]] = field(default_factory=list)
    ended: bool = False  # the agent ended the call
    transfer_number: str | None = None


def _metadata(provider: str, answer: InboundAnswer) -> dict[str, Any]:
    body = answer.answer or {}
    if provider == "retell":
        found = (body.get("call_inbound") or {}).get("metadata")
    elif provider == "vapi":
        found = (body.get("assistantOverrides") or {}).get("metadata")
    else:
        found = body.get("metadata")
    return dict(found) if isinstance(found, dict) else {}


def run_inbound_persona(
    provider: str,
    persona: InboundPersona,
    *,
    crm_base: str,
    keys: dict[str, str],
    to: str,
    retell_llm_url: str | None = None,
    vapi_llm_url: str | None = None,
    call_id: str | None = None,
) -> InboundRun:
    """Ring `to` as `persona` through `provider`, then let the bridge talk with them."""
    call_id = call_id or f"sandbox_in_{uuid.uuid4().hex[:16]}"
    answer = place_inbound_call(provider, crm_base, keys, caller=persona.caller, to=to, call_id=call_id)
    run = InboundRun(persona.name, provider, call_id, answer)
    if not answer.accepted:
        return run
    metadata = _metadata(provider, answer)
    if provider == "retell" and retell_llm_url:
        call = {
            "call_id": call_id,
            "call_type": "phone_call",
            "direction": "inbound",
            "from_number": persona.caller,
            "to_number": to,
            "call_status": "registered",
            "metadata": metadata,
            "retell_llm_dynamic_variables": answer.variables,
        }
        record: dict[str, Any] = {}
        run.transcript = converse(retell_llm_url, call, list(persona.lines), record=record)
        run.ended = bool(record.get("end_call") or record.get("transfer_number"))
        run.transfer_number = record.get("transfer_number")
    elif provider == "vapi" and vapi_llm_url:
        _vapi_talk(run, persona, vapi_llm_url, keys["vapi_secret"], metadata, to)
    return run


def _vapi_talk(
    run: InboundRun, persona: InboundPersona, url: str, secret: str, metadata: dict[str, Any], to: str
) -> None:
    messages: list[dict[str, str]] = [{"role": "system", "content": "leadchain inbound"}]
    lines = list(persona.lines)
    with httpx.Client(timeout=15) as client:
        while True:
            body = {
                "model": "leadchain-bridge",
                "stream": False,
                "messages": messages,
                "tools": VAPI_TOOLS,
                "call": {"id": run.call_id, "type": "inboundPhoneCall", "assistantOverrides": {"metadata": metadata}},
                "phoneNumber": {"number": to},
            }
            response = client.post(url, content=json.dumps(body), headers={"X-Vapi-Secret": secret})
            response.raise_for_status()
            message = response.json()["choices"][0]["message"]
            if message.get("content"):
                messages.append({"role": "assistant", "content": message["content"]})
                run.transcript.append(("agent", message["content"]))
            for tool in message.get("tool_calls") or []:
                function = tool.get("function") or {}
                if function.get("name") == "transferCall":
                    run.transfer_number = json.loads(function.get("arguments") or "{}").get("destination")
                if function.get("name") in ("transferCall", "endCall"):
                    run.ended = True
            if run.ended or not lines:
                return
            line = lines.pop(0)
            messages.append({"role": "user", "content": line})
            run.transcript.append(("callee", line))


def register(app: Flask, sandbox: Sandbox) -> None:
    @app.post("/sandbox/inbound/<provider>/persona/<name>")
    def inbound_persona(provider: str, name: str) -> ResponseReturnValue:
        if provider not in PATHS or name not in PERSONAS:
            return jsonify({"error": f"unknown provider or persona; personas: {sorted(PERSONAS)}"}), 404
        config = sandbox.config
        if not config.webhook_base:
            return jsonify({"error": "the sandbox has no CRM to call (webhook_base)"}), 409
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("to"), str):
            return jsonify({"error": 'body must be {"to": the CRM\'s number}', "fields": {"to": ["required"]}}), 400
        run = run_inbound_persona(
            provider,
            PERSONAS[name],
            crm_base=config.webhook_base,
            keys=config.keys,
            to=data["to"],
            retell_llm_url=config.retell_llm_websocket_url,
            vapi_llm_url=config.vapi_llm_url,
        )
        return jsonify(
            {
                "persona": run.persona,
                "provider": run.provider,
                "call_id": run.call_id,
                "accepted": run.answer.accepted,
                "status": run.answer.status,
                "transcript": run.transcript,
                "ended": run.ended,
                "transfer_number": run.transfer_number,
            }
        ), 200
