"""The rules policy in scripted conversations (German and English) against the in-memory calendar (a test
double of the CRM tools) and a phrasebook time parser (a test double of voice.bridge.timeprefs.parse)."""

from __future__ import annotations

import re

import pytest

from providers.events import CLASSIFICATIONS
from tests.voice.bridge.test_dialog_support import (
    ANNA,
    ANNE,
    FAKE_TIMETALK,
    FRI,
    NOW,
    THU,
    TUE,
    Conversation,
    FakeCalendar,
    at,
    respond,
)
from voice.bridge.dialog import phrases
from voice.bridge.dialog.rules import RulesPolicy, e164
from voice.bridge.dialog.speech import has_goodbye
from voice.bridge.dialog.types import Callee, Turn, TurnKind


@pytest.fixture
def policy() -> RulesPolicy:
    return RulesPolicy(FAKE_TIMETALK)


def callee_for(language: str) -> Callee:
    return ANNA if language == "de" else ANNE


LINES = {
    "books": {
        "de": [
            "Ja, am Apparat.",
            "Wir möchten unsere Terminvergabe automatisieren.",
            "Möglichst bald, noch in diesem Quartal.",
            "Das entscheide ich selbst.",
            "Gerne, nächsten Donnerstag ab 16 Uhr.",
            "Ja, bitte.",
        ],
        "en": [
            "Yes, speaking.",
            "We want to automate our scheduling.",
            "As soon as possible, this quarter.",
            "I decide that myself.",
            "Sure, next Thursday after 4 pm.",
            "Yes, please.",
        ],
    },
}


def assert_well_formed(conversation: Conversation) -> None:
    """Every response: sentence chunks; a goodbye whenever end_call; nothing after the call ended."""
    for number, reply in enumerate(conversation.replies):
        assert reply.chunks and all(chunk.strip() for chunk in reply.chunks)
        assert reply.result.text == reply.text
        assert reply.result.classification in (None, *CLASSIFICATIONS)
        if reply.result.end_call:
            assert has_goodbye(reply.chunks[-1]), reply.chunks
            assert number == len(conversation.replies) - 1


@pytest.mark.parametrize("language", ["de", "en"])
async def test_booked_after_three_questions(policy, language):
    calendar = FakeCalendar()
    call = Conversation(policy, calendar, callee=callee_for(language))
    lines = LINES["books"][language]
    await call.play(lines[:4])
    asked = [r.text for r in call.replies[1:4]]
    assert phrases.say("q_need", language) in asked[0]
    assert phrases.say("q_timing", language) in asked[1]
    assert phrases.say("q_decider", language) in asked[2]
    offer = await call.hear(lines[4])
    assert [s.start for s in offer.result.offered] == [at(THU, 16, 30)]
    assert ("16:30" if language == "de" else "4:30 pm") in offer.text
    done = await call.hear(lines[5])
    assert done.result.classification == "booked" and done.result.end_call
    assert done.result.booking.status == "booked"
    assert ("Bestätigung per E-Mail" if language == "de" else "confirmation by email") in done.text
    assert calendar.booked == {at(THU, 16, 30): 100}
    assert done.result.qualification == {"need": lines[1], "timing": lines[2], "decision_maker": lines[3]}
    assert calendar.qualification == done.result.qualification
    assert [n for n in calendar.names() if n == "record_qualification"] == ["record_qualification"] * 3
    assert_well_formed(call)


async def test_taken_slot_then_correction_then_booked(policy):
    calendar = FakeCalendar(taken={at(THU, 16, 30)})
    call = Conversation(policy, calendar)
    await call.play(["Ja, am Apparat.", "Gerne, nächsten Donnerstag ab 16 Uhr."])
    taken = await call.hear("Ja, bitte.")
    assert taken.text.startswith(phrases.say("taken", "de"))
    assert taken.result.booking.status == "taken" and not taken.result.end_call
    assert [s.start for s in taken.result.offered] == [at(THU, 17)]  # a fresh slot for the same wish
    corrected = await call.hear("Doch lieber Freitag vormittag.")
    assert [s.start for s in corrected.result.offered] == [at(FRI, 9, 30)]
    assert corrected.result.constraint.dates == (FRI,)  # the correction replaced the day
    done = await call.hear("Ja, bitte.")
    assert done.result.classification == "booked"
    assert list(calendar.booked) == [at(FRI, 9, 30)]
    assert_well_formed(call)


