"""The bridge as Vapi's tool server (server message `tool-calls`, docs/providers.md §2.3/§2.4) and as its custom LLM
(OpenAI chat completions with SSE streaming, 2.5), against a running bridge over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest

from tests.voice.bridge.conftest import VAPI_SECRET, FakeBackend, ScriptPolicy
from voice.bridge import vapi as vapi_module
from voice.bridge.crm_tools import filler_text
from voice.bridge.timeprefs.constraint import TimeConstraint

AUTH = {"X-Vapi-Secret": VAPI_SECRET}
CALL = {
    "id": "vapi-call-1",
    "type": "outboundPhoneCall",
    "assistantOverrides": {"metadata": {"lead_id": "7", "chain_id": "chain-7"}},
}


def tool_message(*calls: tuple[str, str, object], **extra) -> dict:
    listed = [
        {"id": cid, "type": "function", "function": {"name": name, "arguments": args}} for cid, name, args in calls
    ]
    return {
        "message": {
            "type": "tool-calls",
            "timestamp": 1767632350000,
            "call": CALL,
            "toolCallList": listed,
            "toolCalls": listed,
            **extra,
        }
    }


async def post(bridge, path: str, payload=None, *, headers=AUTH, content: bytes | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        body = content if content is not None else json.dumps(payload).encode()
        return await client.post(
            f"{bridge.url}{path}", content=body, headers={"Content-Type": "application/json", **headers}
        )


async def test_tool_calls_with_object_and_string_arguments_and_an_unknown_tool(start_bridge):
    bridge = await start_bridge()
    answer = await post(
        bridge,
        "/vapi/tools",
        tool_message(
            ("call_A", "book_appointment", json.dumps({"start": "2030-12-19T16:30:00+01:00"})),  # a JSON string
            ("call_B", "record_opt_out", {"reason": "never call again\nplease"}),  # an object
            ("call_C", "launch_rocket", {}),
            ("call_D", "record_qualification", {"need": "new website", "decision_maker": True}),
        ),
    )
    assert answer.status_code == 200
    results = {r["toolCallId"]: r for r in answer.json()["results"]}
    assert list(results) == ["call_A", "call_B", "call_C", "call_D"]
    booked = json.loads(results["call_A"]["result"])
    assert booked["status"] == "booked" and booked["start"].startswith("2030-12-19T16:30")
    assert "recorded" in results["call_B"]["result"]
    assert "unknown tool" in results["call_C"]["error"] and "result" not in results["call_C"]
    assert results["call_D"]["result"] == "qualification recorded"
    assert all("\n" not in (r.get("result") or r.get("error")) for r in results.values())
    # The lead came from assistantOverrides.metadata; the booking is the call's.
    assert bridge.backend.lookups == [("vapi-call-1", "vapi", {"lead_id": "7", "chain_id": "chain-7"})]
    assert [b[0] for b in bridge.backend.bookings] == ["vapi-call-1"]
    assert bridge.backend.opt_outs == [(7, "vapi-call-1", "never call again\nplease")]


async def test_check_availability_parses_the_preference_and_offers_a_slot(start_bridge, monkeypatch):
    monkeypatch.setattr(
        vapi_module, "_parse_preference", lambda text, language, now: TimeConstraint(raw=text, language=language)
    )
    bridge = await start_bridge()
    answer = await post(
        bridge,
        "/vapi/tools",
        tool_message(
            ("c1", "check_availability", {"preference": "nächsten Donnerstag ab 16 Uhr"}),
            ("c2", "check_availability", {}),
        ),
    )
    first, second = answer.json()["results"]
    offer = json.loads(first["result"])
    assert offer["wished"]["start"].endswith("16:30:00+01:00") and offer["alternatives"] == []
    assert "preference is required" in second["error"]


async def test_a_slow_tool_past_the_hard_timeout_is_an_error_entry_not_a_failed_request(start_bridge):
    bridge = await start_bridge(backend=FakeBackend(latency={"book": 1.0}), tool_timeout_s=0.3)
    started = time.monotonic()
    answer = await post(
        bridge, "/vapi/tools", tool_message(("c1", "book_appointment", {"start": "2030-12-19T16:30:00+01:00"}))
    )
    assert answer.status_code == 200 and time.monotonic() - started < 0.9
    assert "email" in answer.json()["results"][0]["error"]


async def test_other_server_messages_are_acknowledged(start_bridge):
    bridge = await start_bridge()
    answer = await post(bridge, "/vapi/tools", {"message": {"type": "status-update", "status": "in-progress"}})
    assert answer.status_code == 200 and answer.json() == {}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Vapi-Secret": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"x-signature": "00" * 32, "x-timestamp": str(int(time.time()))},
    ],
)
async def test_without_a_valid_credential_the_answer_is_401(start_bridge, headers):
    bridge = await start_bridge()
    for path in ("/vapi/tools", "/vapi/llm/chat/completions"):
        answer = await post(bridge, path, tool_message(("c1", "record_opt_out", {})), headers=headers)
        assert answer.status_code == 401 and "credential" in answer.json()["error"]
    assert bridge.backend.opt_outs == [] and bridge.backend.lookups == []


async def test_bearer_and_hmac_credentials_are_accepted(start_bridge):
    bridge = await start_bridge()
    payload = {"message": {"type": "hang"}}
    body = json.dumps(payload).encode()
    ts = str(int(time.time()))
    signature = hmac.new(VAPI_SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    for headers in ({"Authorization": f"Bearer {VAPI_SECRET}"}, {"x-signature": signature, "x-timestamp": ts}):
        assert (await post(bridge, "/vapi/tools", content=body, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"{not json", "not UTF-8 JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"type": "tool-calls"}', "message must be an object"),
        (b'{"message": {"type": "tool-calls", "toolCallList": {"id": "x"}}}', "toolCallList"),
    ],
)
async def test_a_malformed_body_is_a_4xx_naming_the_problem(start_bridge, content, problem):
    bridge = await start_bridge()
    answer = await post(bridge, "/vapi/tools", content=content)
    assert answer.status_code == 400 and problem in answer.json()["error"]


# ---- custom LLM -------------------------------------------------------------------------------------


def completion_request(*messages: tuple[str, str], stream: bool = True, tools: list[str] = ()) -> dict:
    return {
        "model": "gpt-4o",
        "stream": stream,
        "temperature": 0.7,
        "messages": [{"role": "system", "content": "You are Alex"}]
        + [{"role": role, "content": text} for role, text in messages],
        "tools": [{"type": "function", "function": {"name": name, "parameters": {}}} for name in tools],
        "call": CALL,
        "metadata": {"lead_id": "7"},
        "customer": {"number": "+493023125190"},
    }


async def sse(bridge, payload, headers=AUTH) -> tuple[httpx.Response, list]:
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream(
            "POST", f"{bridge.url}/vapi/llm/chat/completions", json=payload, headers=headers
        ) as answer:
            lines = [line async for line in answer.aiter_lines() if line]
    events = [line[len("data: ") :] for line in lines]
    assert all(line.startswith("data: ") for line in lines)
    return answer, [e if e == "[DONE]" else json.loads(e) for e in events]


def content_of(events: list) -> str:
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e != "[DONE]")


async def test_custom_llm_streams_the_policy_as_chat_completion_chunks(start_bridge):
    bridge = await start_bridge()
    answer, events = await sse(bridge, completion_request(("assistant", "Hallo Dana"), ("user", "Ja, bitte?")))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" and c["choices"][0]["index"] == 0 for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert content_of(chunks) == "Sie sagten: Ja, bitte?. Das war Ihre 1. Antwort."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert bridge.backend.lookups == [("vapi-call-1", "vapi", {"lead_id": "7", "chain_id": "chain-7"})]
    async with httpx.AsyncClient() as client:
        assert 'leadchain_bridge_turn_seconds_count{provider="vapi"} 1.0' in (await client.get(bridge.metrics_url)).text


async def test_custom_llm_first_message_and_non_streaming(start_bridge):
    bridge = await start_bridge()
    _, events = await sse(bridge, completion_request())
    assert content_of(events[:-1]).startswith("Hallo Dana, hier ist die KI-Assistentin")
    answer = await post(
        bridge,
        "/vapi/llm/chat/completions",
        completion_request(("assistant", "Hallo"), ("user", "Wer sind Sie?"), stream=False),
    )
    body = answer.json()
    assert answer.status_code == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Sie sagten: Wer sind Sie?. Das war Ihre 1. Antwort.",
    }
    assert body["choices"][0]["finish_reason"] == "stop"


async def test_custom_llm_ends_the_call_through_vapis_end_call_tool(start_bridge):
    bridge = await start_bridge()
    _, events = await sse(bridge, completion_request(("user", "Tschüss"), tools=["endCall"]))
    calls = [e["choices"][0]["delta"]["tool_calls"] for e in events[:-1] if "tool_calls" in e["choices"][0]["delta"]]
    assert calls and calls[0][0]["function"]["name"] == "endCall"
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
    # Without the tool offered, the turn just stops.
    _, events = await sse(bridge, completion_request(("user", "Tschüss")))
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


async def test_custom_llm_streams_a_filler_while_a_tool_is_slow(start_bridge):
    bridge = await start_bridge(backend=FakeBackend(latency={"find_slots": 0.5}), policy=ScriptPolicy())
    _, events = await sse(bridge, completion_request(("user", "Einen Termin bitte")))
    texts = [e["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert filler_text("de") in texts and content_of(events[:-1]).endswith("Termin booked.")


@pytest.mark.parametrize(
    "payload, problem",
    [({"messages": "hi"}, "messages must be an array"), ({"messages": ["hi"]}, "messages must be objects")],
)
async def test_custom_llm_rejects_malformed_requests(start_bridge, payload, problem):
    bridge = await start_bridge()
    answer = await post(bridge, "/vapi/llm/chat/completions", payload)
    assert answer.status_code == 400 and problem in answer.json()["error"]
