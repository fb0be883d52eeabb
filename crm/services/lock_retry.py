"""Lock contention is a reason to try a unit of work again; every other database error is not.

On SQLite several processes share one file and a writer that waited out its busy timeout gets
"database is locked" (SQLITE_BUSY) or "database table is locked" (SQLITE_LOCKED). On PostgreSQL the
same situation ends as a serialization failure or a deadlock victim. The work was rolled back in every
case, so running it again (after a pause) is safe; a constraint violation or a read-only file is not
going to change, and is reported at once.
"""

from __future__ import annotations

import logging
import sqlite3

import sqlalchemy as sa
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

log = logging.getLogger(__name__)

SQLITE_BUSY, SQLITE_LOCKED = 5, 6
POSTGRES_RETRYABLE = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


def is_lock_contention(error: BaseException) -> bool:
    orig = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None:
            # Extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code in their low byte.
            return code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
        return "locked" in str(orig).lower()
    return getattr(orig, "sqlstate", None) in POSTGRES_RETRYABLE


def retrying_on_lock(attempts: int, wait_s: tuple[float, float], what: str) -> Retrying:
    """Iterate it and run the work in `with attempt:`; the work must leave nothing behind when it fails
    (roll back). `wait_s` is the first and the longest pause (exponential, with jitter so two waiting
    processes do not collide again). After `attempts` the last error is raised as it was."""

    def _log(state: RetryCallState) -> None:
        # No row content here: only where the work is and how it failed (no personal data in logs).
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: database busy (%s), try %d of %d in %.1f s",
            what,
            type(getattr(error, "orig", error)).__name__,
            state.attempt_number + 1,
            attempts,
            state.next_action.sleep if state.next_action else 0.0,
        )

    return Retrying(
        retry=retry_if_exception(is_lock_contention),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=wait_s[0], max=wait_s[1], jitter=wait_s[0]),
        before_sleep=_log,
        reraise=True,
    )