async def test_no_free_wish_names_the_reason_asks_and_offers_alternatives_only_after_yes(policy):
    # Nothing free on Thursday after 4 pm: the agent says so (not "nothing is free" followed by other
    # slots), asks whether to name other times, and only after a yes offers two, said as alternatives.
    calendar = FakeCalendar(free=[at(TUE, 9), at(TUE, 14), at(FRI, 11)])
    call = Conversation(policy, calendar, callee=ANNE)
    asked = await call.play(["Yes, speaking.", "Sure, next Thursday after 4 pm."])
    assert asked.text == f"{phrases.say('wish_unavailable', 'en')} {phrases.say('alternatives_ask', 'en')}"
    assert asked.result.offered == () and not asked.result.end_call
    offer = await call.hear("Yes, please.")
    alternatives = phrases.say(
        "alt_two_other",
        "en",
        first=FAKE_TIMETALK.render(at(TUE, 9), "en", NOW),
        second=FAKE_TIMETALK.render(at(TUE, 14), "en", NOW),
    )
    assert offer.text == alternatives
    assert [s.start for s in offer.result.offered] == [at(TUE, 9), at(TUE, 14)]
    done = await call.hear("The second one, please.")
    assert done.result.classification == "booked" and list(calendar.booked) == [at(TUE, 14)]
    booked = [slot for name, slot in calendar.calls if name == "book"]
    assert [(s.start, s.matches) for s in booked] == [(at(TUE, 14), False)]  # recorded as not matching the wish
    assert_well_formed(call)


async def test_no_to_the_alternatives_question_asks_for_another_time(policy):
    calendar = FakeCalendar(free=[at(TUE, 9), at(TUE, 14)])
    call = Conversation(policy, calendar, callee=ANNE)
    await call.play(["Yes, speaking.", "Sure, next Thursday after 4 pm."])
    reply = await call.hear("No.")
    assert reply.text == phrases.say("ask_time", "en") and not reply.result.end_call
    assert reply.result.offered == () and "book" not in calendar.names()


async def test_declined_offer_asks_for_another_time(policy):
    call = Conversation(policy, FakeCalendar())
    await call.play(["Ja, am Apparat.", "Gerne, nächsten Donnerstag ab 16 Uhr."])
    reply = await call.hear("Nein, das passt mir nicht.")
    assert reply.text == phrases.say("ask_time", "de") and not reply.result.end_call


@pytest.mark.parametrize("language,line", [("de", "Nein danke, kein Interesse."), ("en", "No thanks, not interested.")])
async def test_not_interested(policy, language, line):
    call = Conversation(policy, FakeCalendar(), callee=callee_for(language))
    reply = await call.play([line])
    assert reply.result.classification == "not_interested" and reply.result.end_call
    assert_well_formed(call)


@pytest.mark.parametrize(
    "language,line",
    [
        ("de", "Gerade schlecht, rufen Sie mich morgen Vormittag nochmal an."),
        ("en", "Bad time, call me back tomorrow morning."),
    ],
)
async def test_callback_with_time_preference_and_no_booking(policy, language, line):
    calendar = FakeCalendar()
    call = Conversation(policy, calendar, callee=callee_for(language))
    reply = await call.play([line])
    assert reply.result.classification == "callback_requested" and reply.result.end_call
    assert reply.result.constraint.dates == (TUE,)
    assert "book" not in calendar.names() and "find_slots" not in calendar.names()
    assert_well_formed(call)


