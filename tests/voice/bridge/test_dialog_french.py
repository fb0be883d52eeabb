"""The rules policy speaking French (issue 15 item 5), through whole scripted calls with the real time parser
(voice.bridge.timeprefs, which reads French) and the in-memory calendar (a test double of the CRM tools): the
opening's AI and recording disclosure, opt-outs formal and informal, a hedged opt-out, a wrong person, a
callback with and without a window, a deferral, an open answer, a question and a time wish. The words
checked are the French catalogue's (crm/locales/fr/LC_MESSAGES/bridge.po), read through phrases.say; the
out-of-hours wish in French is in test_offer_dialog.py, over the real CRM tools."""

from __future__ import annotations

from datetime import date

import pytest

from tests.voice.bridge.test_dialog_support import CLAIRE, NOW, TUE, Conversation, FakeCalendar, at
from voice.bridge.dialog import phrases
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.speech import has_goodbye
from voice.bridge.dialog.timetalk import default_timetalk

FR = "fr"
TO_PROPOSE = ["Oui, c'est moi.", "Notre prise de rendez-vous.", "Bientôt.", "C'est moi qui décide."]
TIMETALK = default_timetalk()


@pytest.fixture
def policy() -> RulesPolicy:
    return RulesPolicy()  # the real parser and slot wording


async def at_propose(policy, calendar: FakeCalendar) -> Conversation:
    call = Conversation(policy, calendar, callee=CLAIRE)
    reply = await call.play(TO_PROPOSE)
    assert reply.chunks[-1].strip() == phrases.say("propose_ask", FR)
    return call


def ended_politely(reply) -> bool:
    return reply.result.end_call and has_goodbye(reply.chunks[-1]) and phrases.say("goodbye", FR) in reply.text


async def test_the_opening_discloses_the_ai_and_the_recording_and_qualifies_in_french(policy):
    calendar = FakeCalendar()
    call = Conversation(policy, calendar, callee=CLAIRE)
    begin = await call.begin()
    assert begin.chunks[0].strip() == phrases.say("opening", FR, company="Leadchain")
    assert "intelligence artificielle" in begin.chunks[0] and "enregistré" in begin.chunks[0]
    assert begin.chunks[-1].strip() == phrases.say("identity", FR, name="Claire Dubois")
    replies = [await call.hear(line) for line in TO_PROPOSE]
    assert phrases.say("q_need", FR) in replies[0].text  # the need, not a wish for a meeting
    assert phrases.say("q_timing", FR) in replies[1].text and phrases.say("q_decider", FR) in replies[2].text
    assert calendar.qualification["need"] == "Notre prise de rendez-vous."
    assert "find_slots" not in calendar.names()


@pytest.mark.parametrize(
    "line", ["ne m'appelle plus", "Ne m'appelez plus jamais !", "retirez mon numéro", "je suis sur liste rouge"]
)
async def test_opt_outs_formal_and_informal_are_recorded_before_a_word_is_said(policy, line):
    calendar = FakeCalendar()
    call = Conversation(policy, calendar, callee=CLAIRE)
    reply = await call.play(TO_PROPOSE[:2] + [line])
    assert calendar.names()[-1] == "record_opt_out" and reply.events.index(reply.records[-1]) == 0
    assert reply.chunks[0].strip() == phrases.say("opted_out", FR)
    assert reply.result.classification == "do_not_call" and ended_politely(reply)


@pytest.mark.parametrize("answer,recorded", [("oui", True), ("non c'est bon", False)])
async def test_a_hedged_opt_out_is_asked_about_first(policy, answer, recorded):
    calendar = FakeCalendar()
    call = await at_propose(policy, calendar)
    asked = await call.hear("j'aime pas trop ce genre d'appels")
    assert asked.text == phrases.say("ask_remove", FR) and "record_opt_out" not in calendar.names()
    reply = await call.hear(answer)
    assert ("record_opt_out" in calendar.names()) == recorded
    assert reply.result.classification == ("do_not_call" if recorded else "not_interested")
    assert ended_politely(reply)


async def test_a_wrong_person_ends_with_an_apology(policy):
    call = Conversation(policy, FakeCalendar(), callee=CLAIRE)
    reply = await call.play(["Non, vous faites erreur."])
    assert reply.chunks[0].strip() == phrases.say("wrong_number", FR)
    assert reply.result.classification == "wrong_number" and ended_politely(reply)


