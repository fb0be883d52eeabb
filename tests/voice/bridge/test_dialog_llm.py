"""The LLM policy against a small local fake of an OpenAI-compatible chat-completions endpoint.

NOTE: ``FakeLLM`` is a STAND-IN for an LLM endpoint. No LLM is reachable here: the "model" is a script of
server-sent-event chunks (streamed text and function calls) that the test decides in advance, so these tests
check our side of the protocol (request shape, streaming, function calls onto the CRM tools, the structured
turn result, and the fallback to the rules policy when the endpoint errors or stalls), not any model's
behaviour. The CRM tools are the in-memory calendar test double."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from aiohttp import web

from tests.sandbox_fixtures import free_port
from tests.voice.bridge.test_dialog_support import (
    ANNA,
    ANNE,
    CLAIRE,
    FAKE_TIMETALK,
    NOW,
    THU,
    TUE,
    Conversation,
    FakeCalendar,
    at,
    respond,
)
from voice.bridge.dialog import phrases
from voice.bridge.dialog.factory import policy_from_env
from voice.bridge.dialog.llm import LLMPolicy
from voice.bridge.dialog.llm_schema import FIND_SLOTS_DESCRIPTION, system_prompt
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.types import Speech, ToolRecord, Turn, TurnKind, TurnRequest

API_KEY = "sk-test-not-a-real-key-123456"


def text_chunks(text: str, size: int = 7) -> list[dict]:
    return [{"choices": [{"index": 0, "delta": {"content": text[i : i + size]}}]} for i in range(0, len(text), size)]


def call_chunks(name: str, arguments: dict, index: int = 0, call_id: str | None = None) -> list[dict]:
    raw = json.dumps(arguments)
    half = len(raw) // 2
    return [
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call_id or f"call_{name}",
                                "type": "function",
                                "function": {"name": name, "arguments": raw[:half]},
                            }
                        ]
                    },
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, "function": {"arguments": raw[half:]}}]}}]},
    ]


class FakeLLM:
    """STAND-IN for an OpenAI-compatible endpoint: POST /v1/chat/completions answers with the next scripted
    item: a list of chunks (streamed as SSE), ("status", code), ("stall", seconds) before any byte, or
    ("stall_after", chunks, seconds) in the middle of the stream."""

    def __init__(self) -> None:
        self.script: list = []
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.runner: web.AppRunner | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        self.headers.append(dict(request.headers))
        item = self.script.pop(0) if self.script else []
        if isinstance(item, tuple) and item[0] == "status":
            return web.json_response({"error": {"message": "boom"}}, status=item[1])
        if isinstance(item, tuple) and item[0] == "stall":
            await asyncio.sleep(item[1])
            item = []
        pause, chunks = 0.0, item
        if isinstance(item, tuple) and item[0] == "stall_after":
            chunks, pause = item[1], item[2]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in chunks:
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        if pause:
            await asyncio.sleep(pause)
        await response.write(b": keep-alive comment\n\ndata: [DONE]\n\n")
        return response


@pytest.fixture
async def llm():
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


def policy_for(server: FakeLLM, **kwargs) -> LLMPolicy:
    kwargs.setdefault("read_timeout_s", 2.0)  # generous: only the stall tests wait for it
    # The fake model answers from this test's own event loop; on a loaded CI box (four test workers on two
    # cores) a loopback connect once took over the product's 1.5 s. The refused connection has its own test.
    kwargs.setdefault("connect_timeout_s", 5.0)
    kwargs.setdefault("turn_timeout_s", 5.0)
    return LLMPolicy(server.url, "test-model", API_KEY, fallback=RulesPolicy(FAKE_TIMETALK), **kwargs)


async def opened(policy) -> list[Turn]:
    begin = await respond(policy, [], FakeCalendar(), kind=TurnKind.BEGIN)
    return [Turn("agent", begin.text)]


async def test_streamed_text_is_spoken_sentence_by_sentence_and_the_turn_result_is_read(llm):
    policy = policy_for(llm)
    transcript = await opened(policy) + [Turn("user", "Ja, am Apparat.")]
    llm.script = [
        text_chunks("Schön, dass ich Sie erreiche. Worum geht es Ihnen dabei vor allem?")
        + call_chunks("turn_result", {"intent": "identity_confirmed", "classification": None})
    ]
    reply = await respond(policy, transcript, FakeCalendar())
    assert reply.chunks == ["Schön, dass ich Sie erreiche. ", "Worum geht es Ihnen dabei vor allem? "]
    assert reply.result.intent == "identity_confirmed" and not reply.result.end_call
    body, headers = llm.requests[0], llm.headers[0]
    assert body["model"] == "test-model" and body["stream"] is True
    assert {t["function"]["name"] for t in body["tools"]} >= {"find_slots", "book", "record_opt_out", "turn_result"}
    assert [m["role"] for m in body["messages"]] == ["system", "assistant", "user"]
    assert body["messages"][-1]["content"] == "Ja, am Apparat."
    assert "German" in body["messages"][0]["content"] and "Anna Weber" in body["messages"][0]["content"]
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    await policy.aclose()


async def test_function_calls_run_the_crm_tools_and_the_results_go_back_to_the_model(llm):
    policy = policy_for(llm)
    calendar = FakeCalendar()
    transcript = await opened(policy) + [Turn("user", "Gerne, nächsten Donnerstag ab 16 Uhr.")]
    spoken = FAKE_TIMETALK.render(at(THU, 16, 30), "de", None)
    llm.script = [
        call_chunks(
            "find_slots",
            {
                "time_preference": {
                    "dates": ["2030-12-19"],
                    "windows": [{"start": "16:00", "end": None}],
                    "raw": "nächsten Donnerstag ab 16 Uhr",
                }
            },
        ),
        text_chunks(f"Ein freier Termin wäre {spoken}, passt Ihnen das?")
        + call_chunks("turn_result", {"intent": "time_preference"}, call_id="call_result"),
    ]
    reply = await respond(policy, transcript, calendar)
    (record,) = reply.records
    assert record.name == "find_slots" and record.successful
    ((name, constraint),) = calendar.calls
    assert name == "find_slots" and constraint.dates == (THU,) and constraint.windows[0].start.hour == 16
    assert [s.start for s in reply.result.offered] == [at(THU, 16, 30)]
    assert reply.result.constraint == constraint
    second = llm.requests[1]["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "find_slots"
    assert second[-1]["role"] == "tool" and spoken in json.loads(second[-1]["content"])["wished"]["spoken"]
    # The calendar double marks nothing: the policy checks each slot itself before the model reads it.
    assert json.loads(second[-1]["content"])["wished"]["matches"] is True
    assert reply.text == f"Ein freier Termin wäre {spoken}, passt Ihnen das?"
    await policy.aclose()


async def test_slots_that_miss_the_wish_reach_the_model_marked_and_it_is_told_how_to_offer_them(llm):
    policy = policy_for(llm)
    calendar = FakeCalendar(free=[at(TUE, 9), at(TUE, 14)])  # nothing on Thursday after 16:00
    transcript = await opened(policy) + [Turn("user", "Gerne, nächsten Donnerstag ab 16 Uhr.")]
    wish = {"dates": ["2030-12-19"], "windows": [{"start": "16:00", "end": None}], "raw": "Donnerstag ab 16 Uhr"}
    llm.script = [
        call_chunks("find_slots", {"time_preference": wish}),
        text_chunks("Am Donnerstag ab 16 Uhr kann ich Ihnen leider nichts anbieten. Soll ich andere Zeiten nennen?")
        + call_chunks("turn_result", {"intent": "time_preference"}, call_id="call_result"),
    ]
    await respond(policy, transcript, calendar)
    first, second = llm.requests
    result = json.loads(second["messages"][-1]["content"])
    assert result["wished"] is None
    assert [(s["start"], s["matches"]) for s in result["alternatives"]] == [
        (at(TUE, 9).isoformat(), False),
        (at(TUE, 14).isoformat(), False),
    ]
    # What the model is told: only matching slots plainly; the reason, a question and a yes before others.
    (find_slots,) = [t["function"] for t in first["tools"] if t["function"]["name"] == "find_slots"]
    assert find_slots["description"] == FIND_SLOTS_DESCRIPTION
    for words in ("'matches': true", "real reason", "ask whether", "only after they say yes", "alternatives and why"):
        assert words in find_slots["description"], words
    prompt = first["messages"][0]["content"]
    assert "never present another one as if it did" in prompt and "only after a yes" in prompt
    await policy.aclose()


@pytest.mark.parametrize(
    "language,hedged,yes",
    [("de", "Solche Anrufe mag ich eigentlich gar nicht.", "Ja."), ("en", "I don't like these calls.", "Yes.")],
)
async def test_a_hedged_opt_out_and_the_answer_to_the_question_stay_with_the_rules(llm, language, hedged, yes):
    policy = policy_for(llm)
    calendar = FakeCalendar()
    call = Conversation(policy, calendar, callee=ANNA if language == "de" else ANNE)
    await call.begin()
    asked = await call.hear(hedged)
    assert asked.text == phrases.say("ask_remove", language)
    done = await call.hear(yes)
    assert llm.requests == []  # neither turn went to the model
    assert calendar.names() == ["record_opt_out"] and done.result.classification == "do_not_call"
    await policy.aclose()


async def test_a_booking_by_the_model_and_a_goodbye_added_when_it_forgot_one(llm):
    policy = policy_for(llm)
    calendar = FakeCalendar()
    llm.script = [
        call_chunks("book", {"start": at(THU, 16, 30).isoformat()}),
        text_chunks("Gebucht, Sie bekommen eine Bestätigung per E-Mail.")
        + call_chunks("turn_result", {"intent": "confirm", "classification": "booked", "end_call": True}, call_id="r"),
    ]
    transcript = await opened(policy) + [Turn("user", "Ja, bitte.")]
    reply = await respond(policy, transcript, calendar)
    assert list(calendar.booked) == [at(THU, 16, 30)]
    assert reply.result.classification == "booked" and reply.result.end_call
    assert reply.result.booking.status == "booked"
    assert reply.chunks[-1].strip() == phrases.say("goodbye", "de")
    await policy.aclose()


async def test_opening_reminders_and_opt_out_never_depend_on_the_model(llm):
    policy = policy_for(llm)
    calendar = FakeCalendar()
    call = Conversation(policy, calendar)
    begin = await call.begin()
    assert "KI-System" in begin.chunks[0]
    await call.hear(None)
    reply = await call.hear("Rufen Sie mich nie wieder an!")
    assert llm.requests == []
    assert calendar.names() == ["record_opt_out"] and reply.result.classification == "do_not_call"
    await policy.aclose()


@pytest.mark.parametrize("failure", [("status", 500), ("status", 429), ("stall", 3.0)])
async def test_the_rules_answer_when_the_endpoint_errors_or_stalls(llm, failure):
    policy = policy_for(llm, read_timeout_s=0.3)
    transcript = await opened(policy) + [Turn("user", "Ja, am Apparat.")]
    llm.script = [failure]
    started = time.monotonic()
    reply = await respond(policy, transcript, FakeCalendar())
    assert time.monotonic() - started < 2.5  # the stall lasts 3 s; the read timeout is 0.3 s
    expected = await respond(RulesPolicy(FAKE_TIMETALK), transcript, FakeCalendar())
    assert reply.chunks == expected.chunks and reply.result.intent == expected.result.intent
    await policy.aclose()


async def test_the_rules_answer_when_nothing_listens_on_the_url():
    policy = LLMPolicy(
        f"http://127.0.0.1:{free_port()}/v1", "m", None, fallback=RulesPolicy(FAKE_TIMETALK), connect_timeout_s=0.3
    )
    transcript = await opened(policy) + [Turn("user", "Ja, am Apparat.")]
    reply = await respond(policy, transcript, FakeCalendar())
    assert phrases.say("q_need", "de") in reply.text
    await policy.aclose()


async def test_a_stall_after_the_first_sentence_ends_the_turn_with_what_was_said(llm):
    policy = policy_for(llm, read_timeout_s=0.5)
    transcript = await opened(policy) + [Turn("user", "Ja, am Apparat.")]
    llm.script = [("stall_after", text_chunks("Schön, dass ich Sie erreiche. Worum geht"), 2.0)]
    reply = await respond(policy, transcript, FakeCalendar())
    assert reply.chunks == ["Schön, dass ich Sie erreiche. "]  # no second answer from the rules on top
    assert reply.result.text == "Schön, dass ich Sie erreiche."
    await policy.aclose()


async def test_garbage_in_the_stream_falls_back(llm):
    policy = policy_for(llm)
    transcript = await opened(policy) + [Turn("user", "Ja, am Apparat.")]
    llm.script = [[["not", "an", "object"], {"choices": [{"delta": {"tool_calls": [{"index": "x"}]}}]}]]
    reply = await respond(policy, transcript, FakeCalendar())
    assert phrases.say("q_need", "de") in reply.text
    await policy.aclose()


async def test_the_api_key_comes_from_the_secrets_and_is_never_shown(llm, caplog):
    from crm.secrets import EnvSecrets

    caplog.set_level(logging.DEBUG)
    environ = {
        "LEADCHAIN_BRIDGE_LLM_URL": llm.url,
        "LEADCHAIN_BRIDGE_LLM_MODEL": "tiny",
        "LEADCHAIN_BRIDGE_LLM_TIMEOUT_S": "0.3",
    }
    policy = policy_from_env(environ, EnvSecrets({"LEADCHAIN_SECRET_BRIDGE_LLM_API_KEY": API_KEY}), FAKE_TIMETALK)
    assert isinstance(policy, LLMPolicy) and policy.model == "tiny"
    llm.script = [("status", 500)]
    transcript = await opened(policy) + [Turn("user", "Ja, am Apparat.")]
    await respond(policy, transcript, FakeCalendar())
    assert llm.headers[0]["Authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in repr(policy) and API_KEY not in caplog.text
    await policy.aclose()


def test_rules_by_default_and_for_a_bad_url():
    assert isinstance(policy_from_env({}), RulesPolicy)
    assert isinstance(policy_from_env({"LEADCHAIN_BRIDGE_LLM_URL": "file:///etc/passwd"}), RulesPolicy)


async def test_events_are_speech_records_and_one_final_done(llm):
    policy = policy_for(llm)
    llm.script = [
        call_chunks("record_qualification", {"answers": {"need": "Mehr Termine", "other": "x"}}),
        text_chunks("Danke! Bis wann möchten Sie das umsetzen?")
        + call_chunks("turn_result", {"intent": "interest", "qualification": {"need": "Mehr Termine"}}, 1),
    ]
    calendar = FakeCalendar()
    transcript = await opened(policy) + [Turn("user", "Mehr Termine.")]
    reply = await respond(policy, transcript, calendar)
    assert calendar.qualification == {"need": "Mehr Termine"}
    assert reply.result.qualification == {"need": "Mehr Termine"}
    assert all(isinstance(e, (Speech, ToolRecord)) for e in reply.events[:-1])
    await policy.aclose()


def test_the_model_is_told_to_speak_the_calls_language_formally():
    def prompt(language: str) -> str:
        request = TurnRequest(
            "c", "retell", TurnKind.RESPONSE, (), CLAIRE if language == "fr" else ANNA, NOW, "Leadchain"
        )
        return system_prompt(request, language)

    assert "Speak French (formal 'vous') only" in prompt("fr")
    assert "Speak German (formal 'Sie') only" in prompt("de")