@pytest.mark.parametrize(
    "line", ["Rufen Sie mich nie wieder an!", "Bitte keine Anrufe mehr.", "Stop calling me.", "Take me off your list."]
)
async def test_do_not_call_at_the_first_answer(policy, line):
    calendar = FakeCalendar()
    call = Conversation(policy, calendar)
    reply = await call.play([line])
    assert calendar.names() == ["record_opt_out"]
    assert reply.records[0].name == "record_opt_out" and reply.records[0].successful
    assert reply.events.index(reply.records[0]) == 0  # recorded before a word is said
    assert reply.result.classification == "do_not_call" and reply.result.end_call
    assert_well_formed(call)


@pytest.mark.parametrize(
    "language,line",
    [("de", "Wissen Sie was, rufen Sie mich nie wieder an."), ("en", "You know what, never call me again.")],
)
async def test_do_not_call_mid_qualification(policy, language, line):
    calendar = FakeCalendar()
    call = Conversation(policy, calendar, callee=callee_for(language))
    reply = await call.play(LINES["books"][language][:2] + [line])
    assert calendar.names() == ["record_qualification", "record_opt_out"]
    assert reply.result.classification == "do_not_call" and reply.result.end_call
    assert reply.result.qualification == {"need": LINES["books"][language][1]}


async def test_opt_out_is_still_confirmed_when_the_tool_times_out(policy):
    calendar = FakeCalendar(timeouts={"record_opt_out"})
    reply = await Conversation(policy, calendar).play(["Rufen Sie mich nie wieder an!"])
    assert not reply.records[0].successful and reply.result.classification == "do_not_call"
    assert reply.result.end_call and phrases.say("opted_out", "de") in reply.text


@pytest.mark.parametrize(
    "language,line",
    [
        ("de", "Da sind Sie falsch, hier gibt es keinen Herrn Weber."),
        ("de", "Falsch verbunden."),
        ("en", "Wrong number, there's nobody of that name here."),
    ],
)
async def test_wrong_number(policy, language, line):
    call = Conversation(policy, FakeCalendar(), callee=callee_for(language))
    reply = await call.play([line])
    assert reply.result.classification == "wrong_number" and reply.result.end_call
    assert reply.chunks[0].strip() == phrases.say("wrong_number", language)
    assert_well_formed(call)


@pytest.mark.parametrize("language", ["de", "en"])
async def test_two_reminders_then_goodbye_and_end_call(policy, language):
    call = Conversation(policy, FakeCalendar(), callee=callee_for(language))
    await call.play(LINES["books"][language][:1])
    first = await call.hear(None)
    second = await call.hear(None)
    third = await call.hear(None)
    assert first.text in phrases.variants("reminder", language)
    assert second.text in phrases.variants("reminder", language) and second.text != first.text
    assert not first.result.end_call and not second.result.end_call
    assert third.result.end_call and third.result.intent == "silence" and has_goodbye(third.chunks[-1])
    assert phrases.say("q_need", language) not in first.text + second.text  # a re-prompt, not a new pitch
    assert_well_formed(call)


async def test_reminders_are_counted_when_the_provider_merges_agent_turns(policy):
    opening = (await respond(policy, [], FakeCalendar(), kind=TurnKind.BEGIN)).text
    merged = f"{opening} {phrases.say('reminder', 'de', 0)} {phrases.say('reminder', 'de', 1)}"
    reply = await respond(policy, [Turn("agent", merged)], FakeCalendar(), kind=TurnKind.REMINDER)
    assert reply.result.end_call


async def test_a_user_turn_resets_the_reminder_count(policy):
    call = Conversation(policy, FakeCalendar())
    await call.play([None, "Ja, am Apparat.", None])
    assert not call.replies[-1].result.end_call
    assert call.replies[-1].text == phrases.say("reminder", "de", 0)


@pytest.mark.parametrize("language", ["de", "en"])
async def test_find_slots_timeout_falls_back_to_email(policy, language):
    calendar = FakeCalendar(timeouts={"find_slots"})
    reply = await Conversation(policy, calendar, callee=callee_for(language)).play(
        [LINES["books"][language][0], LINES["books"][language][4]]
    )
    assert reply.result.classification == "interested" and reply.result.end_call
    assert not reply.records[0].successful
    assert phrases.say("fallback_proposal", language) in reply.text


