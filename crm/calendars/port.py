"""The calendar-connection interface: what the sync, the write-out and the booking-time re-check ask of a
calendar service, whatever speaks it (CalDAV, Cal.com, Google, Microsoft).

Errors are typed so the caller can tell "the grant is gone" (the connection is broken and the admin must act;
the busy table keeps what it knew, never turning the rep "free") from "the service did not answer now" (try
again next round)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class CalendarError(Exception):
    """A calendar service's failure; the message names no secret and no personal data."""


class CalendarUnauthorized(CalendarError):
    """The credential was refused (revoked app password, expired grant, lost access): the connection is
    broken until someone reconnects it."""


class CalendarUnavailable(CalendarError):
    """Timeout, connection refused, 5xx: transient, retried on the next round."""


class SyncTokenInvalid(CalendarError):
    """The server no longer knows the stored sync token (RFC 6578 valid-sync-token): sync everything again."""


@dataclass(frozen=True)
class RemoteObject:
    """One calendar object as a sync reports it: its data, or None when it was deleted."""

    href: str
    etag: str | None
    ics: bytes | None


@dataclass(frozen=True)
class Changes:
    """What changed since the stored state. `full`: every object of the calendar is listed (initial sync or
    an expired token), so rows of objects not listed are gone."""

    objects: list[RemoteObject]
    full: bool
    ctag: str | None
    sync_token: str | None
    # A full listing of a service that lists only from a moment on (Cal.com's bookings): a CRM event ending
    # before it is not taken as deleted for being absent. None: everything is listed.
    listed_from: datetime | None = None


@dataclass(frozen=True)
class WriteResult:
    href: str
    etag: str | None
    # False when the event already existed (a retried write after the first one's PUT went through).
    created: bool


class CalendarPort(Protocol):
    def changes(self, ctag: str | None, sync_token: str | None) -> Changes | None:
        """Objects changed since (ctag, sync_token); None when the ctag says nothing changed. With no
        sync_token, every object (a full sync)."""
        ...

    def busy_objects(self, start: datetime, end: datetime) -> list[RemoteObject]:
        """The objects with an instance in [start, end) (both bounds always sent): the booking-time re-check."""
        ...

    def href_for(self, uid: str) -> str:
        """Where an event with this UID is written (a path, decoded)."""
        ...

    def get(self, uid: str) -> RemoteObject | None: ...

    def put(self, uid: str, ics: bytes, *, etag: str | None = None) -> WriteResult:
        """Create the event (If-None-Match: *), or with `etag` replace that version (If-Match). An existing
        event on create answers `created=False` with its current etag; a stale etag raises
        CalendarConflict."""
        ...

    def delete(self, uid: str) -> bool:
        """Delete the event; False when it was already gone."""
        ...


class CalendarConflict(CalendarError):
    """The event changed in the calendar since we last wrote or saw it (412 on If-Match)."""
