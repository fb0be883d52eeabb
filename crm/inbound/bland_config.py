"""How a company's Bland number is pointed at the CRM (`POST /v1/inbound/{number}`, docs/inbound.md sec. 7):
the `dynamic_data` request that fetches the caller's context when the call comes in, the custom tools the agent
uses during the call (one of our routes each: crm.webhooks.bland_inbound), the transfer target and the
post-call webhook. Bland has no pre-answer webhook and no live protocol with our bridge: its agent runs at
Bland on this configuration.

A custom tool (Bland's "Custom Tools", inline in `tools`) is `name`, `description`, `speech` (said while it
runs), `url`, `method`, `headers`, `body` (templates: `{{call_id}}`, `{{to}}` and the agent's `{{input.<x>}}`),
`input_schema` (a JSON schema with an `example`), `response` (variable name -> JSONPath into our answer) and
`timeout` (milliseconds). Every request carries `call_id` and `to`: the CRM reads the caller and the number
from the call our dynamic_data answer recorded, never from what the agent fills in."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from crm.models import PhoneNumber

# What the agent's prompt may name ({{caller_name}} ...): CallerContext.variables' keys.
VARIABLES = (
    "caller_status",
    "caller_name",
    "caller_company",
    "language",
    "company_name",
    "greeting_name",
    "owner_name",
    "upcoming_appointments",
    "last_interactions",
    "objected_to_calls",
    "within_business_hours",
    "transfer_available",
    "caller_hint",
)
TOOL_TIMEOUT_MS = 5000
_TIME = "an ISO 8601 time from a FreeTimes answer, e.g. 2026-03-03T10:00:00+01:00"
_WHICH = "the appointment's start as listed in upcoming_appointments (YYYY-MM-DD HH:MM), or next for the soonest"
# (route, Bland name, description, speech, inputs {name: description}, example, response variables)
TOOLS: tuple[tuple[str, str, str, str, dict[str, str], dict[str, str], dict[str, str]], ...] = (
    ("free_times", "FreeTimes", "Free times for a new appointment, or to move the caller's appointment to.",
     "One moment, I'm checking the calendar.", {"appointment": _WHICH + " (only to move one)",
                                                "after": "earliest time wished, ISO 8601, or empty"},
     {"appointment": "", "after": ""}, {"free_times": "$.message", "first_free": "$.first_start"}),
    ("book", "BookAppointment", "Book a new appointment for a known caller at a time FreeTimes offered.",
     "One moment, I'm booking that.", {"start": _TIME}, {"start": "2026-03-03T10:00:00+01:00"},
     {"booking": "$.message"}),
    ("move", "MoveAppointment", "Move the caller's appointment to a time FreeTimes offered, after they confirmed.",
     "One moment, I'm moving it.", {"appointment": _WHICH, "start": _TIME},
     {"appointment": "", "start": "2026-03-03T10:00:00+01:00"}, {"moved": "$.message"}),
    ("cancel", "CancelAppointment", "Cancel the caller's appointment after reading it back and a yes.",
     "One moment.", {"appointment": _WHICH}, {"appointment": ""}, {"cancelled": "$.message"}),
    ("question", "AnswerQuestion", "Answer a question from the company's knowledge base (say the answer).",
     "Let me look that up.", {"question": "the caller's question in their words"},
     {"question": "Wann haben Sie geöffnet?"}, {"answer": "$.message"}),
    ("message", "LeaveMessage", "Pass a message on to a person; callback yes only when the caller asks for one.",
     "", {"message": "the message, with name and number when withheld", "callback": "yes or no"},
     {"message": "Please call me back about my invoice.", "callback": "yes"}, {"message_taken": "$.message"}),
)  # fmt: skip
PROMPT = (
    "You answer the phone for {{greeting_name}} and you are an AI; say so, and that the call is recorded. "
    "{{caller_hint}} The caller: {{caller_name}} ({{caller_status}}); upcoming appointments: "
    "{{upcoming_appointments}}. Book, move or cancel appointments only with the tools, offer only times "
    "FreeTimes gave, read a change back before making it. Answer questions with AnswerQuestion. Transfer to a "
    "person only when transfer_available and within_business_hours are both true ({{transfer_available}}, "
    "{{within_business_hours}}); otherwise take a message with LeaveMessage."
)


def tools(base_url: str, secret: str) -> list[dict[str, Any]]:
    """The number's custom tools, each pointing at /webhooks/bland/inbound/tools/<route>."""
    base = base_url.rstrip("/")
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    found = []
    for route, name, description, speech, inputs, example, response in TOOLS:
        body = {"call_id": "{{call_id}}", "to": "{{to}}", **{k: f"{{{{input.{k}}}}}" for k in inputs}}
        tool: dict[str, Any] = {
            "name": name,
            "description": description,
            "url": f"{base}/webhooks/bland/inbound/tools/{route}",
            "method": "POST",
            "headers": dict(headers),
            "body": body,
            "input_schema": {
                "example": example,
                "type": "object",
                "properties": {k: {"type": "string", "description": d} for k, d in inputs.items()},
                "required": [k for k in inputs if k not in ("appointment", "after")],
            },
            "response": dict(response),
            "timeout": TOOL_TIMEOUT_MS,
        }
        if speech:
            tool["speech"] = speech
        found.append(tool)
    return found


def number_config(number: PhoneNumber, base_url: str, secret: str, prompt: str = PROMPT) -> dict[str, Any]:
    """The body of Bland's `POST /v1/inbound/{number.e164}` pointing the number at us."""
    base = base_url.rstrip("/")
    config: dict[str, Any] = {
        "prompt": prompt,
        "language": number.language,
        "record": True,
        "webhook": f"{base}/webhooks/bland/inbound/call",
        "metadata": {"direction": "inbound", "inbound_number": str(number.id)},
        "dynamic_data": [
            {
                "url": f"{base}/webhooks/bland/inbound",
                "method": "POST",
                "headers": {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
                "body": {"from": "{{from}}", "to": "{{to}}", "call_id": "{{call_id}}"},
                "cache": True,  # once, at the start of the call (false: before every agent response)
                # Bland waits 2000 ms by default; the answer takes milliseconds (bench/inbound.py), the margin is for
                # a web worker's first request after a deploy.
                "timeout": 5000,
                "response_data": [{"name": name, "data": f"$.variables.{name}"} for name in VARIABLES],
            }
        ],
        "tools": tools(base, secret),
    }
    if number.agent_ref:
        # Bland: a pathway overrides prompt, dynamic_data and tools (they are set on its nodes instead).
        config["pathway_id"] = number.agent_ref
    if number.transfer_e164:
        config["transfer_phone_number"] = number.transfer_e164
    return config


def configure(
    number: PhoneNumber,
    *,
    api_key: str,
    base_url: str,
    secret: str,
    bland_url: str = "https://api.bland.ai",
    client: httpx.Client | None = None,
) -> dict[str, Any]:
    """Send the number's configuration to Bland (`authorization: <raw key>`); Bland's answer
    (`{"status": "success", "updates": {...}}`). Raises httpx.HTTPStatusError on a refusal."""
    own = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(15.0, connect=5.0))
    try:
        response = http.post(
            f"{bland_url.rstrip('/')}/v1/inbound/{quote(number.e164, safe='')}",
            json=number_config(number, base_url, secret),
            headers={"authorization": api_key},
        )
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer
    finally:
        if own:
            http.close()