@pytest.mark.parametrize("language", ["de", "en"])
async def test_booking_timeout_falls_back_to_confirming_by_email(policy, language):
    calendar = FakeCalendar(timeouts={"book"})
    call = Conversation(policy, calendar, callee=callee_for(language))
    reply = await call.play([LINES["books"][language][0], LINES["books"][language][4], LINES["books"][language][5]])
    assert reply.result.classification == "interested" and reply.result.end_call
    expected = "Ich bestätige Ihnen den Termin per E-Mail." if language == "de" else phrases.say("fallback_mail", "en")
    assert reply.chunks[0].strip() == expected
    assert_well_formed(call)


@pytest.mark.parametrize(
    "number,expected",
    [("+49 30 1234567", "+49301234567"), ("030 1234567", "+49301234567"), ("0049 (30) 123-4567", "+49301234567")],
)
async def test_transfer_to_a_human_with_an_e164_number(policy, number, expected):
    call = Conversation(policy, FakeCalendar(), transfer_number=number)
    await call.play(["Ja, am Apparat.", "Wir möchten unsere Terminvergabe automatisieren."])
    reply = await call.hear("Kann ich mit einem Menschen sprechen?")
    assert reply.result.transfer_number == expected and reply.result.intent == "transfer"
    assert reply.text == phrases.say("transfer", "de")
    assert "Anna Weber (Weber GmbH)" in reply.result.transfer_summary
    assert "Terminvergabe" in reply.result.transfer_summary


async def test_transfer_without_a_number_offers_a_callback(policy):
    call = Conversation(policy, FakeCalendar(), callee=ANNE, transfer_number="not a number")
    offer = await call.play(["Yes, speaking.", "Can I talk to a person?"])
    assert offer.result.transfer_number is None
    assert phrases.say("offer_callback", "en") in offer.text
    done = await call.hear("Yes, please.")
    assert done.result.classification == "callback_requested" and done.result.end_call


def test_e164():
    assert e164("+1 212 555 0100") is None or e164("+1 212 555 0100").startswith("+1")
    assert e164("") is None and e164(None) is None and e164("12") is None


@pytest.mark.parametrize(
    "language,line", [("de", "Ja, aber bitte nicht aufnehmen."), ("en", "Yes, but don't record this.")]
)
async def test_recording_declined_is_acknowledged_and_flagged_on_later_turns(policy, language, line):
    call = Conversation(policy, FakeCalendar(), callee=callee_for(language))
    reply = await call.play([line])
    assert reply.chunks[0].strip() == phrases.say("no_recording", language)
    assert reply.result.recording_declined
    assert (
        phrases.say("identity", language, name=callee_for(language).first_name + " " + callee_for(language).last_name)
        in reply.text
    )  # the question is asked again
    later = await call.hear(LINES["books"][language][0])
    assert later.result.recording_declined and phrases.say("q_need", language) in later.text


async def test_interest_in_material_ends_as_interested(policy):
    reply = await Conversation(policy, FakeCalendar()).play(
        ["Ja, das bin ich.", "Klingt interessant, schicken Sie mir bitte Unterlagen."]
    )
    assert reply.result.classification == "interested" and reply.result.end_call


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "?!",
        "x" * 20000,
        "Bonjour, je ne comprends pas.",
        "ääääh",
        "\x00\n\t",
        "null eins sieben " * 500,
        "ja " * 3000,
    ],
)
async def test_garbage_never_crashes(policy, garbage):
    call = Conversation(policy, FakeCalendar())
    await call.begin()
    for _ in range(4):
        if call.replies[-1].result.end_call:
            break
        await call.hear(garbage)
    assert_well_formed(call)


async def test_repeated_unclear_input_ends_politely(policy):
    call = Conversation(policy, FakeCalendar())
    await call.play(["", "", ""])
    texts = [r.text for r in call.replies[1:3]]
    assert all(phrases.say("identity", "de", name="Anna Weber") in t for t in texts)
    assert texts[0] != texts[1]  # different wording each time
    assert call.replies[-1].result.end_call and call.replies[-1].result.intent == "unclear"


