"""Accuracy of the time-preference parser on the regression utterances.

    python -m voice.bridge.timeprefs.accuracy [--file PATH ...] [-v] [--noise] [--seed S]

By default the regression set: tests/voice/bridge/utterances.yaml, utterances_spoken.yaml and
utterances_fr.yaml (French).

Each case is parsed at its reference time and resolved against the team calendar (Mon-Fri 09-17,
German holidays, 24./31.12 closed); a case counts as correct only if every stated fact holds. Cases
marked ``xfail`` are known gaps and count as failures. The regression test uses the same checker.

``--noise`` also runs every case through each recogniser perturbation of ``noise`` (punctuation and
case dropped, fillers, a repeated word, digits as words, homophone slips, all of them) and prints the
accuracy per language under each beside the clean one.
"""

from __future__ import annotations

import argparse
import sys
import time as _time
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from crm.services.business_calendar import BusinessCalendar
from voice.bridge.timeprefs.calendar import resolve
from voice.bridge.timeprefs.constraint import TimeConstraint
from voice.bridge.timeprefs.noise import KINDS, perturb
from voice.bridge.timeprefs.parse import parse

BERLIN = ZoneInfo("Europe/Berlin")
DEFAULT_FILE = Path(__file__).resolve().parents[3] / "tests" / "voice" / "bridge" / "utterances.yaml"
# The regression set: the original utterances, the spoken-style ones (numbers as words, fillers, anchors)
# and the French ones.
DEFAULT_FILES = tuple(
    DEFAULT_FILE.with_name(n) for n in ("utterances.yaml", "utterances_spoken.yaml", "utterances_fr.yaml")
)
SLOT = timedelta(minutes=30)


@dataclass(frozen=True)
class Case:
    id: str
    lang: str
    text: str
    now: datetime
    facts: dict[str, Any]
    xfail: str | None = None


def wall(text: str) -> datetime:
    """ "2026-12-03 16:00" → aware Europe/Berlin."""
    return datetime.strptime(str(text), "%Y-%m-%d %H:%M").replace(tzinfo=BERLIN)


def load_cases(path: Path | str = DEFAULT_FILE) -> list[Case]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    default_now = wall(data["now"])
    cases = []
    for raw in data["cases"]:
        raw = dict(raw)
        cases.append(
            Case(
                id=str(raw.pop("id")),
                lang=raw.pop("lang"),
                text=str(raw.pop("text")),
                now=wall(raw.pop("now")) if "now" in raw else default_now,
                xfail=raw.pop("xfail", None),
                facts=raw,
            )
        )
    return cases


def check_case(case: Case, calendar: BusinessCalendar | None = None) -> list[str]:
    """The facts of a case that do not hold (empty = correct)."""
    calendar = calendar or BusinessCalendar()
    c = parse(case.text, case.lang, case.now)
    return [*_reading_problems(c, case.facts), *_window_problems(c, case.facts), *_slot_problems(c, calendar, case)]


def _reading_problems(c: TimeConstraint, facts: dict[str, Any]) -> list[str]:
    """Facts about the reading itself: how sure it is, the exact time."""
    problems: list[str] = []
    if "unsure" in facts and c.unsure != facts["unsure"]:
        problems.append(f"unsure is {c.unsure}, expected {facts['unsure']}")
    elif "unsure" not in facts and c.unsure:
        problems.append("unsure, expected a confident reading")
    if "exact" in facts:
        exact = None if facts["exact"] is None else time.fromisoformat(str(facts["exact"]))
        if c.exact != exact:
            problems.append(f"exact {c.exact}, expected {exact}")
    return problems


def _window_problems(c: TimeConstraint, facts: dict[str, Any]) -> list[str]:
    """Facts about single slots: allowed or forbidden by the constraint."""
    problems: list[str] = []
    for text in facts.get("allowed", ()):
        t = wall(text)
        if not c.allows(t.replace(tzinfo=None), (t + SLOT).replace(tzinfo=None)):
            problems.append(f"{text} should be allowed")
    for text in facts.get("forbidden", ()):
        t = wall(text)
        if c.allows(t.replace(tzinfo=None), (t + SLOT).replace(tzinfo=None)):
            problems.append(f"{text} should be forbidden")
    return problems


