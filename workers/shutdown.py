"""How long a stopping worker lets its running activities finish before cancelling them.

docker-compose gives every app service `stop_grace_period: 30s` between SIGTERM and SIGKILL. A worker
that cancelled its activities at once (the SDK's default of 0 s) threw away a PDF half rendered or a
CRM write half done, to be retried elsewhere; one that waited the full 30 s would be killed mid-wait.
So the default is 25 s: activities finish, the process exits, and 5 s remain for the SDK's own shutdown.
LEADCHAIN_WORKER_SHUTDOWN_GRACE_S changes it (keep it below the container's stop_grace_period).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

ENV_VAR = "LEADCHAIN_WORKER_SHUTDOWN_GRACE_S"
DEFAULT_GRACE_S = 25.0


def worker_shutdown_grace_s(env: Mapping[str, str] | None = None) -> float:
    raw = (os.environ if env is None else env).get(ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_GRACE_S
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{ENV_VAR} must be a number of seconds, got {raw!r}") from None
    if not 0 <= value <= 3600:
        raise SystemExit(f"{ENV_VAR} must be between 0 and 3600 seconds, got {raw!r}")
    return value


def graceful_shutdown_timeout(env: Mapping[str, str] | None = None) -> timedelta:
    """The value for temporalio's Worker(graceful_shutdown_timeout=...)."""
    return timedelta(seconds=worker_shutdown_grace_s(env))
