"""Turns that are not a time wish, answered after "when would suit you?" (issue 15 item 3), in German and
English, through whole scripted calls: a callback with a stated window, a deferral (booking link or callback,
then a polite end), an open answer (the best slots are offered), a hedged opt-out (asked, then recorded or
not), a question (answered, then the question again)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.voice.bridge.test_dialog_support import (
    _REAL,
    ANNA,
    ANNE,
    NOW,
    TUE,
    Conversation,
    FakeCalendar,
    at,
    phrasebook_parse,
)
from voice.bridge.dialog import phrases
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.speech import has_goodbye
from voice.bridge.dialog.timetalk import TimeTalk
from voice.bridge.timeprefs.constraint import TimeConstraint

END_OF_FEBRUARY = TimeConstraint(date_from=date(2031, 2, 20), date_to=date(2031, 2, 28))
# The callback windows said in these calls, as the time parser gives them (a test double of
# voice.bridge.timeprefs.parse, like test_dialog_support's phrasebook).
WINDOWS = {
    "melden sie sich ende februar wieder": END_OF_FEBRUARY,
    "call me back at the end of february": END_OF_FEBRUARY,
}


def parse(text: str, language: str, now):
    found = WINDOWS.get(" ".join(text.lower().split()))
    return found if found is not None else phrasebook_parse(text, language, now)


TIMETALK = TimeTalk(parse=parse, render=_REAL.render, read_back=_REAL.read_back)
TO_PROPOSE = {  # the callee confirms and answers the three questions: the agent then asks when
    "de": ["Ja, am Apparat.", "Unsere Terminvergabe.", "Bald.", "Das entscheide ich selbst."],
    "en": ["Yes, speaking.", "Our scheduling.", "Soon.", "I decide that myself."],
}


@pytest.fixture
def policy() -> RulesPolicy:
    return RulesPolicy(TIMETALK)


async def at_propose(policy, language: str, calendar: FakeCalendar | None = None) -> Conversation:
    call = Conversation(policy, calendar or FakeCalendar(), callee=ANNA if language == "de" else ANNE)
    reply = await call.play(TO_PROPOSE[language])
    assert reply.chunks[-1].strip() == phrases.say("propose_ask", language)
    return call


def ended_politely(reply, language: str) -> bool:
    return reply.result.end_call and has_goodbye(reply.chunks[-1]) and phrases.say("goodbye", language) in reply.text


@pytest.mark.parametrize(
    "language,line",
    [("de", "melden sie sich ende februar wieder"), ("en", "call me back at the end of february")],
)
async def test_callback_with_a_window_records_the_window_and_offers_nothing(policy, language, line):
    calendar = FakeCalendar()
    call = await at_propose(policy, language, calendar)
    reply = await call.hear(line)
    assert reply.result.intent == "callback" and reply.result.classification == "callback_requested"
    assert reply.result.constraint == END_OF_FEBRUARY  # the window the caller said, for the callback task
    assert reply.chunks[0].strip() == phrases.say("callback_at", language)
    assert ended_politely(reply, language)
    assert "find_slots" not in calendar.names() and "book" not in calendar.names()


@pytest.mark.parametrize(
    "language,line",
    [("de", "rufen sie nach den feiertagen nochmal an"), ("en", "try me again next month")],
)
async def test_callback_without_a_window_the_parser_reads_is_still_a_callback(policy, language, line):
    calendar = FakeCalendar()
    call = await at_propose(policy, language, calendar)
    reply = await call.hear(line)
    assert reply.result.classification == "callback_requested" and reply.result.constraint is None
    assert reply.chunks[0].strip() == phrases.say("callback_later", language)
    assert "find_slots" not in calendar.names()


@pytest.mark.parametrize(
    "language,deferral,choice,ending,intent",
    [
        ("de", "ich schau mal und melde mich", "per mail bitte", "link_sent", "booking_link"),
        ("en", "i'd have to check my calendar first", "yeah email me the link", "link_sent", "booking_link"),
        ("de", "da muss ich erst in meinen kalender schauen", "rufen sie mich lieber an", "callback_later", "callback"),
        ("en", "let me get back to you on that", "just call me later", "callback_later", "callback"),
        ("de", "weiß ich grad nicht", "nein danke weder noch", "not_interested", "decline"),
    ],
)
async def test_deferral_offers_a_link_or_a_callback_then_ends_politely(
    policy, language, deferral, choice, ending, intent
):
    calendar = FakeCalendar()
    call = await at_propose(policy, language, calendar)
    offer = await call.hear(deferral)
    assert offer.text == phrases.say("deferral_offer", language) and not offer.result.end_call
    assert offer.result.intent == "deferral"
    reply = await call.hear(choice)
    assert reply.result.intent == intent
    assert reply.chunks[0].strip() == phrases.say(ending, language)
    assert ended_politely(reply, language)
    assert reply.result.classification in ("interested", "callback_requested")
    assert "find_slots" not in calendar.names()


async def test_an_unclear_answer_to_the_deferral_offer_is_asked_again(policy):
    call = await at_propose(policy, "de")
    await call.hear("ich schau mal und melde mich")
    reply = await call.hear("hm")
    assert reply.chunks[0].strip() == phrases.say("clarify", "de")
    assert reply.chunks[-1].strip() == phrases.say("deferral_offer", "de") and not reply.result.end_call


@pytest.mark.parametrize("language,line", [("de", "egal schlagen sie was vor"), ("en", "any time really")])
async def test_open_answer_offers_the_best_slots_and_the_first_is_booked(policy, language, line):
    calendar = FakeCalendar()
    call = await at_propose(policy, language, calendar)
    reply = await call.hear(line)
    assert reply.result.intent == "open_answer"
    assert [s.start for s in reply.result.offered] == [at(TUE, 9), at(TUE, 14)]  # the calendar's first two
    slots = {name: _REAL.render(at(TUE, h), language, NOW) for name, h in (("first", 9), ("second", 14))}
    assert reply.text == phrases.say("offer_two", language, **slots)
    booked = await call.hear("ja gerne" if language == "de" else "yes please")
    assert booked.result.classification == "booked" and calendar.booked == {at(TUE, 9): 100}


@pytest.mark.parametrize(
    "language,line,answer,recorded",
    [
        ("en", "not interested in calls like this", "yes please", True),
        ("de", "solche anrufe mag ich eigentlich gar nicht", "ja bitte", True),
        ("en", "i really don't like getting these calls", "no that's fine", False),
        ("de", "also ich hab kein interesse an solchen anrufen", "nein das nicht", False),
    ],
)
async def test_a_hedged_opt_out_is_asked_about_before_anything_else(policy, language, line, answer, recorded):
    calendar = FakeCalendar()
    call = await at_propose(policy, language, calendar)
    asked = await call.hear(line)
    assert asked.text == phrases.say("ask_remove", language) and not asked.result.end_call
    assert asked.result.intent == "opt_out_unsure" and "record_opt_out" not in calendar.names()
    reply = await call.hear(answer)
    assert ("record_opt_out" in calendar.names()) == recorded
    assert reply.result.classification == ("do_not_call" if recorded else "not_interested")
    assert ended_politely(reply, language)


@pytest.mark.parametrize("language,line", [("de", "ruf mich nie wieder an"), ("en", "put me on your do-not-call list")])
async def test_informal_and_hyphenated_opt_outs_mid_qualification_are_recorded(policy, language, line):
    calendar = FakeCalendar()
    call = Conversation(policy, calendar, callee=ANNA if language == "de" else ANNE)
    reply = await call.play(TO_PROPOSE[language][:2] + [line])
    assert calendar.names()[-1] == "record_opt_out" and reply.events.index(reply.records[-1]) == 0
    assert reply.result.classification == "do_not_call" and ended_politely(reply, language)


@pytest.mark.parametrize(
    "language,line,key",
    [
        ("de", "was kostet das denn", "question_later"),
        ("en", "how long would the meeting take", "question_later"),
        ("de", "äh wer sind sie nochmal", "question_who"),
        ("en", "wait who did you say you were", "question_who"),
    ],
)
async def test_a_question_is_answered_and_the_pending_question_asked_again(policy, language, line, key):
    calendar = FakeCalendar()
    call = await at_propose(policy, language, calendar)
    reply = await call.hear(line)
    assert reply.result.intent == "question" and not reply.result.end_call
    assert reply.chunks[0].strip() == phrases.say(key, language, company="Leadchain")
    assert reply.chunks[-1].strip() == phrases.say("propose_ask", language)
    assert "find_slots" not in calendar.names()
