"""Inbound personas (issue 17 item 6): a caller rings one of the CRM's numbers through a provider's inbound
mechanism (sandbox.inbound), and the provider then drives the voice bridge with the caller's lines, as it
does for a live call:

* Retell: the Custom LLM WebSocket (sandbox.retell_llm.converse) with the call's `call_details`, whose
  metadata is what the CRM's call_inbound answer gave (`call_inbound.metadata`);
* Vapi: the custom LLM's `POST /chat/completions` per turn (the whole conversation each time, the call with
  `assistantOverrides.metadata` from the assistant-request answer, the `transferCall` and `endCall` tools
  offered), authenticated with the server secret.

* Bland: no live protocol with the bridge; its agent runs at Bland on the number's configuration
  (`POST /v1/inbound/{number}`, sandbox.bland_inbound). The call plays that configuration: its dynamic_data
  request, the agent's custom tool requests to the CRM (the persona's BLAND_SCRIPTS stand in for Bland's
  model), Bland's own transfer to `transfer_phone_number`, and the signed post-call webhook.

Each persona is one caller and their lines, one per turn, said whatever the agent says; the run reports the
transcript, whether the agent ended the call and the number it transferred to.

`POST /sandbox/inbound/<provider>/persona/<name>` `{"to": the CRM's number}` plays one persona against the
configured CRM (webhook_base) and bridge (retell_llm_websocket_url, vapi_llm_url; Bland: the number's
configuration stored in the sandbox) and answers the run."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox import bland_inbound
from sandbox.bland_inbound import AgentStep
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


# Bland's agent for each persona (a model following crm.inbound.bland_config.PROMPT would do this): after each
# of the caller's lines, which tool it uses with which inputs, and what it says.
_S = AgentStep
_GREET = _S(heard=False, say="{{greeting_name}}, this is the AI assistant; the call is recorded. How can I help?")
_BYE = _S(end=True, say="Goodbye.")
BLAND_SCRIPTS: dict[str, tuple[AgentStep, ...]] = {
    "known_books": (
        _GREET,
        _S(tool="FreeTimes", say="{{free_times}} Which suits you?"),
        _S(say="How about {{first_free}}?"),
        _S(tool="BookAppointment", inputs={"start": "{{first_free}}"}, say="{{booking}}", end=True),
    ),
    "known_moves": (
        _GREET,
        _S(tool="FreeTimes", inputs={"appointment": "next"}, say="{{free_times}} Which suits you?"),
        _S(say="How about {{first_free}} instead?"),
        _S(tool="MoveAppointment", inputs={"appointment": "next", "start": "{{first_free}}"}, say="{{moved}}",
           end=True),
    ),
    "known_cancels": (
        _GREET,
        _S(say="Your appointment {{upcoming_appointments}}: shall I cancel it?"),
        _S(tool="CancelAppointment", inputs={"appointment": "next"}, say="{{cancelled}} Anything else?"),
        _BYE,
    ),
    "unknown_caller": (
        _GREET,
        _S(say="Was darf ich ausrichten, und sollen wir Sie zurückrufen?"),
        _S(tool="LeaveMessage", inputs={"message": "{{caller_said}}", "callback": "yes"},
           say="{{message_taken}}", end=True),
    ),
    "question": (
        _GREET,
        _S(tool="AnswerQuestion", inputs={"question": "{{caller_said}}"}, say="{{answer}} Sonst noch etwas?"),
        _BYE,
    ),
    "person_in_hours": (_GREET, _S(transfer=True, closed="Nobody is available now. What may I pass on?")),
    "person_after_hours": (
        _GREET,
        _S(transfer=True, closed="Nobody is available now. What may I pass on, and shall we call you back?"),
        _S(tool="LeaveMessage", inputs={"message": "{{caller_said}}", "callback": "yes"},
           say="{{message_taken}}", end=True),
    ),
    "hangs_up_early": (_GREET, _S(say="Hello?")),
    "withheld": (
        _GREET,
        _S(say="Gern: Ihr Name und eine Nummer, unter der wir Sie zurückrufen?"),
        _S(tool="LeaveMessage", inputs={"message": "Terminwunsch: {{caller_said}}", "callback": "yes"},
           say="{{message_taken}}", end=True),
    ),
}  # fmt: skip


@dataclass
class InboundRun:
    persona: str
    provider: str
    call_id: str
    answer: InboundAnswer
    transcript: list[tuple[str, str]] = field(default_factory=list)
    ended: bool = False  # the agent ended the call
    transfer_number: str | None = None
    # Bland: each custom tool the agent used (name, HTTP status, answer) and the post-call webhook's status.
    tool_uses: list[tuple[str, int | None, dict[str, Any] | None]] = field(default_factory=list)
    webhook_status: int | None = None


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
    bland_config: dict[str, Any] | None = None,
) -> InboundRun:
    """Ring `to` as `persona` through `provider`, then let the bridge talk with them (Bland: play the number's
    configuration `bland_config`, as Bland would; without one, only the inbound request is made)."""
    call_id = call_id or f"sandbox_in_{uuid.uuid4().hex[:16]}"
    if provider == "bland" and bland_config is not None:
        return _bland_call(persona, bland_config, keys, to, call_id)
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


def _bland_call(
    persona: InboundPersona, config: dict[str, Any], keys: dict[str, str], to: str, call_id: str
) -> InboundRun:
    played = bland_inbound.play_call(
        config,
        to=to,
        caller=persona.caller,
        script=BLAND_SCRIPTS[persona.name],
        lines=persona.lines,
        signing_secret=keys["bland_webhook_secret"],
        call_id=call_id,
    )
    variables = (played.dynamic_answer or {}).get("variables")
    answer = InboundAnswer("bland", played.dynamic_status, 1, played.dynamic_elapsed_s, played.dynamic_answer)
    answer.variables = variables if isinstance(variables, dict) else {}
    answer.accepted = bool(answer.variables)
    run = InboundRun(persona.name, "bland", call_id, answer, tool_uses=played.tool_uses)
    run.webhook_status = played.webhook_status
    for entry in played.transcripts:
        if entry["user"] in ("user", "assistant"):
            run.transcript.append(("callee" if entry["user"] == "user" else "agent", entry["text"]))
    run.ended = played.ended_by == "ASSISTANT"
    run.transfer_number = played.transferred_to
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
    bland_inbound.register(app, sandbox)  # Bland's inbound numbers: what the Bland personas play

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
            bland_config=bland_inbound.numbers(app).get(bland_inbound.normalise(data["to"]) or ""),
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
                "tool_uses": run.tool_uses,
                "webhook_status": run.webhook_status,
            }
        ), 200