async def test_a_callback_with_a_window_keeps_the_window_and_offers_nothing(policy):
    calendar = FakeCalendar()
    call = await at_propose(policy, calendar)
    reply = await call.hear("rappelez-moi fin février")
    assert reply.result.intent == "callback" and reply.result.classification == "callback_requested"
    # The window the caller said, for the callback task: the same as the German "Ende Februar".
    german = TIMETALK.preference("Ende Februar", "de", NOW)
    assert german is not None and reply.result.constraint is not None
    assert (reply.result.constraint.date_from, reply.result.constraint.date_to) == (german.date_from, german.date_to)
    assert reply.result.constraint.date_to == date(2031, 2, 28)
    assert reply.chunks[0].strip() == phrases.say("callback_at", FR) and ended_politely(reply)
    assert "find_slots" not in calendar.names() and "book" not in calendar.names()


async def test_a_callback_without_a_window_is_still_a_callback(policy):
    calendar = FakeCalendar()
    call = await at_propose(policy, calendar)
    reply = await call.hear("vous pouvez me rappeler un autre jour")
    assert reply.result.classification == "callback_requested" and reply.result.constraint is None
    assert reply.chunks[0].strip() == phrases.say("callback_later", FR) and ended_politely(reply)
    assert "find_slots" not in calendar.names()


@pytest.mark.parametrize(
    "deferral,choice,ending,intent",
    [
        ("je dois regarder mon agenda", "envoyez-moi le lien par mail", "link_sent", "booking_link"),
        ("il faut que je vérifie mon agenda d'abord", "rappelez-moi plutôt", "callback_later", "callback"),
    ],
)
async def test_a_deferral_offers_a_link_or_a_callback_then_ends_politely(policy, deferral, choice, ending, intent):
    calendar = FakeCalendar()
    call = await at_propose(policy, calendar)
    offer = await call.hear(deferral)
    assert offer.text == phrases.say("deferral_offer", FR) and offer.result.intent == "deferral"
    assert not offer.result.end_call
    reply = await call.hear(choice)
    assert reply.result.intent == intent and reply.chunks[0].strip() == phrases.say(ending, FR)
    assert ended_politely(reply) and "find_slots" not in calendar.names()


async def test_an_open_answer_gets_the_best_slots_in_french_and_the_first_is_booked(policy):
    calendar = FakeCalendar()
    call = await at_propose(policy, calendar)
    reply = await call.hear("quand vous voulez")
    assert reply.result.intent == "open_answer"
    assert [s.start for s in reply.result.offered] == [at(TUE, 9), at(TUE, 14)]
    slots = {name: TIMETALK.render(at(TUE, h), FR, NOW) for name, h in (("first", 9), ("second", 14))}
    assert slots["first"] == "mardi 17 décembre à 9 h"  # timeprefs.speak's French wording
    assert reply.text == phrases.say("offer_two", FR, **slots)
    booked = await call.hear("oui volontiers")
    assert booked.result.classification == "booked" and calendar.booked == {at(TUE, 9): 100}
    assert booked.chunks[0].strip() == phrases.say("booked", FR, slot=slots["first"])


@pytest.mark.parametrize("line,key", [("c'est qui au juste", "question_who"), ("combien ça coûte", "question_later")])
async def test_a_question_is_answered_and_the_pending_question_asked_again(policy, line, key):
    calendar = FakeCalendar()
    call = await at_propose(policy, calendar)
    reply = await call.hear(line)
    assert reply.result.intent == "question" and not reply.result.end_call
    assert reply.chunks[0].strip() == phrases.say(key, FR, company="Leadchain")
    assert reply.chunks[-1].strip() == phrases.say("propose_ask", FR)


async def test_a_time_wish_in_french_is_offered_read_back_and_booked(policy):
    calendar = FakeCalendar()
    call = await at_propose(policy, calendar)
    reply = await call.hear("mardi à 14 heures")
    assert reply.text == phrases.say("offer_one", FR, slot=TIMETALK.render(at(TUE, 14), FR, NOW))
    done = await call.hear("oui c'est parfait")
    assert done.result.classification == "booked" and list(calendar.booked) == [at(TUE, 14)]
    (booking,) = [slot for name, slot in calendar.calls if name == "book"]
    assert booking.matches is True  # the slot satisfied what the caller said