def _slot_problems(c: TimeConstraint, calendar: BusinessCalendar, case: Case) -> list[str]:
    """Facts about the slots the calendar finds: the first ones, none at all, none on a closed day."""
    facts = case.facts
    if not ("first" in facts or facts.get("none") or "no_slot_on" in facts):
        return []
    problems: list[str] = []
    want = [wall(t) for t in facts.get("first", ())]
    slots = resolve(c, calendar, case.now, limit=len(want) if want and "no_slot_on" not in facts else None)
    got = [s.start for s in slots]
    if want and got[: len(want)] != want:
        problems.append(f"first slots {[_fmt(s) for s in got[: len(want)]]}, expected {facts['first']}")
    if facts.get("none") and got:
        problems.append(f"expected no slot, got {_fmt(got[0])}")
    for day in facts.get("no_slot_on", ()):
        hits = [s for s in got if s.astimezone(BERLIN).date().isoformat() == str(day)]
        if hits:
            problems.append(f"slot on closed day {day}: {_fmt(hits[0])}")
    return problems


def _fmt(moment: datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")


def accuracy(cases: list[Case]) -> dict[str, tuple[int, int]]:
    """language → (correct, total); xfail cases count, as failures unless they pass."""
    table: dict[str, tuple[int, int]] = {}
    for case in cases:
        ok, total = table.get(case.lang, (0, 0))
        table[case.lang] = (ok + (not check_case(case)), total + 1)
    return table


def noisy(case: Case, kind: str, seed: str = "0") -> Case:
    """The case with its utterance as a recogniser might deliver it (same facts)."""
    return replace(case, text=perturb(case.text, case.lang, kind, seed))


def noise_table(cases: list[Case], seed: str = "0") -> dict[str, dict[str, tuple[int, int]]]:
    """language → {"clean" and each perturbation kind → (correct, total)}."""
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for case in cases:
        row = table.setdefault(case.lang, {})
        for kind in ("clean", *KINDS):
            ok, total = row.get(kind, (0, 0))
            variant = case if kind == "clean" else noisy(case, kind, seed)
            row[kind] = (ok + (not check_case(variant)), total + 1)
    return table


def print_noise(table: dict[str, dict[str, tuple[int, int]]]) -> None:
    kinds = ("clean", *KINDS)
    print(f"{'lang':<6}" + "".join(f"{k:>9}" for k in kinds))
    for lang, row in sorted(table.items()):
        print(f"{lang:<6}" + "".join(f"{row[k][0] / row[k][1]:>9.1%}" for k in kinds))


def summary(table: dict[str, tuple[int, int]]) -> str:
    return "timeprefs accuracy: " + ", ".join(f"{lang} {ok}/{n}" for lang, (ok, n) in sorted(table.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", action="append", help="a YAML file of cases (repeatable; default: the regression set)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every failing case")
    ap.add_argument("--noise", action="store_true", help="accuracy under recogniser perturbations too")
    ap.add_argument("--seed", default="0", help="seed of the perturbations (default 0)")
    args = ap.parse_args(argv)
    cases = [case for path in (args.file or DEFAULT_FILES) for case in load_cases(path)]
    started = _time.perf_counter()
    table: dict[str, tuple[int, int]] = {}
    for case in cases:
        problems = check_case(case)
        ok, total = table.get(case.lang, (0, 0))
        table[case.lang] = (ok + (not problems), total + 1)
        if problems and args.verbose:
            mark = f" [xfail: {case.xfail}]" if case.xfail else ""
            print(f"FAIL {case.id} ({case.lang}) {case.text!r}{mark}: {'; '.join(problems)}")
    elapsed = _time.perf_counter() - started
    print(f"{'lang':<6}{'correct':>8}{'total':>7}{'rate':>8}")
    for lang, (ok, n) in sorted(table.items()):
        print(f"{lang:<6}{ok:>8}{n:>7}{ok / n:>8.1%}")
    ok_all, n_all = sum(v[0] for v in table.values()), sum(v[1] for v in table.values())
    print(f"{'all':<6}{ok_all:>8}{n_all:>7}{ok_all / n_all:>8.1%}")
    print(summary(table))
    print(f"({len(cases)} cases parsed and resolved in {elapsed * 1000:.0f} ms)")
    if args.noise:
        print(f"\nunder recogniser noise (seed {args.seed}):")
        print_noise(noise_table(cases, args.seed))
        if args.verbose:
            for case in cases:
                variant = noisy(case, "all", args.seed)
                problems = check_case(variant)
                if problems:
                    print(f"NOISY FAIL {case.id} ({case.lang}) {variant.text!r}: {'; '.join(problems)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
