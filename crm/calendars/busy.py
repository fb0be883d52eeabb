"""The reps' external busy times as the slot search reads them: from the local table only, merged in the
database.

A synced calendar holds hundreds of occurrences per rep in the offer horizon (bench/calendar_slots.py: 20 reps x
500 events, 18,000 rows), and the bridge searches in a turn. Overlapping or touching occurrences are joined
into blocks by one window-function query ("gaps and islands": an occurrence starts a new block when it
starts at or after the latest end of the occurrences before it), so the search reads a few blocks per rep,
not every row, and reads what the last sync wrote (never a calendar service during a turn).

The blocks are kept per process (the bridge's) for each rep, keyed by the state of the rep's connections
(ctag, sync token, window, counts-as-busy, status): a sync that changed anything changes that state in the
same transaction as the rows, so a turn after it reads the new blocks, and turns in between cost one small
query on calendar_connections."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from crm.extensions import db
from crm.models.calendars import CalendarBusy, CalendarConnection
from crm.models.types import UTCDateTime
from crm.tenancy.context import current_company_id

Blocks = list[tuple[datetime, datetime]]
# A miss loads this much more than asked, so the next turns (a later `now`) are still inside the window.
SLACK = timedelta(days=1)
CACHE_SIZE = 4096
_cache: OrderedDict[tuple[int | None, int], tuple[tuple, datetime, datetime, Blocks]] = OrderedDict()
_lock = threading.Lock()


def _versions(ids: list[int]) -> dict[int, tuple]:
    rows = db.session.execute(
        sa.select(
            CalendarConnection.user_id,
            CalendarConnection.id,
            CalendarConnection.ctag,
            CalendarConnection.sync_token,
            CalendarConnection.expanded_until,
            CalendarConnection.counts_as_busy,
            CalendarConnection.status,
        )
        .where(CalendarConnection.user_id.in_(ids))
        .order_by(CalendarConnection.id)
    ).all()
    out: dict[int, tuple] = {}
    for user_id, *state in rows:
        if user_id is not None:
            out[user_id] = out.get(user_id, ()) + (tuple(str(v) for v in state),)
    return out


def busy_blocks(user_ids: Iterable[int], start: datetime, end: datetime) -> dict[int, Blocks]:
    """{user id: sorted, disjoint (start, end) blocks} of the users' counted calendars overlapping [start, end)."""
    ids = list(user_ids)
    out: dict[int, Blocks] = {uid: [] for uid in ids}
    if not ids:
        return out
    company_id = current_company_id()
    versions = _versions(ids)
    missing: list[int] = []
    with _lock:
        for uid, version in versions.items():
            hit = _cache.get((company_id, uid))
            if hit is not None and hit[0] == version and hit[1] <= start and end <= hit[2]:
                _cache.move_to_end((company_id, uid))
                out[uid] = [(s, e) for s, e in hit[3] if e > start and s < end]
            else:
                missing.append(uid)
    if missing:
        loaded = _load(missing, start, end + SLACK)
        with _lock:
            for uid in missing:
                _cache[(company_id, uid)] = (versions[uid], start, end + SLACK, loaded[uid])
                out[uid] = [(s, e) for s, e in loaded[uid] if e > start and s < end]
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return out


def _load(ids: list[int], start: datetime, end: datetime) -> dict[int, Blocks]:
    out: dict[int, Blocks] = {uid: [] for uid in ids}
    where = [
        CalendarBusy.user_id.in_(ids),
        CalendarConnection.counts_as_busy.is_(True),
        CalendarBusy.ends_at > start,
        CalendarBusy.starts_at < end,
    ]
    company_id = current_company_id()
    if company_id is not None:  # the ORM adds it too; explicit, as this is a nested core query
        where.append(CalendarBusy.company_id == company_id)
    order = (CalendarBusy.starts_at, CalendarBusy.ends_at)
    rows = (
        sa.select(
            CalendarBusy.user_id.label("user_id"),
            CalendarBusy.starts_at.label("s"),
            CalendarBusy.ends_at.label("e"),
            sa.func.max(CalendarBusy.ends_at)
            .over(partition_by=CalendarBusy.user_id, order_by=order, rows=(None, -1))
            .label("reach"),
        )
        .join(CalendarConnection, CalendarConnection.id == CalendarBusy.connection_id)
        .where(*where)
        .subquery()
    )
    starts_block = sa.case((sa.and_(rows.c.reach.is_not(None), rows.c.s <= rows.c.reach), 0), else_=1)
    numbered = sa.select(
        rows.c.user_id,
        rows.c.s,
        rows.c.e,
        sa.func.sum(starts_block)
        .over(partition_by=rows.c.user_id, order_by=(rows.c.s, rows.c.e), rows=(None, 0))
        .label("block"),
    ).subquery()
    blocks = sa.select(
        numbered.c.user_id,
        sa.type_coerce(sa.func.min(numbered.c.s), UTCDateTime()).label("s"),
        sa.type_coerce(sa.func.max(numbered.c.e), UTCDateTime()).label("e"),
    ).group_by(numbered.c.user_id, numbered.c.block)
    for user_id, s, e in db.session.execute(blocks):
        out[user_id].append((s, e))
    for intervals in out.values():
        intervals.sort()
    return out