async def test_a_tool_that_raises_is_a_fallback_not_a_crash(policy):
    class Broken(FakeCalendar):
        async def find_slots(self, constraint):
            raise RuntimeError("database down")

    reply = await Conversation(policy, Broken()).play(["Ja, am Apparat.", "Gerne, nächsten Donnerstag ab 16 Uhr."])
    assert reply.result.end_call and reply.result.classification == "interested"


async def test_after_the_goodbye_only_a_goodbye(policy):
    call = Conversation(policy, FakeCalendar())
    await call.play(["Nein danke, kein Interesse."])
    reply = await respond(policy, [*call.transcript, Turn("user", "Hallo?")], FakeCalendar())
    assert reply.result.end_call and reply.text == phrases.say("goodbye", "de")


async def test_speech_comes_one_sentence_per_chunk(policy):
    reply = await Conversation(policy, FakeCalendar()).play(["Ja, am Apparat."])
    assert len(reply.chunks) == 3
    assert all(len(re.findall(r"[.!?](?:\s|$)", c.strip())) == 1 for c in reply.chunks)


@pytest.mark.parametrize(
    "language,ai,recorded,objection,question",
    [
        (
            "de",
            "KI-System im Auftrag von Leadchain",
            "Gespräch wird aufgezeichnet",
            "keine Anrufe mehr wünschen",
            "Spreche ich mit Anna Weber?",
        ),
        (
            "en",
            "AI system calling on behalf of Leadchain",
            "call is recorded",
            "don't want any more calls",
            "Am I speaking with Anne Walker?",
        ),
    ],
)
async def test_begin_discloses_ai_and_recording_in_the_first_sentence(
    policy, language, ai, recorded, objection, question
):
    reply = await respond(policy, [], FakeCalendar(), callee=callee_for(language), kind=TurnKind.BEGIN)
    first, second, third = (c.strip() for c in reply.chunks)
    assert ai in first and recorded in first  # EU AI Act 50(1), § 201 StGB: the first sentence
    assert objection in second  # P13: an opt-out offered at once
    assert third == question and not reply.result.end_call
    assert phrases.pattern("opening", language).search(first)


@pytest.mark.parametrize(
    "language,said",
    [("en", "You can reach us at +1 415-555-0100."), ("de", "Sie erreichen uns unter +49 30 23125100.")],
)
async def test_begin_gives_the_callback_number_before_asking_for_the_person(policy, language, said):
    number = "+14155550100" if language == "en" else "+493023125100"
    reply = await respond(
        policy, [], FakeCalendar(), callee=callee_for(language), kind=TurnKind.BEGIN, callback_number=number
    )
    chunks = [c.strip() for c in reply.chunks]
    assert chunks[2] == said and len(chunks) == 4  # TCPA (docs/compliance.md §P13): caller ID and a callback number
    # The state read back from the transcript still knows the opening is done and what was asked.
    answer = await respond(
        policy,
        [Turn("agent", " ".join(chunks)), Turn("user", "Yes, speaking." if language == "en" else "Ja, am Apparat.")],
        FakeCalendar(),
        callee=callee_for(language),
        callback_number=number,
    )
    assert not answer.result.end_call and answer.result.intent == "identity_confirmed"
    invalid = await respond(
        policy, [], FakeCalendar(), callee=callee_for(language), kind=TurnKind.BEGIN, callback_number="12"
    )
    assert len(invalid.chunks) == 3


async def test_begin_without_a_name_and_for_a_blocked_lead(policy):
    anonymous = await respond(policy, [], FakeCalendar(), callee=Callee(language="en"), kind=TurnKind.BEGIN)
    assert anonymous.chunks[-1].strip() == phrases.say("identity_anon", "en")
    blocked = await respond(
        policy, [], FakeCalendar(), callee=Callee(first_name="A", do_not_contact=True), kind=TurnKind.BEGIN
    )
    assert "KI-System" in blocked.chunks[0] and blocked.result.end_call
    assert blocked.result.classification == "do_not_call" and has_goodbye(blocked.chunks[-1])
