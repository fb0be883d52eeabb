"""Statelessness: the policy's answer is a function of the transcript (plus what the CRM tools say), so a
reconnect or another bridge instance continues the same call. Uses the in-memory calendar (a test double of
the CRM tools) and the phrasebook parser (a test double of voice.bridge.timeprefs.parse)."""

from __future__ import annotations

import pytest

from tests.voice.bridge.test_dialog_support import (
    ANNA,
    ANNE,
    FAKE_TIMETALK,
    NOW,
    THU,
    Conversation,
    FakeCalendar,
    at,
    respond,
)
from voice.bridge.dialog import phrases
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.state import Stage, rebuild, recognise
from voice.bridge.dialog.types import Speech, ToolRecord, Turn, TurnDone, TurnKind

BOOKS_DE = [
    "Ja, am Apparat.",
    "Wir möchten unsere Terminvergabe automatisieren.",
    "Möglichst bald, noch in diesem Quartal.",
    "Das entscheide ich selbst.",
    "Gerne, nächsten Donnerstag ab 16 Uhr.",
    "Ja, bitte.",
]


def shape(events) -> list:
    out = []
    for e in events:
        if isinstance(e, Speech):
            out.append(("speech", e.text))
        elif isinstance(e, ToolRecord):
            out.append(("tool", e.tool_call_id, e.name, e.arguments, e.result, e.successful))
        elif isinstance(e, TurnDone):
            r = e.result
            out.append(
                (
                    "done",
                    r.text,
                    r.end_call,
                    r.intent,
                    r.classification,
                    dict(r.qualification),
                    r.constraint,
                    r.offered,
                    r.recording_declined,
                )
            )
    return out


async def test_every_transcript_prefix_gives_the_same_answer_again():
    policy = RulesPolicy(FAKE_TIMETALK)
    call = Conversation(policy, FakeCalendar())
    await call.play(BOOKS_DE[:5])  # up to the offer: no booking made yet
    kinds = [TurnKind.BEGIN] + [TurnKind.RESPONSE] * 5
    agent_positions = [i for i, t in enumerate(call.transcript) if t.role == "agent"]
    assert len(agent_positions) == len(call.replies)
    for reply, position, kind in zip(call.replies, agent_positions, kinds, strict=True):
        prefix = call.transcript[:position]
        # A fresh policy object and a fresh calendar: nothing may be remembered between turns.
        again = await respond(RulesPolicy(FAKE_TIMETALK), prefix, FakeCalendar(), kind=kind)
        assert shape(again.events) == shape(reply.events)
        assert again.text == call.transcript[position].text


async def test_replaying_the_confirmation_books_the_same_slot_once():
    calendar = FakeCalendar()
    call = Conversation(RulesPolicy(FAKE_TIMETALK), calendar)
    await call.play(BOOKS_DE[:5])
    prefix = list(call.transcript)  # ... the offer, then the callee's "Ja, bitte."
    prefix.append(Turn("user", "Ja, bitte."))
    first = await respond(RulesPolicy(FAKE_TIMETALK), prefix, calendar, call_id="call-1")
    second = await respond(RulesPolicy(FAKE_TIMETALK), prefix, calendar, call_id="call-1")  # a reconnect
    booked = [arg for name, arg in calendar.calls if name == "book"]
    assert len(booked) == 2 and booked[0] == booked[1]
    assert booked[0].start == at(THU, 16, 30)
    assert first.result.booking.status == "booked" and second.result.booking.status == "already_booked"
    assert len(calendar.booked) == 1
    assert first.text == second.text and second.result.classification == "booked"
    assert [r.tool_call_id for r in first.records] == [r.tool_call_id for r in second.records]


async def test_the_offered_slot_is_read_back_from_the_agent_words_only():
    # The offer was spoken by another instance (or the LLM): only the words tell which slot it was.
    offer = phrases.say("offer_one", "de", slot=FAKE_TIMETALK.render(at(THU, 17), "de", NOW))
    transcript = [Turn("agent", "Guten Tag."), Turn("user", "Ja."), Turn("agent", offer), Turn("user", "Passt.")]
    state = rebuild(transcript, "de", NOW, FAKE_TIMETALK)
    assert state.stage == Stage.OFFER and state.offered == (at(THU, 17),)
    calendar = FakeCalendar()
    reply = await respond(RulesPolicy(FAKE_TIMETALK), transcript, calendar)
    assert [a.start for n, a in calendar.calls if n == "book"] == [at(THU, 17)]
    assert reply.result.classification == "booked"


async def test_a_two_slot_offer_reads_back_both_in_order():
    first, second = at(THU, 10), at(THU, 17)
    offer = phrases.say(
        "offer_two", "en", first=FAKE_TIMETALK.render(first, "en", NOW), second=FAKE_TIMETALK.render(second, "en", NOW)
    )
    state = rebuild([Turn("agent", "Some filler. " + offer)], "en", NOW, FAKE_TIMETALK)
    assert state.offered == (first, second) and state.stage == Stage.OFFER and state.utterance is None


def test_state_is_rebuilt_from_our_own_phrases():
    opening = " ".join(
        [
            phrases.say("opening", "de", company="Leadchain"),
            phrases.say("objection", "de"),
            phrases.say("identity", "de", name="Anna Weber"),
        ]
    )
    transcript = [
        Turn("agent", opening),
        Turn("user", "Ja."),
        Turn("agent", phrases.say("q_need", "de")),
        Turn("user", "Mehr Termine."),
        Turn("agent", phrases.say("clarify", "de", 1) + " " + phrases.say("q_timing", "de")),
        Turn("user", "Bitte nicht aufnehmen."),
        Turn("agent", phrases.say("reminder", "de", 0)),
        Turn("agent", phrases.say("reminder", "de", 1)),
    ]
    state = rebuild(transcript, "de", NOW, FAKE_TIMETALK)
    assert state.stage == Stage.Q_TIMING
    assert state.answers == {"need": "Mehr Termine."}  # the recording objection is no answer
    assert state.recording_declined and state.reminders == 2 and state.utterance is None
    assert state.asked == {"need": 1, "timing": 1, "decision_maker": 0}
    assert [s.key for s in recognise(opening)] == ["opening", "objection", "identity"]


def test_provider_typography_and_missing_final_punctuation_are_tolerated():
    text = phrases.say("offer_callback", "en").replace("'", "\u2019").rstrip("?") + "  "
    assert [s.key for s in recognise(text)] == ["offer_callback"]


def test_an_agent_turn_that_is_not_ours_opens_the_stage():
    state = rebuild([Turn("agent", "Hi! How can I help?"), Turn("user", "Yes")], "en", NOW, FAKE_TIMETALK)
    assert state.stage == Stage.OPEN and state.utterance == "Yes"


@pytest.mark.parametrize("language", ["de", "en"])
async def test_a_begin_after_a_reconnect_picks_up_the_pending_question(language):
    callee = ANNA if language == "de" else ANNE
    policy = RulesPolicy(FAKE_TIMETALK)
    call = Conversation(policy, FakeCalendar(), callee=callee)
    await call.play(["Ja." if language == "de" else "Yes."])
    reply = await respond(policy, call.transcript, FakeCalendar(), callee=callee, kind=TurnKind.BEGIN)
    assert reply.text == phrases.say("q_need", language)
