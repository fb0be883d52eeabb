"""The business calendar and the resolver (holidays, working hours per rep, future only, end-exclusive
windows, busy intervals, ranking of alternatives) and the spoken slot format (render ↔ read back)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.services.business_calendar import BusinessCalendar, Slot
from voice.bridge.timeprefs.calendar import alternatives, rank_alternatives, resolve
from voice.bridge.timeprefs.constraint import TimeConstraint, TimeWindow
from voice.bridge.timeprefs.parse import parse
from voice.bridge.timeprefs.speak import parse_spoken_slot, parse_spoken_slots, render_slot, render_slots

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)  # Monday
THU = date(2026, 11, 26)
TEAM = BusinessCalendar()


def at(day: date, hh: int, mm: int = 0, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=zone)


def starts(slots: list[Slot]) -> list[datetime]:
    return [s.start for s in slots]


# ---- holidays and closed days ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "day", [date(2026, 12, 25), date(2027, 1, 1), date(2027, 3, 26), date(2027, 3, 29), date(2027, 5, 6)]
)
def test_national_holidays_are_closed(day):
    assert TEAM.is_closed(day)
    assert resolve(TimeConstraint(dates=(day,)), TEAM, NOW, horizon_days=200) == []


def test_christmas_eve_and_new_years_eve_are_closed_by_default_but_configurable():
    eve, sylvester = date(2026, 12, 24), date(2026, 12, 31)
    assert TEAM.is_closed(eve) and TEAM.is_closed(sylvester) and not TEAM.is_holiday(eve)
    open_office = BusinessCalendar(closed_every_year=frozenset())
    first = resolve(TimeConstraint(dates=(eve,)), open_office, NOW, limit=1)
    assert starts(first) == [at(eve, 9)]


def test_state_holidays_follow_the_subdivision():
    womens_day = date(2027, 3, 8)  # a Monday; a holiday in Berlin only
    berlin = BusinessCalendar.from_user_hours(None, "Europe/Berlin", subdiv="BE")
    assert berlin.is_closed(womens_day) and not TEAM.is_closed(womens_day)
    with pytest.raises(ValueError):
        BusinessCalendar.from_user_hours(None, None, subdiv="XX")


def test_extra_closed_dates():
    cal = BusinessCalendar(closed_dates=frozenset({THU}))
    assert resolve(TimeConstraint(dates=(THU,)), cal, NOW) == []
    assert resolve(TimeConstraint(dates=(THU,)), TEAM, NOW)


# ---- working hours per rep ------------------------------------------------------------------------


def test_team_default_is_monday_to_friday_nine_to_five():
    slots = resolve(TimeConstraint(), TEAM, NOW, horizon_days=7)
    assert {s.start.weekday() for s in slots} == {0, 1, 2, 3, 4}
    assert min(s.start.time() for s in slots) == time(9) and max(s.end.time() for s in slots) == time(17)


def test_rep_hours_split_day_and_missing_weekdays_closed():
    cal = BusinessCalendar.from_user_hours({"tue": [["10:00", "12:00"], ["14:00", "15:00"]]}, "Europe/Berlin")
    slots = resolve(TimeConstraint(), cal, NOW, horizon_days=6)
    tue = date(2026, 11, 24)
    assert starts(slots) == [at(tue, 10), at(tue, 10, 30), at(tue, 11), at(tue, 11, 30), at(tue, 14), at(tue, 14, 30)]


def test_rep_in_another_zone_works_their_hours_while_the_wish_is_berlin_time():
    lisbon = ZoneInfo("Europe/Lisbon")  # one hour behind Berlin
    cal = BusinessCalendar.from_user_hours({"thu": [["09:00", "12:00"]]}, "Europe/Lisbon")
    wish = parse("Donnerstag um 10 Uhr", "de", NOW)
    slots = resolve(wish, cal, NOW)
    assert slots[0].exact_match and slots[0].start == at(THU, 9, zone=lisbon) == at(THU, 10)
    assert slots[0].start.tzinfo == lisbon  # in the calendar's zone


@pytest.mark.parametrize(
    "hours", [{"mon": [["17:00", "09:00"]]}, {"funday": [["09:00", "17:00"]]}, {"mon": [["9h", "17h"]]}]
)
def test_invalid_hours_are_rejected(hours):
    with pytest.raises(ValueError):
        BusinessCalendar.from_user_hours(hours, None)


def test_is_open():
    assert TEAM.is_open(at(THU, 16, 30), at(THU, 17))
    assert not TEAM.is_open(at(THU, 16, 45), at(THU, 17, 15))
    assert not TEAM.is_open(at(date(2026, 11, 28), 10), at(date(2026, 11, 28), 10, 30))


# ---- future only, lead time, disambiguation ------------------------------------------------------


def test_never_in_the_past_and_not_within_the_lead_time():
    slots = resolve(TimeConstraint(), TEAM, NOW, limit=3)
    assert starts(slots) == [at(NOW.date(), 11), at(NOW.date(), 11, 30), at(NOW.date(), 12)]
    assert starts(resolve(TimeConstraint(), TEAM, NOW, limit=1, lead_time=timedelta(0))) == [at(NOW.date(), 10, 30)]


def test_named_days_in_the_past_roll_forward():
    assert parse("am Montag", "de", NOW).dates == (date(2026, 11, 30),)  # not today
    assert parse("am 17.", "de", NOW).dates == (date(2026, 12, 17),)  # not 17.11
    assert parse("am 20. November", "de", NOW).dates == (date(2027, 11, 20),)
    assert parse("on the 23rd", "en", NOW).dates == (date(2026, 11, 23),)  # today still counts


def test_business_hours_disambiguation():
    assert parse("um halb drei", "de", NOW).exact == time(14, 30)
    assert parse("2:30", "en", NOW).exact == time(14, 30)
    assert parse("um 9", "de", NOW).exact == time(9)
    assert parse("morgens um 7", "de", NOW).exact == time(7)
    assert parse("at 7am", "en", NOW).exact == time(7)
    assert parse("abends um 8", "de", NOW).exact == time(20)
    slots = resolve(parse("Donnerstag um halb drei", "de", NOW), TEAM, NOW)
    assert slots[0].start == at(THU, 14, 30) and slots[0].exact_match


def test_unsure_when_nothing_about_time_was_said():
    assert parse("Ja, gerne, schicken Sie mir Unterlagen", "de", NOW).unsure
    assert not parse("jederzeit", "de", NOW).unsure
    assert parse("Montag, den 8.12.", "de", NOW).unsure  # 8.12. is a Tuesday


# ---- windows, exact wishes, busy intervals ---------------------------------------------------------


def test_windows_are_end_exclusive():
    c = TimeConstraint(dates=(THU,), windows=(TimeWindow(time(10), time(12)),))
    assert starts(resolve(c, TEAM, NOW))[-1] == at(THU, 11, 30)
    assert starts(resolve(c, TEAM, NOW, duration=timedelta(hours=1)))[-1] == at(THU, 11)
    assert starts(resolve(TimeConstraint(dates=(THU,)), TEAM, NOW))[-1] == at(THU, 16, 30)


def test_exact_wish_first_even_off_the_grid():
    c = TimeConstraint(dates=(THU,), exact=time(14, 15))
    slots = resolve(c, TEAM, NOW)
    assert slots[0] == Slot(at(THU, 14, 15), at(THU, 14, 45), True)
    assert [s.exact_match for s in slots].count(True) == 1
    assert starts(slots[1:3]) == [at(THU, 9), at(THU, 9, 30)]


def test_busy_intervals_are_skipped():
    c = TimeConstraint(dates=(THU,), windows=(TimeWindow(time(13), time(16)),))
    busy = [(at(THU, 14), at(THU, 15))]
    assert starts(resolve(c, TEAM, NOW, busy=busy)) == [at(THU, 13), at(THU, 13, 30), at(THU, 15), at(THU, 15, 30)]
    partial = [(at(THU, 14, 15), at(THU, 14, 45))]
    assert at(THU, 14) not in starts(resolve(c, TEAM, NOW, busy=partial))
    assert at(THU, 14, 30) not in starts(resolve(c, TEAM, NOW, busy=partial))
    utc_busy = [(at(THU, 13).astimezone(ZoneInfo("UTC")), at(THU, 13, 30).astimezone(ZoneInfo("UTC")))]
    assert starts(resolve(c, TEAM, NOW, busy=utc_busy))[0] == at(THU, 13, 30)


def test_negations_and_day_windows_are_respected():
    c = parse("Mittwoch oder Freitag vormittags, aber nicht vor 10", "de", NOW)
    slots = resolve(c, TEAM, NOW)
    wed, fri = date(2026, 11, 25), date(2026, 11, 27)
    assert {s.start.date() for s in slots} == {wed, fri}
    assert all(s.start.time() >= time(10) for s in slots)
    assert max(s.end for s in slots if s.start.date() == fri) == at(fri, 12)
    assert max(s.end for s in slots if s.start.date() == wed) == at(wed, 17)


def test_dst_change_keeps_wall_clock_hours():
    before = datetime(2026, 10, 23, 10, 0, tzinfo=BERLIN)  # Friday; clocks go back on Sunday 25.10.
    slot = resolve(parse("Montag um 9", "de", before), TEAM, before)[0]
    assert slot.start == at(date(2026, 10, 26), 9) and slot.start.utcoffset() == timedelta(hours=1)


def test_limit_and_horizon():
    assert len(resolve(TimeConstraint(), TEAM, NOW, limit=5)) == 5
    far = resolve(TimeConstraint(dates=(date(2027, 2, 1),)), TEAM, NOW)  # beyond 28 days, still named
    assert far and far[0].start == at(date(2027, 2, 1), 9)
    assert max(s.start.date() for s in resolve(TimeConstraint(), TEAM, NOW, horizon_days=3)) <= date(2026, 11, 26)


# ---- alternatives -----------------------------------------------------------------------------------


def test_rank_alternatives_same_day_and_closest_first():
    wish = TimeConstraint(dates=(THU,), exact=time(14, 30))
    free = resolve(wish, TEAM, NOW, busy=[(at(THU, 14, 30), at(THU, 15))])
    best = rank_alternatives(wish, free)
    assert starts(best) == [at(THU, 14), at(THU, 15)]


def test_rank_alternatives_prefers_the_same_day_over_a_closer_time_on_another():
    wish = TimeConstraint(exact=time(14, 30))
    busy = [(at(THU, 13), at(THU, 17))]
    free = resolve(TimeConstraint(date_from=THU, date_to=THU + timedelta(days=1)), TEAM, NOW, busy=busy)
    best = rank_alternatives(wish, free, wished=at(THU, 14, 30))
    assert starts(best) == [at(THU, 12, 30), at(THU, 12)]


def test_rank_alternatives_never_offers_overlapping_slots():
    free = resolve(
        TimeConstraint(dates=(THU,)), TEAM, NOW, step=timedelta(minutes=15), busy=[(at(THU, 11), at(THU, 11, 30))]
    )
    best = rank_alternatives(TimeConstraint(dates=(THU,), exact=time(11)), free, n=3, wished=at(THU, 11))
    assert starts(best) == [at(THU, 10, 30), at(THU, 11, 30), at(THU, 10)]


def test_alternatives_relax_to_other_days_when_the_wished_day_is_full():
    wish = TimeConstraint(dates=(THU,), exact=time(14, 30))
    busy = [(at(THU, 9), at(THU, 17))]
    offered = alternatives(wish, TEAM, NOW, busy=busy)
    assert len(offered) == 2
    assert all(s.start.date() != THU for s in offered)
    # The wished time of day on the nearest days, not whatever is closest in hours (Fri 09:00).
    assert starts(offered) == [at(date(2026, 11, 25), 14, 30), at(date(2026, 11, 27), 14, 30)]


# ---- speaking slots ---------------------------------------------------------------------------------


def test_render_canonical_format():
    slot = Slot(at(date(2026, 12, 3), 16, 30), at(date(2026, 12, 3), 17))
    assert render_slot(slot, "de") == "Donnerstag, den 3. Dezember, um 16:30 Uhr"
    assert render_slot(slot, "en") == "Thursday, December 3rd, at 4:30 pm"
    assert render_slot(at(date(2027, 3, 1), 9), "de", with_year=True) == "Montag, den 1. März 2027, um 9 Uhr"
    assert render_slot(at(date(2026, 12, 22), 12), "en") == "Tuesday, December 22nd, at 12 pm"
    assert render_slot(slot, "fr") == "jeudi 3 décembre à 16 h 30"
    assert render_slot(at(date(2027, 3, 1), 9), "fr-CH", with_year=True) == "lundi 1er mars 2027 à 9 h"


def test_read_back_several_slots_in_one_sentence():
    a, b = at(date(2026, 12, 3), 16, 30), at(date(2026, 12, 4), 10)
    de = f"Da hätte ich {render_slots([a, b], 'de')} frei. Was passt Ihnen besser?"
    en = f"I could offer {render_slots([a, b], 'en')}. Which works better?"
    assert parse_spoken_slots(de, "de", NOW) == [a, b]
    assert parse_spoken_slots(en, "en", NOW) == [a, b]
    assert parse_spoken_slot("Wie wäre es mit Donnerstag den 3. Dezember um 16:30 Uhr?", "de", NOW) == a
    fr = f"Je peux vous proposer {render_slots([a, b], 'fr')}. Lequel vous convient ?"
    assert " ou " in fr and parse_spoken_slots(fr, "fr", NOW) == [a, b]
    assert parse_spoken_slot("Jeudi 3 decembre a 16h30, ça vous va ?", "fr", NOW) == a  # no accents, "16h30"


def test_read_back_rejects_what_is_not_a_slot():
    assert parse_spoken_slots("Mittwoch, den 3. Dezember, um 16:30 Uhr", "de", NOW) == []  # it is a Thursday
    assert parse_spoken_slot("Wir melden uns am 3. Dezember.", "de", NOW) is None
    assert parse_spoken_slots("mercredi 3 décembre à 16 h 30", "fr", NOW) == []  # it is a Thursday
    assert parse_spoken_slot("Thursday, December 3rd, at 13 pm", "en", NOW) is None


_START = datetime(2026, 11, 23)
_slots = st.builds(
    lambda days, minutes: (_START + timedelta(days=days, minutes=minutes)).replace(tzinfo=BERLIN),
    st.integers(0, 350),
    st.integers(6 * 60, 22 * 60 - 1),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_slots, min_size=1, max_size=3), st.sampled_from(["de", "en", "fr"]), st.booleans())
def test_render_and_read_back_round_trip(moments, language, with_year):
    spoken = "Ich schlage vor: " + render_slots(moments, language, with_year=with_year) + "."
    assert parse_spoken_slots(spoken, language, NOW) == moments
    assert (
        parse_spoken_slot(
            render_slot(Slot(moments[0], moments[0] + timedelta(minutes=30)), language, with_year=with_year),
            language,
            NOW,
        )
        == moments[0]
    )


# ---- robustness -------------------------------------------------------------------------------------

_DE_WORDS = (
    "am um ab bis vor nach zwischen und oder nicht nein lieber halb viertel uhr 1 3 7 12 14 17. 31. 7.12. "
    "14:30 montag montags freitag nächste woche anfang ende der den morgen heute früh vormittags abends "
    "dezember in zwei tagen , jederzeit aber werktags - 0 99 29.2."
).split()
_EN_WORDS = (
    "at on the from to between and or not no actually half past quarter pm am 1 3 7 12 17th 31st 2:30 "
    "monday mondays friday next this week early end of late tomorrow today morning afternoon noon "
    "december in two days , anytime but weekdays - 0 99 february 29th"
).split()


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["de", "en"]).flatmap(
        lambda lang: st.tuples(
            st.just(lang), st.lists(st.sampled_from(_DE_WORDS if lang == "de" else _EN_WORDS), min_size=1, max_size=8)
        )
    ),
    st.integers(0, 800),
)
def test_any_word_soup_parses_and_resolves_inside_the_rules(lang_words, days_ahead):
    lang, words = lang_words
    now = NOW + timedelta(days=days_ahead)
    c = parse(" ".join(words), lang, now)
    for slot in resolve(c, TEAM, now, limit=5):
        assert slot.start >= now + timedelta(hours=1)
        assert TEAM.is_open(slot.start, slot.end)
        assert c.allows(slot.start.replace(tzinfo=None), slot.end.replace(tzinfo=None))
