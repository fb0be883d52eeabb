"""The callback number the policy says in its opening, read from a Vapi custom-LLM request over real HTTP:
the configured number first, else the request's phoneNumber object, else the call's; anything that is not
an object with a string number is ignored (Vapi's JSON is untrusted input, never a 500)."""

from __future__ import annotations

import pytest

from tests.voice.bridge.test_vapi_protocol import CALL, completion_request, sse

OURS, CALLS = "+4930901820", "+4930555000"


@pytest.mark.parametrize(
    "extra, call_extra, expected",
    [
        ({"phoneNumber": {"number": OURS}}, {}, OURS),
        ({}, {"phoneNumber": {"number": CALLS}}, CALLS),
        ({"phoneNumber": {"number": OURS}}, {"phoneNumber": {"number": CALLS}}, OURS),  # the request's first
        ({"phoneNumber": OURS}, {}, None),  # not an object
        ({"phoneNumber": {"number": 4930901820}}, {}, None),  # not a string
        ({"phoneNumber": {"id": "pn_1"}}, {"phoneNumber": {"number": CALLS}}, CALLS),  # no number: the call's
        ({"phoneNumber": None}, {"phoneNumber": []}, None),
    ],
)
async def test_the_caller_id_reaches_the_policy(start_bridge, extra, call_extra, expected):
    bridge = await start_bridge()
    payload = {**completion_request(), **extra, "call": {**CALL, **call_extra}}
    answer, events = await sse(bridge, payload)
    assert answer.status_code == 200 and events[-1] == "[DONE]"
    assert bridge.policy.requests[-1].callback_number == expected


async def test_a_configured_callback_number_wins_over_the_caller_id(start_bridge):
    bridge = await start_bridge(callback_number="+4940123456")
    await sse(bridge, {**completion_request(), "phoneNumber": {"number": OURS}})
    assert bridge.policy.requests[-1].callback_number == "+4940123456"
