"""The KPI report's SQL: SQLAlchemy Core selects with GROUP BY that return a few hundred or thousand rows
whatever the table size (crm.reports.kpis explains the approach). Only the two lists (critical calls,
follow-up potential) return rows, bounded by LIMIT."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import aliased

from crm.extensions import db
from crm.models import (
    Appointment,
    AppointmentStatus,
    AuditEntry,
    Campaign,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    User,
)
from crm.models.types import UTCDateTime
from crm.reports.kpis.model import (
    ANSWERED_OUTCOMES,
    CRITICAL_LIMIT,
    EMAIL_BOUNCED,
    EMAIL_DELIVERED,
    EMAIL_OPENED,
    FOLLOW_UP_OUTCOMES,
    FOLLOW_UPS_PER_REP,
    SENTIMENTS,
    TREND_DAYS,
    WANTED_OUTCOMES,
    CriticalCall,
)
from crm.reports.periods import Period
from workflows.vocabulary import CallOutcome, CallStatus

# ------------------------------------------------------------------------------------------ SQL bits

CALL_TS = sa.func.coalesce(Interaction.started_at, Interaction.created_at, type_=UTCDateTime())
END_STATUS = Interaction.data["end_status"].as_string()
ANSWERED = sa.or_(Interaction.data["answered"].as_boolean() == sa.true(), Interaction.outcome.in_(ANSWERED_OUTCOMES))
IS_CALL = sa.and_(Interaction.kind == InteractionKind.CALL, Interaction.direction == Direction.OUTBOUND)
IS_EMAIL = sa.and_(Interaction.kind == InteractionKind.EMAIL, Interaction.direction == Direction.OUTBOUND)
TALKED = sa.and_(ANSWERED, Interaction.duration_s.is_not(None))


def _status(value: str):
    return sa.or_(END_STATUS == value, Interaction.outcome == value)


def _n(condition) -> sa.ColumnElement:
    """COUNT of the rows meeting a condition (portable conditional aggregate)."""
    return sa.func.count(sa.case((condition, 1)))


def _sum(value, condition=None) -> sa.ColumnElement:
    return sa.func.sum(sa.case((condition, value)) if condition is not None else value)


def _hour(col, dialect: str) -> sa.ColumnElement:
    """The UTC hour a timestamp falls in (PostgreSQL: timestamp; SQLite: 'YYYY-MM-DD HH:00:00')."""
    if dialect == "postgresql":
        return sa.func.date_trunc("hour", sa.func.timezone("UTC", col))
    return sa.func.strftime("%Y-%m-%d %H:00:00", col)


def _window(ts, current: Period) -> sa.ColumnElement:
    return sa.case((ts >= current.start, "cur"), else_="prev")


def _in(ts, lo: datetime, hi: datetime) -> sa.ColumnElement:
    if ts is CALL_TS:
        # The same as lo <= coalesce(started_at, created_at) < hi, written on the plain columns so the
        # planner can use their statistics (no statistics exist for the expression: PostgreSQL then
        # guesses a few rows and picks a sort that spills to disk instead of a hash aggregate).
        return sa.or_(
            sa.and_(Interaction.started_at >= lo, Interaction.started_at < hi),
            sa.and_(Interaction.started_at.is_(None), Interaction.created_at >= lo, Interaction.created_at < hi),
        )
    return sa.and_(ts >= lo, ts < hi)


def as_frame(stmt, columns: Iterable[str] | None = None) -> pd.DataFrame:
    result = db.session.execute(stmt)
    rows = result.all()
    return pd.DataFrame(rows, columns=list(columns) if columns else list(result.keys()))


@dataclass(frozen=True)
class FollowUpFrames:
    """The follow-up leads as the report uses them: `counts` (window, owner_id, n) of both periods, and
    `latest` (lead_id, owner_id, at, outcome): the period's latest FOLLOW_UPS_PER_REP per owner, newest first."""

    counts: pd.DataFrame
    latest: pd.DataFrame

    @classmethod
    def empty(cls) -> FollowUpFrames:
        return cls(
            counts=pd.DataFrame(columns=["window", "owner_id", "n"]),
            latest=pd.DataFrame(columns=["lead_id", "owner_id", "at", "outcome"]),
        )


