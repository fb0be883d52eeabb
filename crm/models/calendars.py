"""External calendars (issue 18): a rep's (or a branch's) connected calendar, the busy times synced from it, the
CRM appointments written out to it, and the rep's secret subscription feed.

* `CalendarConnection` names the calendar and where its credential lives (a Vault name, never the secret) and
  keeps the sync state (CalDAV ctag and sync token) and its health, so the UI can tell the admin a calendar is
  broken instead of the slot search silently treating it as free.
* `CalendarBusy` is the expanded local busy table: one row per occurrence (recurrences expanded to UTC
  intervals), keyed by the object's href so an incremental sync replaces exactly what changed. The bridge's
  slot search reads only this table during a call.
* `CalendarEvent` links an appointment to the event written for it (stable UID, href, etag, the times last
  written): how a retried write stays one event and how an external move or delete is recognised.
* `CalendarFeedToken` is a platform row like api_keys: the public feed URL carries the token, so the company
  is found from its hash before any company is bound (only the SHA-256 is stored)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import UTCDateTime, enum_column, utcnow
from crm.tenancy.owned import CompanyOwned


class CalendarKind(str, enum.Enum):
    CALDAV = "caldav"
    CALCOM = "calcom"
    GOOGLE = "google"
    MICROSOFT = "microsoft"


class CalendarStatus(str, enum.Enum):
    OK = "ok"
    BROKEN = "broken"
    SYNCING = "syncing"


class CalendarConnection(CompanyOwned, Model):
    __tablename__ = "calendar_connections"
    # A rep's calendar (user_id; its branch may be named too) or a branch's team calendar (branch_id only).
    __table_args__ = (sa.CheckConstraint("user_id IS NOT NULL OR branch_id IS NOT NULL", name="has_owner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    branch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("branches.id", ondelete="CASCADE"), index=True)
    kind: Mapped[CalendarKind] = mapped_column(enum_column(CalendarKind, "calendar_kind"))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    # The calendar collection's URL (CalDAV) or the provider's calendar id; never credentials in it.
    url: Mapped[str] = mapped_column(sa.String(1000))
    username: Mapped[str | None] = mapped_column(sa.String(320))
    # crm.secrets name of the app password / OAuth token (companies/<id>/calendars/<connection id>/...).
    secret_ref: Mapped[str | None] = mapped_column(sa.String(200))
    counts_as_busy: Mapped[bool] = mapped_column(sa.Boolean(), default=True)
    # Where the CRM writes its appointments (a rep has at most one such calendar in practice).
    write_bookings: Mapped[bool] = mapped_column(sa.Boolean(), default=True)
    status: Mapped[CalendarStatus] = mapped_column(
        enum_column(CalendarStatus, "calendar_status"), default=CalendarStatus.SYNCING
    )
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    ctag: Mapped[str | None] = mapped_column(sa.String(500))
    sync_token: Mapped[str | None] = mapped_column(sa.String(1000))
    # The busy table holds occurrences up to this moment; a sync past it re-expands everything.
    expanded_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CalendarBusy(CompanyOwned, Model):
    __tablename__ = "calendar_busy"
    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="positive_length"),
        sa.Index("ix_calendar_busy_user_window", "user_id", "starts_at", "ends_at"),
        sa.Index("ix_calendar_busy_connection_href", "connection_id", "href"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(sa.ForeignKey("calendar_connections.id", ondelete="CASCADE"))
    # The rep whose time it blocks; NULL for a branch's team calendar.
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uid: Mapped[str] = mapped_column(sa.String(500))
    href: Mapped[str] = mapped_column(sa.String(1000))
    etag: Mapped[str | None] = mapped_column(sa.String(200))
    # RECURRENCE-ID of the occurrence (UTC ISO) for a recurring event; NULL for a single one.
    recurrence_id: Mapped[str | None] = mapped_column(sa.String(64))
    all_day: Mapped[bool] = mapped_column(sa.Boolean(), default=False)


class CalendarEvent(CompanyOwned, Model):
    __tablename__ = "calendar_events"
    __table_args__ = (sa.UniqueConstraint("connection_id", "appointment_id", name="uq_calendar_events_appointment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(sa.ForeignKey("calendar_connections.id", ondelete="CASCADE"), index=True)
    appointment_id: Mapped[int] = mapped_column(sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True)
    uid: Mapped[str] = mapped_column(sa.String(500))
    href: Mapped[str] = mapped_column(sa.String(1000))
    etag: Mapped[str | None] = mapped_column(sa.String(200))
    # The times last written (or last seen in the calendar): a difference on sync is a move by the rep.
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted: Mapped[bool] = mapped_column(sa.Boolean(), default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CalendarFeedToken(Model):
    """A platform row (docs/tenancy.md): read by the public feed route before any company is bound."""

    __tablename__ = "calendar_feed_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # hex SHA-256 of the token (256 random bits: a plain hash suffices); the token is shown once.
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
