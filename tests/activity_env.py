"""An ActivityEnvironment whose attempt has just started, with the production start-to-close timeout.

temporalio's default test info says the attempt started at the Unix epoch with a 1 s timeout: the dial
window (activities.provider_activities.dial_window_s) would be long closed and no call would be dialled."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from temporalio.testing import ActivityEnvironment

from workflows.payloads import ChainSettings


def activity_env(start_to_close_s: float | None = None) -> ActivityEnvironment:
    env = ActivityEnvironment()
    seconds = start_to_close_s if start_to_close_s is not None else ChainSettings().provider_activity_timeout_s
    env.info = dataclasses.replace(
        env.info, started_time=datetime.now(UTC), start_to_close_timeout=timedelta(seconds=seconds)
    )
    return env