def _owner_key(owner: Any) -> int:
    # Lead owners are positive ids; -1 stands for "no owner" where pandas would drop a None group key.
    return -1 if owner is None or pd.isna(owner) else int(owner)


def _owner_back(frame: pd.DataFrame) -> pd.DataFrame:
    owners: list[Any] = [None if k == -1 else int(k) for k in frame["owner_key"]]
    return frame.assign(owner_id=owners)


def hourly_frame(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    if frame.empty:
        frame = frame.assign(hour_utc=pd.Series(dtype="datetime64[ns, UTC]"))
    elif "hour_utc" not in frame:
        frame = frame.assign(hour_utc=pd.to_datetime(frame["bucket"], utc=True))
    local = frame["hour_utc"].dt.tz_convert(tz)
    return frame.assign(local_day=local.dt.date, local_hour=local.dt.hour, weekday=local.dt.day_of_week)


def lead_name(first: str | None, last: str | None, company: str | None, lead_id: int) -> str:
    name = " ".join(p for p in (first, last) if p)
    return name or company or f"#{lead_id}"


# ---------------------------------------------------------------------------------------- the queries


class ReportQueries:
    """One report's queries, sharing the period bounds and the dialect. Each scans the interactions
    once: hours (calls and emails together), the call cube, talk durations, follow-ups, critical calls."""

    def __init__(self, period: Period, previous: Period, threshold: int) -> None:
        self.cur, self.prev, self.threshold = period, previous, threshold
        self.trend = period.trend_days(TREND_DAYS)
        self.lo = min(previous.start, self.trend.start)
        self.hi = period.end
        self.dialect = db.session.get_bind().dialect.name

    def _in_calls(self, lo: datetime, hi: datetime) -> sa.ColumnElement:
        """The calls of [lo, hi) (the fast path writes it for its indexes: crm.reports.kpis.fast)."""
        return _in(CALL_TS, lo, hi)

    # --- calls and emails per UTC hour ----------------------------------------------------------------

    def _rows(self, lo: datetime, hi: datetime, kinds: tuple[InteractionKind, ...], *extra, join_lead=False):
        """The outbound interactions of [lo, hi) with their flags computed once per row. OFFSET 0 keeps
        PostgreSQL from inlining the subquery, which would evaluate the JSON look-ups once per aggregate."""
        columns = [
            Interaction.kind.label("kind"),
            sa.case((ANSWERED, 1), else_=0).label("answered"),
            sa.func.coalesce(END_STATUS, "").label("end_status"),
            sa.func.coalesce(Interaction.outcome, "").label("outcome_raw"),
            sa.func.coalesce(Interaction.outcome, END_STATUS, "pending").label("outcome"),
            sa.func.coalesce(Interaction.sentiment, "unknown").label("sentiment"),
            Interaction.duration_s.label("duration"),
            Interaction.status.label("status"),
            *extra,
        ]
        stmt = sa.select(*columns)
        if join_lead:
            # ORM entities, not tables: the company criteria (crm.tenancy.orm) of an outer-joined entity go
            # into its ON clause; on a plain table they would land in WHERE and drop the leads with no campaign.
            stmt = (
                stmt.select_from(Interaction)
                .join(Lead, Lead.id == Interaction.lead_id)
                .outerjoin(Campaign, Campaign.id == Lead.campaign_id)
            )
        return (
            stmt.where(Interaction.direction == Direction.OUTBOUND, Interaction.kind.in_(kinds), _in(CALL_TS, lo, hi))
            .offset(0)
            .subquery("r")
        )

    @staticmethod
    def _call_counts(r) -> list:
        answered = r.c.answered == 1
        talked = sa.and_(answered, r.c.duration.is_not(None))

        def status(value: str):
            return sa.or_(r.c.end_status == value, r.c.outcome_raw == value)

        return [
            _n(answered).label("answered"),
            _n(status(CallStatus.VOICEMAIL)).label("voicemail"),
            _sum(r.c.duration, talked).label("talk_sum"),
            _n(talked).label("talk_n"),
            _n(status(CallStatus.NO_ANSWER)).label("no_answer"),
            _n(status(CallStatus.BUSY)).label("busy"),
            _n(status(CallStatus.FAILED)).label("failed"),
            _n(r.c.outcome_raw.in_(WANTED_OUTCOMES)).label("wanted"),
            _n(r.c.outcome_raw == CallOutcome.BOOKED).label("booked"),
        ]

    # --- calls and emails per UTC hour ----------------------------------------------------------------

    def activity_hours(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(calls, emails) per UTC hour over [lo, hi), with conditional counts."""
        r = self._rows(
            self.lo,
            self.hi,
            (InteractionKind.CALL, InteractionKind.EMAIL),
            _hour(CALL_TS, self.dialect).label("bucket"),
        )
        answered = r.c.answered == 1
        stmt = sa.select(
            r.c.bucket,
            r.c.kind,
            sa.func.count().label("n"),
            *self._call_counts(r),
            *[
                _n(
                    sa.and_(answered, r.c.sentiment == s)
                    if s != "unknown"
                    else sa.and_(answered, r.c.sentiment.not_in(SENTIMENTS[:3]))
                ).label(f"sent_{s}")
                for s in SENTIMENTS
            ],
            _n(sa.or_(r.c.sentiment == "negative", r.c.outcome_raw == CallOutcome.DO_NOT_CALL)).label("critical"),
            _n(r.c.status.in_(EMAIL_DELIVERED)).label("delivered"),
            _n(r.c.status.in_(EMAIL_OPENED)).label("opened"),
            _n(r.c.status == "clicked").label("clicked"),
            _n(r.c.status.in_(EMAIL_BOUNCED)).label("bounced"),
            _n(r.c.status == "dropped").label("dropped"),
        ).group_by(r.c.bucket, r.c.kind)
        frame = hourly_frame(as_frame(stmt), self.cur.tz)
        kinds = frame["kind"].map(lambda k: getattr(k, "value", k)) if not frame.empty else frame["kind"]
        calls = frame[kinds == InteractionKind.CALL.value].rename(columns={"n": "placed"})
        emails = frame[kinds == InteractionKind.EMAIL.value].rename(columns={"n": "sent"})
        return calls, emails

    # --- the call cube: both periods by rep, provider, campaign, outcome and currency ----------------

    def call_cubes(self) -> dict[str, pd.DataFrame]:
        """The cube for each breakdown (owner, provider, campaign, outcome): here one cube serves them all."""
        cube = self.call_cube()
        return dict.fromkeys(("owner", "provider", "campaign", "outcome"), cube)

    def call_cube(self) -> pd.DataFrame:
        r = self._rows(
            self.prev.start,
            self.cur.end,
            (InteractionKind.CALL,),
            _window(CALL_TS, self.cur).label("window"),
            Lead.owner_id.label("owner_id"),
            Interaction.provider.label("provider"),
            campaign_label().label("campaign"),
            Interaction.currency.label("currency"),
            Interaction.cost_cents.label("cost_cents"),
            join_lead=True,
        )
        keys = [r.c.window, r.c.owner_id, r.c.provider, r.c.campaign, r.c.outcome, r.c.currency]
        stmt = sa.select(
            *keys,
            sa.func.count().label("calls"),
            *self._call_counts(r)[:4],
            sa.func.sum(r.c.cost_cents).label("cost"),
            sa.func.count(r.c.cost_cents).label("priced"),
        ).group_by(*keys)
        frame = as_frame(stmt)
        if frame.empty:
            return frame
        frame = frame.assign(
            wanted=frame["calls"].where(frame["outcome"].isin(WANTED_OUTCOMES), 0),
            booked=frame["calls"].where(frame["outcome"] == CallOutcome.BOOKED.value, 0),
        )
        return frame.astype(
            {"owner_id": "object", "provider": "object", "campaign": "object", "currency": "object"}
        ).replace({np.nan: None})

    def talk_durations(self) -> pd.DataFrame:
        window = _window(CALL_TS, self.cur).label("window")
        stmt = (
            sa.select(window, Interaction.duration_s.label("duration"), sa.func.count().label("n"))
            .where(IS_CALL, TALKED, self._in_calls(self.prev.start, self.cur.end))
            .group_by(window, Interaction.duration_s)
        )
        return as_frame(stmt)

    def critical_calls(self) -> list[CriticalCall]:
        owner = aliased(User)
        stmt = (
            sa.select(
                Interaction.id,
                Interaction.lead_id,
                Lead.first_name,
                Lead.last_name,
                Lead.company,
                owner.name,
                CALL_TS.label("at"),
                Interaction.provider,
                Interaction.outcome,
                Interaction.sentiment,
                Interaction.duration_s,
                Interaction.summary,
            )
            .join(Lead, Lead.id == Interaction.lead_id)
            .outerjoin(owner, owner.id == Lead.owner_id)
            .where(
                IS_CALL,
                self._in_calls(self.cur.start, self.cur.end),
                sa.or_(Interaction.sentiment == "negative", Interaction.outcome == CallOutcome.DO_NOT_CALL),
            )
            .order_by(CALL_TS.desc(), Interaction.id.desc())
            .limit(CRITICAL_LIMIT)
        )
        out = []
        for row in db.session.execute(stmt):
            summary = (row.summary or "").strip() or None
            if summary and len(summary) > 160:
                summary = summary[:159].rstrip() + "…"
            out.append(
                CriticalCall(
                    interaction_id=row.id,
                    lead_id=row.lead_id,
                    lead_name=lead_name(row.first_name, row.last_name, row.company, row.lead_id),
                    rep=row.name,
                    at=row.at,
                    provider=row.provider,
                    outcome=row.outcome,
                    sentiment=row.sentiment,
                    duration_s=row.duration_s,
                    summary=summary,
                )
            )
        return out

    def _follow_up_leads(self):
        """Leads (per period) with an interested/callback call and no booked call in the same period: lead_id,
        owner_id, window, at (the last such call), interested_at (the last interested call)."""
        window = _window(CALL_TS, self.cur).label("window")
        follow = Interaction.outcome.in_(FOLLOW_UP_OUTCOMES)
        last_at = sa.func.max(sa.case((follow, CALL_TS)), type_=UTCDateTime()).label("at")
        last_interested = sa.func.max(
            sa.case((Interaction.outcome == CallOutcome.INTERESTED, CALL_TS)), type_=UTCDateTime()
        ).label("interested_at")
        booked = _n(Interaction.outcome == CallOutcome.BOOKED)
        calls = (
            sa.select(Interaction.lead_id.label("lead_id"), window, last_at, last_interested)
            .where(
                IS_CALL,
                Interaction.outcome.in_((*FOLLOW_UP_OUTCOMES, CallOutcome.BOOKED.value)),
                self._in_calls(self.prev.start, self.cur.end),
            )
            .group_by(Interaction.lead_id, window.element)
            .having(sa.and_(booked == 0, _n(follow) > 0))
            .subquery("follow_calls")
        )
        # The owner is read once per lead found, not once per call (the monthly report over 1,000,000
        # interactions: 44,000 leads against 100,000 calls).
        return sa.select(
            calls.c.lead_id, Lead.owner_id.label("owner_id"), calls.c.window, calls.c.at, calls.c.interested_at
        ).join(Lead, Lead.id == calls.c.lead_id)

    def follow_ups(self) -> FollowUpFrames:
        """The follow-up leads: those of `_follow_up_leads` without an appointment (not cancelled) created in the
        same period. Counted per window and owner; the latest FOLLOW_UPS_PER_REP of the period per owner."""
        frame = as_frame(self._follow_up_leads(), ["lead_id", "owner_id", "window", "at", "interested_at"])
        if frame.empty:
            return FollowUpFrames.empty()
        appt_window = _window(Appointment.created_at, self.cur).label("window")
        booked_leads = {
            (int(lead), w)
            for lead, w in db.session.execute(
                sa.select(Appointment.lead_id, appt_window)
                .distinct()
                .where(
                    Appointment.lead_id.is_not(None),
                    Appointment.status != AppointmentStatus.CANCELLED,
                    _in(Appointment.created_at, self.prev.start, self.cur.end),
                )
            )
        }
        keep = [(int(lead), w) not in booked_leads for lead, w in zip(frame["lead_id"], frame["window"], strict=True)]
        frame = frame[keep]
        frame = frame.assign(
            at=pd.to_datetime(frame["at"], utc=True),
            outcome=np.where(
                frame["at"] == frame["interested_at"],
                CallOutcome.INTERESTED.value,
                CallOutcome.CALLBACK_REQUESTED.value,
            ),
            owner_id=frame["owner_id"].astype("object").where(frame["owner_id"].notna(), None),
        )
        counts = (
            frame.assign(owner_key=frame["owner_id"].map(_owner_key))
            .groupby(["window", "owner_key"])
            .size()
            .reset_index(name="n")
        )
        current = frame[frame["window"] == "cur"].assign(owner_key=lambda f: f["owner_id"].map(_owner_key))
        latest = (
            current.sort_values(["at", "lead_id"], ascending=[False, True])
            .groupby("owner_key", sort=False)
            .head(FOLLOW_UPS_PER_REP)
        )
        return FollowUpFrames(
            counts=_owner_back(counts)[["window", "owner_id", "n"]],
            latest=_owner_back(latest)[["lead_id", "owner_id", "at", "outcome"]],
        )

    def appointments(self) -> pd.DataFrame:
        window = _window(Appointment.created_at, self.cur).label("window")
        stmt = (
            sa.select(window, Appointment.owner_id, sa.func.count().label("n"))
            .where(
                Appointment.status != AppointmentStatus.CANCELLED,
                _in(Appointment.created_at, self.prev.start, self.cur.end),
            )
            .group_by(window.element, Appointment.owner_id)
        )
        return as_frame(stmt, ["window", "owner_id", "n"])

    def unsubscribes(self) -> dict[str, int]:
        window = _window(AuditEntry.at, self.cur).label("window")
        stmt = (
            sa.select(window, sa.func.count(sa.distinct(AuditEntry.entity_id)))
            .where(
                AuditEntry.action == "lead.email_unsubscribed",
                AuditEntry.entity_type == "lead",
                _in(AuditEntry.at, self.prev.start, self.cur.end),
            )
            .group_by(window.element)
        )
        return {w: int(n) for w, n in db.session.execute(stmt)}

    # --- leads --------------------------------------------------------------------------------------

    def _live_leads(self, lo: datetime, hi: datetime):
        return sa.and_(Lead.merged_into_id.is_(None), _in(Lead.created_at, lo, hi))

    def lead_hours(self) -> pd.DataFrame:
        bucket = _hour(Lead.created_at, self.dialect).label("bucket")
        stmt = (
            sa.select(bucket, sa.func.count().label("leads"), _n(Lead.score > self.threshold).label("qualified"))
            .where(self._live_leads(self.lo, self.hi))
            .group_by(bucket)
        )
        return hourly_frame(as_frame(stmt), self.cur.tz)

    def lead_cube(self) -> pd.DataFrame:
        """Leads of both periods by source, campaign, score bucket and priority."""
        keys: list[sa.Label[Any]] = [
            _window(Lead.created_at, self.cur).label("window"),
            sa.func.coalesce(Lead.source, "").label("source"),
            campaign_label().label("campaign"),
            score_bucket().label("score_bucket"),
            sa.func.coalesce(sa.type_coerce(Lead.priority, sa.String), "unscored").label("priority"),
        ]
        stmt = (
            sa.select(*keys, sa.func.count().label("n"), _n(Lead.score > self.threshold).label("qualified"))
            .select_from(Lead)
            .outerjoin(Campaign, Campaign.id == Lead.campaign_id)  # an entity: see _rows
            .where(self._live_leads(self.prev.start, self.cur.end))
            .group_by(*[k.element for k in keys])
        )
        frame = as_frame(stmt)
        return frame.astype({"campaign": "object"}).replace({np.nan: None}) if not frame.empty else frame

    def lead_owners(self) -> pd.DataFrame:
        """Leads of the period by owner and chain stage."""
        keys: list[sa.Label[Any]] = [
            Lead.owner_id.label("owner_id"),
            sa.func.coalesce(Lead.chain_stage, "none").label("stage"),
        ]
        stmt = (
            sa.select(*keys, sa.func.count().label("n"))
            .where(self._live_leads(self.cur.start, self.cur.end))
            .group_by(*[k.element for k in keys])
        )
        frame = as_frame(stmt)
        return frame.astype({"owner_id": "object"}).replace({np.nan: None}) if not frame.empty else frame


def campaign_label() -> sa.ColumnElement:
    """A lead's campaign: the calling campaign it is assigned to, else its utm_campaign."""
    return sa.func.coalesce(Campaign.name, Lead.utm_campaign)


def score_bucket() -> sa.ColumnElement:
    return sa.case((Lead.score.is_(None), -1), (Lead.score >= 90, 9), else_=Lead.score // 10)
