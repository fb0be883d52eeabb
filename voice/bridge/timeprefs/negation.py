"""Which items a negation marker negates.

A marker takes the item group right after it in its clause ("nicht vor 10", "not on Fridays"), or,
with nothing after it, the group before it ("Montag geht nicht", "Friday is bad"). The group before
wins even when something follows when:

* the marker is a word that comes after what it judges ("schlecht", "bad", "busy", "Urlaub"): "this
  week is bad how about next";
* a predicate stands between the group before and the marker and what follows is of the same family
  ("heute geht nicht mehr morgen ab 13 Uhr": a day judged, then another day offered; but "Montag kann
  ich nicht vor 10" keeps "not before 10");
* what follows is an elliptical follow-up ("nächste Woche nicht die danach");
* the marker says "no longer" ("heute nicht mehr vielleicht morgen").

A group is the first item and the items of its family chained to it by a conjunction ("nicht montags
und freitags", "not on Mondays or Fridays"); two items side by side without one are not a group
("not in the morning the afternoon is better").
"""

from __future__ import annotations

from dataclasses import dataclass

from voice.bridge.timeprefs.items import DAY_FAMILY, NEG, SEP, TIME_FAMILY, Item

# Words that may stand between the items of one negated group.
CHAIN = frozenset(
    {"und", "oder", "and", "or", "noch", "nor", "auch", "am", "an", "on", "the", "den", "dem", "um", "at"}
    | {"nicht", "not", "jeden", "every", "either", "neither", "in", "der"}
)
CONJUNCTIONS = frozenset({"und", "oder", "and", "or", "noch", "nor", "auch"})
# Markers said after what they judge.
POST_MARKERS = frozenset(
    {"schlecht", "unguenstig", "verhindert", "urlaub", "ausgebucht", "belegt", "besetzt"}
    | {"bad", "busy", "booked", "unavailable", "impossible", "away", "off", "out", "vacation"}
)
PREDICATES = frozenset(
    {"geht", "passt", "klappt", "kann", "koennen", "ist", "bin", "sind", "habe"}
    | {"is", "are", "works", "does", "do", "suits", "can", "will"}
)
_ONLY = (["nur"], ["only"], ["just"])


@dataclass(frozen=True)
class Words:
    """A language's words for negation scope (``Grammar.negation_words``): what may chain the items of
    one group, the conjunctions among them, markers said after what they judge, predicates, the words
    after a marker that make it no negation ("nicht nur") and that make it "no longer"."""

    chain: frozenset[str]
    conjunctions: frozenset[str]
    post_markers: frozenset[str]
    predicates: frozenset[str]
    only: tuple[list[str], ...] = _ONLY
    no_longer: tuple[list[str], ...] = (["mehr"], ["anymore"])


# German and English share one table (their words do not collide).
DE_EN = Words(CHAIN, CONJUNCTIONS, POST_MARKERS, PREDICATES)


def scope(tokens: list[str], items: list[Item], content: list[Item], ellipses: set[int], words: Words = DE_EN) -> None:
    """Set ``negated`` on the content items each negation marker of ``items`` takes."""
    seps = [it.start for it in items if it.kind == SEP]
    for neg in (it for it in items if it.kind == NEG):
        if tokens[neg.end : neg.end + 1] in words.only:
            continue  # "nicht nur montags" is not a negation of Mondays
        stop = min((s for s in seps if s >= neg.end), default=len(tokens))
        after = [it for it in content if neg.end <= it.start < stop]
        begin = max((s for s in seps if s < neg.start), default=-1)
        before = [it for it in content if begin < it.start and it.end <= neg.start]
        if before and (not after or _judges_before(tokens, neg, before, after, ellipses, words)):
            negate_group(tokens, list(reversed(before)), words)
        elif after:
            negate_group(tokens, after, words)


def _judges_before(
    tokens: list[str], neg: Item, before: list[Item], after: list[Item], ellipses: set[int], words: Words
) -> bool:
    if tokens[neg.start] in words.post_markers or id(after[0]) in ellipses:
        return True
    if tokens[neg.end : neg.end + 1] in words.no_longer:
        return True  # "heute nicht mehr, vielleicht morgen": what is no longer possible came before
    between = set(tokens[before[-1].end : neg.start])
    same_family = (before[-1].kind in DAY_FAMILY) == (after[0].kind in DAY_FAMILY)
    return bool(between & words.predicates) and same_family


def negate_group(tokens: list[str], ordered: list[Item], words: Words = DE_EN) -> None:
    """Negate the first item and the items chained to it by a conjunction within its family."""
    first = ordered[0]
    family = DAY_FAMILY if first.kind in DAY_FAMILY else TIME_FAMILY
    first.negated = True
    prev = first
    for it in ordered[1:]:
        lo, hi = (prev.end, it.start) if it.start >= prev.end else (it.end, prev.start)
        between = set(tokens[lo:hi])
        if it.kind not in family or not between <= words.chain or not between & words.conjunctions:
            break
        it.negated = True
        prev = it
