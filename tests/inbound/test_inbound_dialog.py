"""The inbound dialog (voice.bridge.dialog.inbound) in scripted calls against a TEST DOUBLE of the CRM tools
(FakeInboundTools: slots and appointments in memory): each intent ends as it should, in German, English and
French, with one change per change. The real tools and the real protocol are in test_inbound_personas.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from tests.voice.bridge.test_dialog_support import NOW, THU, FakeCalendar, at
from voice.bridge.dialog import phrases
from voice.bridge.dialog.inbound import DirectionPolicy, InboundPolicy
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.types import (
    Booking,
    Callee,
    CallerAppointment,
    InboundCaller,
    SlotChoice,
    SlotOffer,
    Speech,
    Turn,
    TurnDone,
    TurnKind,
    TurnRequest,
)
from voice.bridge.offers import satisfies

APPT = CallerAppointment(41, at(THU, 10), at(THU, 11), sequence=0)
SECOND = CallerAppointment(42, at(THU, 10) + timedelta(days=7), at(THU, 11) + timedelta(days=7), sequence=2)
DANA = Callee(lead_id=5, first_name="Dana", last_name="Weber", language="en")
JAN = Callee(lead_id=6, first_name="Jan", last_name="Berger", language="de")
CLAIRE = Callee(lead_id=7, first_name="Claire", last_name="Dubois", language="fr")


@dataclass
class FakeInboundTools(FakeCalendar):
    """TEST DOUBLE of the CRM tools with the inbound actions (voice.bridge.inbound_tools.InboundTools)."""

    answers: dict[str, str] = field(default_factory=dict)
    moved: list[tuple[int, object]] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    tasks: list[tuple[str, str]] = field(default_factory=list)
    outcomes: list[tuple[str, bool, bool]] = field(default_factory=list)

    async def move_slots(self, appointment: CallerAppointment, constraint) -> SlotOffer:
        free = [SlotChoice(s, s + timedelta(hours=1), 7) for s in self._open()]
        fits = [s for s in free if satisfies(constraint, s.start, s.end)]
        return SlotOffer(fits[0], (), wish_free=True) if fits else SlotOffer(None, tuple(free[:2]))

    async def move(self, appointment: CallerAppointment, slot: SlotChoice) -> Booking:
        if not any(a == appointment.appointment_id for a, _ in self.moved):
            self.moved.append((appointment.appointment_id, slot.start))
        await self.outcome("rescheduled")
        return Booking("booked", appointment.appointment_id, slot.start, slot.end)

    async def cancel(self, appointment: CallerAppointment) -> bool:
        if appointment.appointment_id not in self.cancelled:
            self.cancelled.append(appointment.appointment_id)
        await self.outcome("cancelled")
        return True

    async def knowledge(self, question: str) -> str | None:
        for word, answer in self.answers.items():
            if word in question.lower():
                return answer
        return None

    async def leave_task(self, kind: str, text: str) -> None:
        self.tasks.append((kind, text))

    async def outcome(self, outcome: str, *, needed_person: bool = False, callback_requested: bool = False) -> None:
        self.outcomes.append((outcome, needed_person, callback_requested))


@dataclass
class Call:
    policy: object
    tools: FakeInboundTools
    callee: Callee
    inbound: InboundCaller
    transcript: list[Turn] = field(default_factory=list)
    results: list = field(default_factory=list)

    async def turn(self, line: str | None, kind: TurnKind = TurnKind.RESPONSE) -> str:
        if line is not None:
            self.transcript.append(Turn("user", line))
        request = TurnRequest(
            call_id="in-1",
            provider="retell",
            kind=kind,
            transcript=tuple(self.transcript),
            callee=self.callee,
            now=NOW,
            company_name="Leadchain",
            inbound=self.inbound,
        )
        events = [e async for e in self.policy.respond(request, self.tools)]
        assert isinstance(events[-1], TurnDone) and sum(isinstance(e, TurnDone) for e in events) == 1
        text = "".join(e.text for e in events if isinstance(e, Speech)).strip()
        if text:
            self.transcript.append(Turn("agent", text))
        self.results.append(events[-1].result)
        return text

    async def play(self, lines: list[str]) -> str:
        said = await self.turn(None, TurnKind.BEGIN)
        for line in lines:
            assert not self.results[-1].end_call, f"the call ended before {line!r}"
            said = await self.turn(line)
        return said


def caller(**changes) -> InboundCaller:
    base = dict(number_id=3, greeting_name="Autohaus Berger", status="known", transfer_target="+498912345699")
    return InboundCaller(**{**base, **changes})


@pytest.fixture
def policy() -> DirectionPolicy:
    return DirectionPolicy(RulesPolicy(), InboundPolicy(RulesPolicy()))


async def test_greeting_names_the_number_discloses_the_ai_and_asks_the_intent(policy):
    for callee, language in ((JAN, "de"), (DANA, "en"), (CLAIRE, "fr")):
        call = Call(policy, FakeInboundTools(), callee, caller())
        said = await call.turn(None, TurnKind.BEGIN)
        assert said.startswith(phrases.say("in_greeting", language, company="Autohaus Berger"))
        assert phrases.say("in_ask_intent", language) in said
        assert callee.first_name in said


async def test_known_caller_moves_the_appointment_with_a_read_back(policy):
    tools = FakeInboundTools()
    call = Call(policy, tools, DANA, caller(appointments=(APPT,)))
    await call.play(["I need to move my appointment."])
    assert "Your appointment on Thursday" in call.transcript[-1].text
    await call.turn("Friday at 9:30 would be better.")
    assert "friday" in call.transcript[-1].text.lower() and not tools.moved  # offered, not moved yet
    said = await call.turn("Yes, please.")
    assert tools.moved == [(41, at(THU, 10) + timedelta(days=1, hours=-0.5))]
    assert call.results[-1].end_call and phrases.say("goodbye", "en") in said
    assert ("rescheduled", False, False) in tools.outcomes


async def test_known_caller_cancels_after_confirming_and_keeps_on_a_no(policy):
    tools = FakeInboundTools()
    call = Call(policy, tools, JAN, caller(appointments=(APPT, SECOND)))
    said = await call.play(["Ich muss meinen Termin absagen."])
    assert "Welchen Termin möchten Sie absagen" in said
    said = await call.turn("Den ersten bitte.")
    assert "absagen, ist das richtig?" in said and not tools.cancelled
    said = await call.turn("Ja, genau.")
    assert tools.cancelled == [41] and "ist abgesagt" in said
    said = await call.turn("Nein danke, das wars.")
    assert call.results[-1].end_call and phrases.say("goodbye", "de") in said
    assert [o for o, *_ in tools.outcomes] == ["cancelled"]
    # a "no" to the read-back keeps it
    tools2 = FakeInboundTools()
    call2 = Call(policy, tools2, JAN, caller(appointments=(APPT,)))
    await call2.play(["Ich möchte den Termin stornieren.", "Nein, doch nicht."])
    assert not tools2.cancelled and phrases.say("in_kept", "de") in call2.transcript[-1].text


async def test_question_from_the_knowledge_base_or_a_colleague_task(policy):
    tools = FakeInboundTools(answers={"open": "We are open Monday to Friday from 8 to 6."})
    call = Call(policy, tools, DANA, caller())
    said = await call.play(["When are you open?"])
    assert "Monday to Friday" in said and phrases.say("in_anything_else", "en") in said and not tools.tasks
    said = await call.turn("Do you sell bicycles?")
    assert phrases.say("in_ask_colleague", "en") in said
    assert tools.tasks == [("question", "Do you sell bicycles?")]


async def test_person_in_hours_is_transferred_and_after_hours_leaves_a_message(policy):
    tools = FakeInboundTools()
    call = Call(policy, tools, JAN, caller())
    await call.play(["Kann ich bitte mit einem Mitarbeiter sprechen?"])
    assert call.results[-1].transfer_number == "+498912345699"
    assert ("transferred", True, False) in tools.outcomes
    closed = FakeInboundTools()
    call = Call(policy, closed, JAN, caller(within_hours=False))
    said = await call.play(["Kann ich bitte mit einem Mitarbeiter sprechen?"])
    assert call.results[-1].transfer_number is None and phrases.say("in_ask_message", "de") in said
    said = await call.turn("Bitte rufen Sie mich zurück wegen der Rechnung.")
    assert closed.tasks == [("callback", "Bitte rufen Sie mich zurück wegen der Rechnung.")]
    assert ("message", False, True) in closed.outcomes and phrases.say("in_callback_promise", "de") in said


async def test_an_objector_is_served_and_a_message_without_callback_asks_for_none(policy):
    tools = FakeInboundTools()
    objector = Callee(lead_id=9, first_name="Otto", last_name="Nein", language="de", do_not_contact=True)
    call = Call(policy, tools, objector, caller(objected_to_calls=True, within_hours=False))
    said = await call.play(["Ich möchte eine Nachricht hinterlassen."])
    assert not call.results[-1].end_call and phrases.say("in_ask_message", "de") in said
    await call.turn("Die Unterlagen sind angekommen, danke. Kein Rückruf nötig.")
    assert tools.tasks[0][0] == "message" and ("message", False, False) in tools.outcomes


async def test_known_caller_books(policy):
    tools = FakeInboundTools()
    call = Call(policy, tools, DANA, caller())
    said = await call.play(["I'd like to book an appointment."])
    assert phrases.say("in_book_ask", "en") in said
    await call.turn("Thursday at 4:30 pm.")
    said = await call.turn("Yes, please.")
    assert list(tools.booked) == [at(THU, 16, 30)] and call.results[-1].end_call
    assert ("booked", False, False) in tools.outcomes


async def test_withheld_caller_is_asked_for_name_and_number(policy):
    tools = FakeInboundTools()
    call = Call(policy, tools, Callee(language="de"), caller(status="withheld"))
    said = await call.play(["Ich hätte gern einen Termin."])
    assert phrases.say("in_withheld_ask", "de") in said and not tools.booked
    await call.turn("Maria Huber, null eins sieben null, eins zwei drei vier fünf.")
    assert tools.tasks[0][0] == "callback"


async def test_french_caller_cancels(policy):
    tools = FakeInboundTools()
    call = Call(policy, tools, CLAIRE, caller(appointments=(APPT,)))
    said = await call.play(["Je voudrais annuler mon rendez-vous."])
    assert "c'est bien cela" in said
    await call.turn("Oui, c'est ça.")
    assert tools.cancelled == [41]


async def test_outbound_calls_keep_the_outbound_dialog(policy):
    call = Call(policy, FakeInboundTools(), JAN, caller())
    call.inbound = None  # type: ignore[assignment]
    said = await call.turn(None, TurnKind.BEGIN)
    assert phrases.say("in_ask_intent", "de") not in said and "Jan Berger" in said
