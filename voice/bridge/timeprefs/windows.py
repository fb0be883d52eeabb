"""Time-window arithmetic for the parser: windows said together narrow each other, an exact time
widens its daypart, a time stands for the hour after it."""

from __future__ import annotations

from datetime import time

from voice.bridge.timeprefs.constraint import TimeWindow
from voice.bridge.timeprefs.items import DAYPART, Item


def intersect(a: TimeWindow, b: TimeWindow) -> TimeWindow | None:
    start = max((t for t in (a.start, b.start) if t is not None), default=None)
    end = min((t for t in (a.end, b.end) if t is not None), default=None)
    if start is not None and end is not None and start >= end:
        return None
    return TimeWindow(start, end)


def combine(windows: list[tuple[Item, TimeWindow]]) -> list[TimeWindow]:
    """Windows said together narrow each other: "nachmittags ab 15 Uhr" = 15-18, "after 10 but before
    12" = 10-12. Closed ranges are alternatives ("von 9 bis 10 oder von 14 bis 15"); open bounds and
    dayparts cut them. When the cut leaves nothing, the explicit range wins over the vaguer word."""
    parts = [w for it, w in windows if it.kind == DAYPART]
    ranges = [w for it, w in windows if it.kind != DAYPART]
    closed = [w for w in ranges if w.start is not None and w.end is not None]
    opens = [w for w in ranges if w.start is None or w.end is None]
    if opens:
        closed = _cut_by_open_bounds(closed, opens)
    if not closed:
        return parts
    if not parts:
        return closed
    return [x for x in (intersect(c, p) for c in closed for p in parts) if x] or closed


def _cut_by_open_bounds(closed: list[TimeWindow], opens: list[TimeWindow]) -> list[TimeWindow]:
    """Open bounds ("ab 15 Uhr", "before 12") narrow each other, then cut the closed ranges; a cut that
    leaves nothing keeps what was there (the closed ranges, else the open bounds)."""
    bound: TimeWindow | None = opens[0]
    for w in opens[1:]:
        bound = intersect(bound, w) if bound else None
    if bound is None:
        return closed or opens
    if closed:
        return [x for x in (intersect(c, bound) for c in closed) if x] or closed
    return [bound]


def plus_hour(t: time) -> time | None:
    return None if t.hour == 23 else time(t.hour + 1, t.minute)


def widen_for(exact: time, windows: list[TimeWindow]) -> list[TimeWindow]:
    """ "morgens um 7": the wished time stays allowed even outside the daypart's usual window."""
    if not windows or any(w.contains(exact) and (w.end is None or exact < w.end) for w in windows):
        return windows
    w = windows[0]
    start = exact if w.start is not None and exact < w.start else w.start
    end = w.end
    if w.end is not None and exact >= w.end:
        end = plus_hour(exact)
    return [TimeWindow(start, end), *windows[1:]]
