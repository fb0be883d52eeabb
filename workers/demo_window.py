"""`LEADCHAIN_DEMO_ANYTIME=1`: a demo-only calling window (every day, all hours) for the local stack.

A newcomer starting `make up` on a Sunday evening would otherwise see every demo chain wait for Monday
09:00. The flag is turned into LEADCHAIN_CALLING_HOURS (and no public holidays) for the stack's processes
by the launcher; the gate itself knows nothing about demos. It is refused outside the local stack: with
any database other than SQLite (production runs on PostgreSQL) the launcher and every worker stop with
a message instead of dialling real people at night.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

FLAG = "LEADCHAIN_DEMO_ANYTIME"
# The window's end is exclusive and a wall-clock time; 23:59:59.999999 is the last instant of a day.
ALL_HOURS = {"days": "mon-sun", "start": "00:00", "end": "23:59:59.999999"}
NOTICE = (
    "DEMO-ONLY CALLING WINDOW: every day, all hours, no public holidays (LEADCHAIN_DEMO_ANYTIME=1). "
    "Local demo only: real people must never be called like this."
)


class DemoAnytimeRefused(SystemExit):
    """The flag was set where it must not apply; SystemExit so the process ends with the message."""


def requested(env: Mapping[str, str]) -> bool:
    return env.get(FLAG, "").strip().lower() in ("1", "true", "yes", "on")


def check_allowed(env: Mapping[str, str]) -> None:
    """Raise DemoAnytimeRefused when the flag is set and the database is not the local SQLite file."""
    if not requested(env):
        return
    url = env.get("DATABASE_URL", "").strip()
    if url and not url.startswith("sqlite"):
        raise DemoAnytimeRefused(
            f"{FLAG}=1 is refused: it is for the local demo stack on SQLite only, and "
            "DATABASE_URL points at another database (production?). Unset it."
        )


def calling_hours_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables that give the stack's processes the demo window ({} without the flag)."""
    check_allowed(env)
    if not requested(env):
        return {}
    hours = {region: ALL_HOURS for region in ("default", "DE", "US")}
    return {"LEADCHAIN_CALLING_HOURS": json.dumps(hours), "LEADCHAIN_GERMAN_PUBLIC_HOLIDAYS": "false"}
