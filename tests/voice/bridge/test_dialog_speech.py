"""Sentence chunking of streamed text, and the time-talk adapter (the basic stand-ins for timeprefs and the
signature adapter that calls timeprefs' functions)."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.voice.bridge.test_dialog_support import FRI, NOW, THU, at
from voice.bridge.dialog.speech import SentenceSplitter, has_goodbye, split_sentences
from voice.bridge.dialog.timetalk import _adapt, basic_read_back, basic_render, default_timetalk


def test_streamed_text_is_cut_at_sentence_ends_only():
    splitter = SentenceSplitter()
    out = []
    for piece in [
        "Ein freier Termin wäre am Donnerstag, den 19",
        ". Dezember, um 16:30 Uhr",
        ", passt Ihnen das? Ich",
        " warte z. B. kurz.",
    ]:
        out += splitter.feed(piece)
    assert out == ["Ein freier Termin wäre am Donnerstag, den 19. Dezember, um 16:30 Uhr, passt Ihnen das? "]
    assert splitter.flush() == "Ich warte z. B. kurz. "
    assert splitter.flush() is None


def test_a_long_run_without_a_full_stop_is_cut_at_a_clause():
    long = "Wir haben " + "sehr " * 30 + "viele Termine, die frei sind und die ich Ihnen nennen kann"
    pieces = split_sentences(long)
    assert len(pieces) == 2 and pieces[0].endswith(", ")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Auf Wiederhören!", True),
        ("Thank you and goodbye!", True),
        ("Bye.", True),
        ("Einen schönen Tag.", False),
        ("", False),
    ],
)
def test_goodbye_detection(text, expected):
    assert has_goodbye(text) is expected


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_basic_renderer_reads_back(language):
    starts = [at(THU, 16, 30), at(FRI, 9)]
    text = " oder ".join(basic_render(s, language, NOW) for s in starts)
    assert basic_read_back(text, language, NOW) == starts


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_default_timetalk_round_trips_slots_and_parses(language):
    talk = default_timetalk()
    starts = [at(THU, 16, 30), at(FRI, 9)]
    text = " / ".join(talk.render(s, language, NOW) for s in starts)
    assert talk.slots_in(text, language, NOW) == starts
    wish = talk.preference(
        "nächsten Donnerstag ab 16 Uhr" if language == "de" else "next Thursday after 4 pm", language, NOW
    )
    assert wish is not None and wish.windows[0].start.hour == 16
    assert talk.preference("Ja, bitte." if language == "de" else "Yes, please.", language, NOW) is None


def test_adapt_calls_with_what_a_function_takes():
    def three(value, language, now):
        return (value, language, now)

    def keywords(value, language, *, with_year=False):
        return (value, language)

    def one(value):
        return value

    assert _adapt(three)("x", "de", NOW) == ("x", "de", NOW)
    assert _adapt(keywords)("x", "en", NOW) == ("x", "en")
    assert _adapt(one)("x", "en", NOW) == "x"


def test_a_failing_parser_or_reader_is_no_crash():
    from voice.bridge.dialog.timetalk import TimeTalk

    def broken(*args):
        raise RuntimeError("bug")

    talk = TimeTalk(parse=broken, render=basic_render, read_back=broken)
    assert talk.preference("morgen", "de", NOW) is None and talk.slots_in("x", "de", NOW) == []
    assert isinstance(NOW, datetime)
