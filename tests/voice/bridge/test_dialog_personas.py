"""The sandbox's callee personas spoken to the rules policy: the sandbox says the callee lines one per turn,
in order, whatever the agent says (sandbox.retell_llm.converse), so each persona's lines must lead the
policy to the persona's outcome. Uses the real time-preference parser (voice.bridge.timeprefs via
default_timetalk) and the in-memory calendar (a test double of the CRM tools) with a slot every half day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sandbox.personas import PERSONAS
from tests.voice.bridge.test_dialog_support import CALLEES, NOW, Conversation, FakeCalendar, at
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.speech import has_goodbye
from voice.bridge.dialog.timetalk import default_timetalk


def roomy_calendar() -> FakeCalendar:
    days = [(NOW + timedelta(days=n)).date() for n in range(1, 29)]
    return FakeCalendar(free=[at(d, h, m) for d in days if d.weekday() < 5 for h, m in ((9, 30), (16, 30))])


@pytest.fixture(scope="module")
def policy() -> RulesPolicy:
    return RulesPolicy(default_timetalk())


@pytest.mark.parametrize("language", ["de", "en", "fr"])
@pytest.mark.parametrize("name", sorted(n for n, p in PERSONAS.items() if p.transcript["de"]))
async def test_persona_lines_lead_to_the_persona_outcome(policy, name, language):
    persona = PERSONAS[name]
    lines = [text for who, text in persona.transcript[language] if who == "callee"]
    calendar = roomy_calendar()
    call = Conversation(policy, calendar, callee=CALLEES[language])
    reply = await call.begin()
    for number, line in enumerate(lines):
        assert not reply.result.end_call, f"{name}: the call ended before line {number}: {line!r}"
        reply = await call.hear(line)
    assert reply.result.end_call and has_goodbye(reply.chunks[-1]), call.transcript
    assert reply.result.classification == persona.classification, call.transcript
    if persona.classification == "booked":
        assert len(calendar.booked) == 1 and len(reply.result.qualification) == 3
    if persona.classification == "do_not_call":
        assert calendar.opt_outs


DISCLOSURE = {
    "de": ("KI-System", "aufgezeichnet"),
    "en": ("AI system", "recorded"),
    "fr": ("intelligence artificielle", "enregistré"),
}


def test_the_agent_lines_of_the_personas_open_with_the_disclosure():
    for persona in PERSONAS.values():
        for language, turns in persona.transcript.items():
            if turns:
                who, first = turns[0]
                assert who == "agent"
                assert all(words in first for words in DISCLOSURE[language]), (persona.name, language, first)
