"""Tool results over the Retell protocol are JSON (issue 15: the find_slots result was a Python repr), and
every offered slot in them says whether it matches the caller's wish (offers.satisfies, applied by the
CRM tools whatever the backend claimed)."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.voice.bridge.conftest import NOW, FakeBackend, RetellPeer, call_details, turns
from voice.bridge.booking_results import SlotChoice, SlotOffer
from voice.bridge.dialog.rules import RulesPolicy


class CalendarBackend(FakeBackend):
    """booking.py's answer types, as the real backend gives them: the wish (Thursday 16:30) and an
    alternative at 9:00 that the backend wrongly labels as matching."""

    def find_slots(self, lead_id, constraint, now):
        start = (now + timedelta(days=3)).replace(hour=16, minute=30)
        early = start.replace(hour=9, minute=0)
        return SlotOffer(
            SlotChoice(start, start + timedelta(minutes=30), owner_id=1),
            (SlotChoice(early, early + timedelta(minutes=30), owner_id=1, matches=True),),
            wish_free=True,
            owner_id=1,
        )


async def test_find_slots_result_is_json_with_each_slot_marked(start_bridge):
    bridge = await start_bridge(policy=RulesPolicy(), backend=CalendarBackend())
    peer = await RetellPeer.open(bridge.retell_url("call_json"))
    assert (await peer.recv())["response_type"] == "config"
    await peer.send(interaction_type="call_details", call=call_details("call_json", "registered"))
    opening, _, _ = await peer.response(0)
    await peer.send(
        interaction_type="response_required",
        response_id=1,
        transcript=turns(("agent", opening), ("user", "Ja, am Apparat. Gern einen Termin am Donnerstag ab 16 Uhr.")),
    )
    text, _, frames = await peer.response(1)
    results = [f for f in frames if f["response_type"] == "tool_call_result"]
    invocations = {f["tool_call_id"]: f["name"] for f in frames if f["response_type"] == "tool_call_invocation"}
    assert [invocations[r["tool_call_id"]] for r in results] == ["find_slots"]
    offer = json.loads(results[0]["content"])  # JSON, not a repr
    thursday = (NOW + timedelta(days=3)).replace(hour=16, minute=30)
    assert offer["wished"]["start"] == thursday.isoformat() and offer["wished"]["matches"] is True
    assert offer["wished"]["owner_id"] == 1 and offer["wish_free"] is True and offer["no_match_reason"] is None
    # 9:00 is not "ab 16 Uhr": marked as not matching, whatever the backend said.
    assert [(a["start"], a["matches"]) for a in offer["alternatives"]] == [
        (thursday.replace(hour=9, minute=0).isoformat(), False)
    ]
    assert "16:30" in text and "9 Uhr" not in text
    await peer.close()


async def test_every_tool_result_reads_back_as_json(start_bridge):
    bridge = await start_bridge(policy=RulesPolicy(), backend=CalendarBackend())
    peer = await RetellPeer.open(bridge.retell_url("call_optout"))
    assert (await peer.recv())["response_type"] == "config"
    await peer.send(interaction_type="call_details", call=call_details("call_optout", "registered"))
    opening, _, _ = await peer.response(0)
    await peer.send(
        interaction_type="response_required",
        response_id=1,
        transcript=turns(("agent", opening), ("user", "Rufen Sie mich nie wieder an.")),
    )
    _, _, frames = await peer.response(1)
    results = [f for f in frames if f["response_type"] == "tool_call_result"]
    assert results and all(isinstance(json.loads(r["content"]), dict) for r in results)
    assert bridge.backend.opt_outs
    await peer.close()
