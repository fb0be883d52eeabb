"""Wakes the outbox relay by the commit that gives it work, instead of at its next poll (issue 21).

On PostgreSQL the relay LISTENs on `leadchain_relay` over a connection of its own. PostgreSQL delivers a
NOTIFY on that channel when the notifying transaction commits (never for one rolled back):
- migration 0028's triggers send one for each statement that inserts into `lead_submissions` (a lead stored
  by the webhook, the API or an import) or `call_result_deliveries` (a call's result from the webhook);
- the chain's record_timeline step sends one when a lead leaves a busy stage, which frees a place in its
  company's admission budget (activities/relay_notify.py).

A notification carries no row data; the relay's pass reads its tables as on every poll. Notifications that
arrive during a pass ask for one more pass after it, so a burst costs about one pass per pass's duration.
The poll stays the safety net: for SQLite (no NOTIFY), for a notification sent while the listening
connection was down (it reconnects with a backoff, and passes once it is back), and for a budget freed by a
lease running out. The connection's address is the app's database URL; it is never logged.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from flask import Flask
from sqlalchemy.engine import make_url

from activities.relay_notify import CHANNEL

log = logging.getLogger(__name__)

RECONNECT_MAX_S = 30.0
# How long one wait for notifications lasts before the listener looks at `stop` again.
NOTIFY_WAIT_S = 5.0


class RelayWake:
    """The relay's wake-up: an event set by notifications (or by wake(), e.g. from tests)."""

    def __init__(self, conninfo: str | None) -> None:
        self.conninfo = conninfo
        self._event = asyncio.Event()
        self.notifications = 0  # received since start
        self.connected = False

    @classmethod
    def for_app(cls, app: Flask) -> RelayWake:
        """Listening on the app's database when it is PostgreSQL; else a wake-up only wake() sets."""
        uri = app.config.get("SQLALCHEMY_DATABASE_URI")
        if not uri:
            return cls(None)
        url = make_url(uri)
        if url.get_backend_name() != "postgresql":
            return cls(None)
        return cls(url.set(drivername="postgresql").render_as_string(hide_password=False))

    def wake(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, stop: asyncio.Event, timeout: float, *, wakeable: bool = True) -> None:
        """Until `stop`, a wake-up (when `wakeable`) or `timeout` seconds, whichever comes first."""
        waits = [asyncio.ensure_future(stop.wait())]
        if wakeable:
            waits.append(asyncio.ensure_future(self._event.wait()))
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def listen(self, stop: asyncio.Event) -> None:
        """LISTEN until `stop` (or cancellation), reconnecting after a failure. Returns at once without
        PostgreSQL."""
        if self.conninfo is None:
            return
        delay = 1.0
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.connected, delay = True, 1.0
                    # Whatever was committed while nobody listened: one pass finds it.
                    self.wake()
                    while not stop.is_set():
                        async for _ in conn.notifies(timeout=NOTIFY_WAIT_S):
                            self.notifications += 1
                            self.wake()
            except (psycopg.Error, OSError) as e:
                # The poll goes on meanwhile; only the prompt start waits for the connection.
                log.warning(
                    "relay wake-up: listening connection lost (%s); retrying in %.0f s", type(e).__name__, delay
                )
            finally:
                self.connected = False
            await self.wait(stop, delay, wakeable=False)
            delay = min(delay * 2, RECONNECT_MAX_S)
