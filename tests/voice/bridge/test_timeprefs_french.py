"""French in the time-preference parser: what normalize makes of French speech (accents, elisions,
hyphens, "14h30", Swiss and Belgian numbers), a few readings checked field by field, and the shape that
lets a further language be a grammar module plus lexicon data (the language-neutral modules name no
language). The utterance-level regression cases are in utterances_fr.yaml."""

from __future__ import annotations

import ast
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from voice.bridge.timeprefs import normalize as normalize_module
from voice.bridge.timeprefs import parse as parse_module
from voice.bridge.timeprefs.constraint import TimeWindow
from voice.bridge.timeprefs.grammar import Grammar
from voice.bridge.timeprefs.grammar_fr import FrenchGrammar
from voice.bridge.timeprefs.normalize import normalize
from voice.bridge.timeprefs.parse import parse

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # Monday
PACKAGE = Path(parse_module.__file__).parent


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("À quatorze heures et quart", ["a", "14", "heures", "et", "quart"]),
        ("14h30", ["14:30"]),
        ("9 h 30", ["9:30"]),
        ("16h", ["16", "heures"]),
        ("le 12/12", ["le", "12.12."]),
        ("d'aujourd'hui en huit", ["d", "aujourdhui", "en", "8"]),
        ("en début d'après-midi", ["en", "debut", "d", "apres", "midi"]),
        ("le vingt-trois mars", ["le", "23", "mars"]),
        ("dix-huit heures", ["18", "heures"]),
        ("soixante-dix", ["70"]),
        ("septante", ["70"]),
        ("soixante et onze", ["71"]),
        ("septante et un", ["71"]),
        ("quatre-vingts", ["80"]),
        ("huitante", ["80"]),
        ("quatre-vingt-dix-neuf", ["99"]),
        ("nonante-cinq", ["95"]),
        ("le premier décembre", ["le", "1", "decembre"]),
        ("une heure", ["1", "heures"]),
        ("une semaine", ["une", "semaine"]),  # an article, not a number
        ("euh ben jeudi jeudi du coup", ["jeudi"]),
        ("l'après-midi l'après-midi", ["l", "apres", "midi"]),  # a hyphenated word said twice
        ("à dis heures et car", ["a", "10", "heures", "et", "quart"]),  # recogniser homophones
    ],
)
def test_normalize_reads_french_speech(text, tokens):
    assert normalize(text, "fr") == tokens


def test_french_readings_field_by_field():
    c = parse("jeudi en huit à quatre heures moins le quart", "fr", NOW)
    assert c.dates == (date(2026, 12, 3),) and c.exact == time(15, 45) and not c.unsure
    c = parse("cette semaine non, la suivante", "fr", NOW)
    assert (c.date_from, c.date_to) == (date(2026, 11, 30), date(2026, 12, 6))
    assert date(2026, 11, 24) in c.excluded_dates
    c = parse("entre midi et deux", "fr", NOW)
    assert c.windows == (TimeWindow(time(12), time(14)),)
    c = parse("pas avant dix heures", "fr", NOW)  # read as "à partir de dix heures"
    assert c.windows == (TimeWindow(time(10), None),) and not c.excluded_windows
    assert parse("je vous rappelle dans une heure", "fr", NOW).unsure  # a duration is no clock: ask
    c = parse("mercredi ou jeudi après-midi", "fr", NOW)
    assert c.dates == (date(2026, 11, 25), date(2026, 11, 26))
    assert c.day_windows == ((3, (TimeWindow(time(13), time(18)),)),) and c.windows == ()
    c = parse("Mercredi, non, jeudi à 15h.", "fr", NOW)
    assert c.dates == (date(2026, 11, 26),) and c.exact == time(15)
    assert parse("je ne sais pas encore", "fr", NOW).unsure
    assert parse("pas de souci pour jeudi", "fr", NOW).dates == (date(2026, 11, 26),)  # "pas de" negates nothing


def test_a_language_code_the_parser_does_not_know_reads_as_german():
    assert parse("Donnerstag um 10", "it", NOW).dates == (date(2026, 11, 26),)
    assert parse("jeudi à 10 heures", "fr-CH", NOW).exact == time(10)  # a region keeps its language


def test_french_is_registered_like_the_other_languages():
    assert parse_module.GRAMMARS["fr"] is FrenchGrammar and "fr" in normalize_module.LANGUAGES
    assert set(parse_module.GRAMMARS) == set(normalize_module.LANGUAGES)
    for grammar in parse_module.GRAMMARS.values():
        assert issubclass(grammar, Grammar)
        assert grammar.clock_prep and grammar.corrections and grammar.weekday_words and grammar.or_words


# Modules that hold no language's words: a new language must not need to touch them.
_NEUTRAL = ("parse.py", "grammar.py", "negation.py", "items.py", "days.py", "ellipsis.py", "periods.py", "windows.py")


@pytest.mark.parametrize("name", _NEUTRAL)
def test_language_neutral_modules_name_no_language(name):
    """No language code in their code and no grammar class, except parse.py's registry and fallback."""
    source = (PACKAGE / name).read_text(encoding="utf-8")
    lines = source.splitlines()
    allowed = ("GRAMMARS: dict[", 'lang = lang if lang in GRAMMARS else "de"', "from voice.bridge.timeprefs.grammar_")
    for node in ast.walk(ast.parse(source)):
        named = isinstance(node, ast.Constant) and node.value in ("de", "en", "fr")
        named = named or isinstance(node, ast.Name) and node.id.endswith("Grammar") and node.id != "Grammar"
        if named:
            line = lines[node.lineno - 1]
            assert name == "parse.py" and any(a in line for a in allowed), f"{name}:{node.lineno}: {line.strip()}"
