"""The report's fast path: the hourly figures and the call breakdowns are sums over `interaction_rollups`
(migration 0029: per company and UTC hour, kept by triggers), a few thousand rows for a month instead of the
period's interactions; the remaining look-ups (talk times, follow-ups, critical calls) read interactions
through partial indexes. Every figure equals the plain queries' (crm.reports.kpis.queries), which stay as the
reference: tests/reports/test_fast_path.py compares the two on both backends."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from crm.models import Appointment, AppointmentStatus, Campaign, Interaction, InteractionKind
from crm.models.report_rollups import MEASURES, InteractionRollup
from crm.reports.kpis.model import FOLLOW_UPS_PER_REP
from crm.reports.kpis.queries import (
    CALL_TS,
    IS_CALL,
    TALKED,
    FollowUpFrames,
    ReportQueries,
    as_frame,
    hourly_frame,
)
from crm.reports.periods import Period
from workflows.vocabulary import CallOutcome

R = InteractionRollup
CUBE_MEASURES = ("answered", "voicemail", "talk_sum", "talk_n", "wanted", "booked")
CUBE_KEYS = {"owner": "owner_id", "provider": "provider", "campaign": "campaign", "outcome": "outcome"}


def _hour(moment: datetime) -> int:
    # Period bounds are whole UTC hours (crm.reports.kpis: Europe/Berlin is whole hours from UTC).
    return int(moment.timestamp()) // 3600


def _total(column: str) -> sa.ColumnElement:
    return sa.cast(sa.func.sum(getattr(R, column)), sa.BigInteger).label(column)


def _decoded(column) -> sa.ColumnElement:
    """A '' / '=value' key back to NULL / value."""
    return sa.case((column == "", sa.null()), else_=sa.func.substr(column, 2))


class FastReportQueries(ReportQueries):
    def _range(self, lo: datetime, hi: datetime):
        return sa.and_(R.hour >= _hour(lo), R.hour < _hour(hi))

    def _window(self):
        return sa.case((R.hour >= _hour(self.cur.start), "cur"), else_="prev")

    def activity_hours(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        stmt = (
            sa.select(R.hour, R.kind, *[_total(m) for m in MEASURES if m not in ("cost", "priced")])
            .where(R.dim == "", self._range(self.lo, self.hi))
            .group_by(R.hour, R.kind)
        )
        frame = as_frame(stmt)
        frame = frame.assign(hour_utc=pd.to_datetime(frame["hour"].astype("int64") * 3600, unit="s", utc=True))
        frame = hourly_frame(frame.drop(columns=["hour"]), self.cur.tz)
        calls = frame[frame["kind"] == InteractionKind.CALL.value].rename(columns={"n": "placed"})
        emails = frame[frame["kind"] == InteractionKind.EMAIL.value].rename(columns={"n": "sent"})
        return calls, emails

    def call_cubes(self) -> dict[str, pd.DataFrame]:
        """The call cube's sums per dimension (owner, provider, campaign, outcome), each by window and currency:
        every consumer of the cube sums over all keys but one."""
        window = self._window().label("window")
        measures = [
            sa.cast(sa.func.sum(R.n), sa.BigInteger).label("calls"),
            *[_total(m) for m in CUBE_MEASURES],
            sa.cast(sa.func.sum(R.cost), sa.BigInteger).label("cost"),
            sa.cast(sa.func.sum(R.priced), sa.BigInteger).label("priced"),
        ]
        currency = _decoded(R.currency).label("currency")
        where = (R.kind == InteractionKind.CALL.value, self._range(self.prev.start, self.cur.end))
        keys: dict[str, sa.ColumnElement] = {
            "owner": sa.case((R.key_int == 0, sa.null()), else_=R.key_int).label("owner_id"),
            "provider": _decoded(R.key_text).label("provider"),
            "outcome": _decoded(R.key_text).label("outcome"),
        }
        cubes = {}
        for dim, key in keys.items():
            stmt = sa.select(window, key, currency, *measures).where(R.dim == dim, *where)
            cubes[dim] = self._cube(as_frame(stmt.group_by(window, key, currency)), CUBE_KEYS[dim])
        # The campaign's label as the plain query has it: the campaign's name, else the lead's utm_campaign.
        label = sa.func.coalesce(Campaign.name, _decoded(R.key_text)).label("campaign")
        stmt = (
            sa.select(window, label, currency, *measures)
            .select_from(R)
            .outerjoin(Campaign, Campaign.id == R.key_int)  # an entity: its company criteria go into ON
            .where(R.dim == "campaign", *where)
            .group_by(window, label, currency)
        )
        cubes["campaign"] = self._cube(as_frame(stmt), "campaign")
        return cubes

    @staticmethod
    def _cube(frame: pd.DataFrame, key: str) -> pd.DataFrame:
        if frame.empty:
            return frame
        frame = frame[frame["calls"] != 0]  # rows whose calls all went elsewhere since
        frame = frame.assign(cost=frame["cost"].where(frame["priced"] > 0, np.nan))
        return frame.astype({key: "object", "currency": "object"}).replace({np.nan: None})

    # The look-ups on interactions: the time condition on the expression itself, so the partial indexes
    # (company_id, coalesce(started_at, created_at)) serve it.
    def _in_calls(self, lo: datetime, hi: datetime):
        return sa.and_(CALL_TS >= lo, CALL_TS < hi)

    def talk_durations(self) -> pd.DataFrame:
        """As the plain method's (window, duration, n), grouped by the duration alone with a count per window:
        PostgreSQL estimates the groups from the duration's statistics (a few hundred) and hashes them,
        where grouping by the window's CASE as well made it expect a hundred thousand groups and sort."""
        current = CALL_TS >= self.cur.start
        stmt = (
            sa.select(
                Interaction.duration_s.label("duration"),
                sa.func.count().filter(current).label("cur"),
                sa.func.count().filter(sa.not_(current)).label("prev"),
            )
            .where(IS_CALL, TALKED, self._in_calls(self.prev.start, self.cur.end))
            .group_by(Interaction.duration_s)
        )
        wide = as_frame(stmt)
        long = wide.melt(id_vars=["duration"], value_vars=["cur", "prev"], var_name="window", value_name="n")
        return long.loc[long["n"] > 0, ["window", "duration", "n"]].reset_index(drop=True)

    def follow_ups(self) -> FollowUpFrames:
        """As the plain method's, added up in the database: the counts per window and owner and the latest few
        per owner come back (a few dozen rows), not every follow-up lead of both periods (44,000 rows and half
        a second of Python in the monthly report over 1,000,000 interactions)."""
        leads = self._follow_up_leads().subquery("follow_leads")
        appt_window = sa.case((Appointment.created_at >= self.cur.start, "cur"), else_="prev")
        booked = (
            sa.select(Appointment.id)
            .where(
                Appointment.lead_id == leads.c.lead_id,
                Appointment.status != AppointmentStatus.CANCELLED,
                Appointment.created_at >= self.prev.start,
                Appointment.created_at < self.cur.end,
                appt_window == leads.c.window,
            )
            .exists()
        )
        kept = sa.select(leads).where(~booked).subquery("follow_kept")
        group = (kept.c.window, kept.c.owner_id)
        ranked = sa.select(
            *kept.c,
            sa.func.count().over(partition_by=group).label("n"),
            sa.func.row_number().over(partition_by=group, order_by=(kept.c.at.desc(), kept.c.lead_id)).label("rank"),
        ).subquery("follow_ranked")
        outcome = sa.case(
            (ranked.c.at == ranked.c.interested_at, CallOutcome.INTERESTED.value),
            else_=CallOutcome.CALLBACK_REQUESTED.value,
        )
        # One statement: every (window, owner) group's size on each of its first rows, and those rows.
        rows = as_frame(
            sa.select(
                ranked.c.window, ranked.c.owner_id, ranked.c.n, ranked.c.rank, ranked.c.lead_id, ranked.c.at,
                outcome.label("outcome"),
            ).where(ranked.c.rank <= FOLLOW_UPS_PER_REP),
            ["window", "owner_id", "n", "rank", "lead_id", "at", "outcome"],
        )  # fmt: skip
        if rows.empty:
            return FollowUpFrames.empty()
        rows = rows.assign(owner_id=rows["owner_id"].astype("object").where(rows["owner_id"].notna(), None))
        latest = rows[rows["window"] == "cur"]
        return FollowUpFrames(
            counts=rows.loc[rows["rank"] == 1, ["window", "owner_id", "n"]],
            latest=latest[["lead_id", "owner_id", "at", "outcome"]].assign(at=pd.to_datetime(latest["at"], utc=True)),
        )


def fast_queries(period: Period, previous: Period, threshold: int) -> FastReportQueries:
    return FastReportQueries(period, previous, threshold)
