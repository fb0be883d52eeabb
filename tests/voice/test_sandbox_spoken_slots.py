"""The sandbox's copy of the agent's slot wording (sandbox/spoken_slots.py) writes and reads exactly
what the voice bridge says (voice/bridge/timeprefs/speak.py): every half hour of working days across a
whole year, in all three languages, including the DST switch days."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import get_day_names, get_month_names

from sandbox import spoken_slots
from voice.bridge.timeprefs import speak

BERLIN = ZoneInfo("Europe/Berlin")


def _starts() -> list[datetime]:
    day = datetime(2026, 1, 1, tzinfo=BERLIN)
    starts = []
    while day.year == 2026:
        starts.extend(day.replace(hour=h, minute=m) for h in (0, 8, 9, 12, 13, 16, 23) for m in (0, 30))
        day += timedelta(days=1)
    return starts


SENTENCES = {"de": "Dann trage ich {} ein.", "en": "I'll book {} then.", "fr": "Je vous réserve donc le {}."}


@pytest.mark.parametrize("language", ["de", "en", "fr"])
def test_sandbox_and_bridge_write_and_read_the_same_sentences(language):
    for start in _starts():
        now = start - timedelta(days=2)  # an offer is read back soon after it was made
        spoken = speak.render_slot(start, language)
        assert spoken_slots.render_slot(start, language) == spoken
        sentence = SENTENCES[language].format(spoken)
        assert spoken_slots.parse_spoken_slot(sentence, language, now) == start
        assert spoken_slots.parse_spoken_slot(sentence, language, now) == speak.parse_spoken_slot(
            sentence, language, now
        )


def test_a_weekday_that_does_not_match_the_date_is_no_slot():
    now = datetime(2026, 12, 1, tzinfo=BERLIN)
    assert spoken_slots.parse_spoken_slot("Montag, den 3. Dezember, um 16 Uhr", "de", now) is None
    assert spoken_slots.parse_spoken_slot("Thursday, December 3rd, at 4 pm", "en", now) == datetime(
        2026, 12, 3, 16, tzinfo=BERLIN
    )
    assert spoken_slots.parse_spoken_slot("lundi 3 décembre à 16 h 30", "fr", now) is None
    assert spoken_slots.parse_spoken_slot("le jeudi 3 decembre a 16 h 30", "fr", now) == datetime(
        2026, 12, 3, 16, 30, tzinfo=BERLIN
    )


def test_french_slots_read_as_the_bridge_says_them_and_as_a_transcript_spells_them():
    now = datetime(2026, 11, 25, tzinfo=BERLIN)
    first = datetime(2026, 12, 1, 9, tzinfo=BERLIN)
    assert spoken_slots.render_slot(first, "fr") == "mardi 1er décembre à 9 h"
    assert spoken_slots.render_slot(first, "fr-CH") == "mardi 1er décembre à 9 h"
    for text in ("mardi 1er décembre à 9 h", "Mardi 1 Decembre a 9h", "le 1er décembre à 9 h 00"):
        assert spoken_slots.parse_spoken_slot(text, "fr", now) == first, text
    assert spoken_slots.parse_spoken_slot("mardi 1er décembre à 9 heures", "fr", now) is None  # not its wording


@pytest.mark.parametrize("locale", ["de", "en", "fr"])
def test_the_copied_names_are_the_cldr_names(locale):
    days, months = get_day_names("wide", locale=locale), get_month_names("wide", locale=locale)
    prefix = locale.upper()
    assert getattr(spoken_slots, f"{prefix}_WEEKDAY_NAMES") == tuple(days[i] for i in range(7))
    assert getattr(spoken_slots, f"{prefix}_MONTH_NAMES") == tuple(months[i] for i in range(1, 13))
