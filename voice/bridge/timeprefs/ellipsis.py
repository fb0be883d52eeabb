"""Elliptical follow-ups: "Diese Woche nicht, nächste dann", "not this week — the one after",
"diesen Donnerstag nicht, den nächsten". The grammars mark the elliptical words as ``ELLIPSIS`` items;
here each becomes the period it stands for, in the unit of the last period named before it (in the
same utterance or an earlier correction part):

* ("mod", m) — a bare "nächste"/"übernächste"/"next": the period of that unit the modifier names from
  today ("this week not, next" = next week);
* ("after", n) — "the one after", "die danach", "the next one": n periods after the one named.

An ellipsis with no period before it names nothing and is dropped.
"""

from __future__ import annotations

from dataclasses import replace

from voice.bridge.timeprefs.items import DAY, ELLIPSIS, RANGE, Item, Ref

MOD_OFFSETS = {"next": 1, "coming": 1, "this": 0, "after_next": 2}


def period_of(item: Item) -> Ref | None:
    """The period an item names, when it is one an ellipsis can refer to (a day, a week, a month)."""
    if item.kind in (DAY, RANGE) and isinstance(item.value, Ref):
        ref: Ref = item.value
        if ref.kind in ("weekday", "week", "week_of", "month", "rel", "date", "dom"):
            return ref
    return None


def fill(items: list[Item], previous: Ref | None) -> tuple[list[Item], set[int], Ref | None]:
    """The items with every ellipsis replaced by the period it names; the ids of those items; the
    last period named (for the next part of the utterance)."""
    out: list[Item] = []
    filled: set[int] = set()
    last = previous
    for it in items:
        if it.kind != ELLIPSIS:
            ref = period_of(it)
            last = ref or last
            out.append(it)
            continue
        kind, n = it.value
        target = _relative(last, n) if kind == "after" else _modified(last, n)
        if target is None:
            continue
        new = Item(RANGE if target.kind in ("week", "week_of", "month") else DAY, it.start, it.end, target)
        filled.add(id(new))
        out.append(new)
        last = target
    return out, filled, last


def _modified(last: Ref | None, mod: str) -> Ref | None:
    """ "nächste" after a week = next week; after a weekday = that weekday next week."""
    if last is None:
        return None
    offset = MOD_OFFSETS[mod]
    if last.kind == "weekday":
        return Ref("weekday", last.a, mod=mod)
    if last.kind in ("week", "week_of"):
        return Ref("week", offset, mod="all")
    if last.kind == "month":
        return Ref("month", None, offset, mod="all")
    return None


def _relative(last: Ref | None, n: int) -> Ref | None:
    """ "the one after" the period named: the next week, month or the same weekday a week on."""
    if last is None:
        return None
    if last.kind == "week":
        return Ref("week", (last.a or 0) + n, mod="all")
    if last.kind == "week_of":
        return Ref("week_of", (last.a or 0) + 7 * n)
    if last.kind == "month" and last.a is None:
        return Ref("month", None, (last.b or 0) + n, mod="all")
    if last.kind == "month" and last.a is not None:
        return Ref("month", (last.a + n - 1) % 12 + 1, mod="all")
    if last.kind == "weekday":
        return replace(last, mod=last.mod or "coming", shift=last.shift + 7 * n)
    return replace(last, shift=last.shift + n)  # a day: "nicht morgen, den Tag danach"
