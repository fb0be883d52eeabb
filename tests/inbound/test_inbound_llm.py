"""The inbound LLM policy (voice.bridge.dialog.llm_inbound) against a STAND-IN OpenAI-compatible endpoint
(tests/voice/bridge/test_dialog_llm.FakeLLM) and the inbound tools' TEST DOUBLE: the greeting stays with the
inbound rules, the model is told the caller's appointments and offered the inbound tools, a cancel it calls
reaches the CRM action for the named appointment only, and a transfer goes to the number's own target."""

from __future__ import annotations

from crm.config import BridgeSettings
from tests.inbound.test_inbound_dialog import APPT, DANA, Call, FakeInboundTools, caller
from tests.voice.bridge.test_dialog_llm import API_KEY, FakeLLM, call_chunks, llm, text_chunks  # noqa: F401
from voice.bridge.dialog import phrases
from voice.bridge.dialog.factory import build_policy, with_inbound
from voice.bridge.dialog.llm_inbound import InboundLLMPolicy
from voice.bridge.dialog.types import TurnKind


def _policy(server: FakeLLM):
    settings = BridgeSettings(llm_url=server.url, llm_model="test-model", llm_timeout_s=2.0, llm_turn_timeout_s=5.0)
    policy = with_inbound(build_policy(settings=settings, api_key=API_KEY))
    assert isinstance(policy.inbound, InboundLLMPolicy)
    return policy


async def test_the_model_cancels_the_named_appointment_after_the_rules_greeted(llm):  # noqa: F811
    policy = _policy(llm)
    tools = FakeInboundTools()
    call = Call(policy, tools, DANA, caller(appointments=(APPT,)))
    greeting = await call.turn(None, TurnKind.BEGIN)
    assert phrases.say("in_ask_intent", "en") in greeting and not llm.requests  # the rules greeted
    llm.script = [
        call_chunks("cancel_appointment", {"appointment_id": 999}, call_id="c1")
        + call_chunks("cancel_appointment", {"appointment_id": APPT.appointment_id}, index=1, call_id="c2"),
        text_chunks("Your appointment is cancelled. Anything else?")
        + call_chunks("turn_result", {"intent": "confirm"}, call_id="c3"),
    ]
    said = await call.turn("Yes, please cancel my Thursday appointment.")
    assert said == "Your appointment is cancelled. Anything else?"
    assert tools.cancelled == [APPT.appointment_id]  # the unknown id reached nothing
    prompt = llm.requests[0]["messages"][0]["content"]
    assert f"id {APPT.appointment_id}:" in prompt and "Autohaus Berger" in prompt
    names = {t["function"]["name"] for t in llm.requests[0]["tools"]}
    assert {"cancel_appointment", "move_appointment", "answer_question", "leave_message", "turn_result"} <= names
    llm.script = [
        text_chunks("I'll put you through.") + call_chunks("turn_result", {"intent": "transfer", "transfer": True})
    ]
    await call.turn("Can I talk to someone?")
    assert call.results[-1].transfer_number == "+498912345699"
    await policy.inbound.aclose()
