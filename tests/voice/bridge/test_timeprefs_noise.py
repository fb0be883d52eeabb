"""The parser under recogniser noise (voice/bridge/timeprefs/noise.py): every regression utterance of
utterances.yaml, utterances_spoken.yaml and utterances_fr.yaml perturbed as speech-to-text delivers it,
checked against the same facts as the clean utterance.

Goals, per language: clean ≥ 95 %; under each perturbation and under all of them at once ≥ 90 %
(a goal set before measuring, not the measured figure minus a margin; measured at the time of
writing: DE 99.0 % and EN 100 % clean and under every perturbation for seeds 0-8, the two DE misses
being the known gaps marked xfail). Three seeds, so the goal does not hold for one lucky draw only.
French joined later with the same goals (measured when it was added: FR 100 % clean and under every
perturbation for seeds 0-9).
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from voice.bridge.timeprefs import noise, periods
from voice.bridge.timeprefs.accuracy import DEFAULT_FILES, load_cases, main, noise_table, noisy

CASES = [case for path in DEFAULT_FILES for case in load_cases(path)]
CLEAN_GOAL = 0.95
NOISE_GOAL = 0.90


@pytest.mark.parametrize("seed", ["0", "1", "2"])
def test_accuracy_clean_and_under_noise_meets_the_goal_per_language(seed, capsys):
    table = noise_table(CASES, seed)
    assert set(table) == {"de", "en", "fr"}
    for lang, row in table.items():
        ok, total = row["clean"]
        assert ok / total >= CLEAN_GOAL, f"{lang} clean {ok}/{total}"
        for kind in noise.KINDS:
            ok, total = row[kind]
            assert total == row["clean"][1]
            assert ok / total >= NOISE_GOAL, f"{lang} under {kind} (seed {seed}): {ok}/{total}"


def test_noise_is_deterministic_for_a_seed_and_differs_between_seeds():
    text = "Können wir das am Donnerstag so gegen 15 Uhr machen?"
    assert noise.perturb(text, "de", "all", "0") == noise.perturb(text, "de", "all", "0")
    variants = {noise.perturb(text, "de", "all", str(s)) for s in range(10)}
    assert len(variants) > 1


def test_plain_drops_punctuation_and_case_but_keeps_numbers_whole():
    assert (
        noise.perturb("Dienstag, den 1. Dezember um 14:30?", "de", "plain", "0") == "dienstag den 1. dezember um 14:30"
    )
    assert noise.perturb("Not this week — the one after.", "en", "plain", "0") == "not this week the one after"


def test_words_says_digits_as_recognisers_write_them():
    assert noise.perturb("am 17. um 16:30 Uhr", "de", "words", "0") == "am siebzehnten um sechzehn uhr dreißig"
    assert noise.perturb("am 7.12.", "de", "words", "0") == "am siebten zwölften"
    assert noise.perturb("Tuesday, December 1st at 2:30pm", "en", "words", "0") == (
        "tuesday december first at two thirty p m"
    )
    assert noise.perturb("Friday at 9:05", "en", "words", "0") == "friday at nine oh five"
    assert noise.perturb("um 07:30", "de", "words", "0") == "um 07:30"  # the zero says morning; kept


def test_every_perturbation_changes_what_it_can_and_keeps_the_rest():
    text = "Thursday at four or at two"
    assert noise.perturb(text, "en", "slips", "0") == "thursday at for or at two"  # one slip, not all
    repeated = noise.perturb(text, "en", "repeat", "0").split()
    assert len(repeated) == len(text.split()) + 1
    assert any(a == b for a, b in zip(repeated, repeated[1:], strict=False))
    assert not re.search(r"\b(four|two) \1\b", noise.perturb(text, "en", "repeat", "5"))  # numbers never repeated
    with_fillers = noise.perturb(text, "en", "fillers", "0").split()
    assert 1 <= len(with_fillers) - len(text.split()) <= 3  # "you know" is two words
    with pytest.raises(ValueError):
        noise.perturb(text, "en", "shout", "0")


def test_a_noisy_case_keeps_its_facts():
    case = next(c for c in CASES if c.id == "D1")
    variant = noisy(case, "all", "0")
    assert variant.facts == case.facts and variant.now == case.now and variant.text != case.text


def test_accuracy_script_prints_the_noise_table(capsys):
    assert main(["--noise", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("lang") and "clean" in line)
    assert header.split() == ["lang", "clean", *noise.KINDS]
    assert "under recogniser noise (seed 1)" in out


@pytest.mark.parametrize(
    ("year", "easter"), [(2024, "2024-03-31"), (2025, "2025-04-20"), (2026, "2026-04-05"), (2027, "2027-03-28")]
)
def test_easter_sunday(year, easter):
    assert periods.easter_sunday(year).isoformat() == easter


def test_named_periods_are_the_next_not_over():
    assert periods.bounds("holidays", "after", date(2026, 11, 23)) == (date(2027, 1, 2), date(2027, 1, 2))
    assert periods.bounds("holidays", "after", date(2027, 3, 1)) == (date(2027, 3, 30), date(2027, 3, 30))
    assert periods.bounds("christmas", "before", date(2026, 12, 27)) == (date(2027, 12, 23), date(2027, 12, 23))
    assert periods.span("nextyear", date(2026, 6, 1)) == (date(2027, 1, 1), date(2027, 12, 31))
    with pytest.raises(ValueError):
        periods.span("summer", date(2026, 6, 1))


def test_french_noise_says_numbers_the_french_way_and_slips_on_homophones():
    assert noise.perturb("Le mardi 1er décembre à 9 h 30", "fr", "words", "0") == (
        "le mardi premier décembre à neuf heures trente"
    )
    assert noise.perturb("de 14h à 16h30", "fr", "words", "0") == "de quatorze heures à seize heures trente"
    assert noise.perturb("dans 71 jours, 80 ou 95", "fr", "words", "0") == (
        "dans soixante et onze jours quatre-vingts ou quatre-vingt-quinze"
    )
    assert noise.perturb("à trois heures et quart", "fr", "slips", "0") == "à trois heures et car"
    assert noise.perturb("à dix heures", "fr", "slips", "0") == "à dis heures"
    fillers = noise.perturb("jeudi à quatorze heures", "fr", "fillers", "0").split()
    assert set(fillers) - {"jeudi", "à", "quatorze", "heures"} <= {
        "euh",
        "ben",
        "bah",
        "du",
        "coup",
        "hein",
        "bon",
        "alors",
    }
    for seed in map(str, range(20)):  # a compound number is a number: never repeated
        assert "vingt-trois vingt-trois" not in noise.perturb("le vingt-trois mars", "fr", "repeat", seed)
