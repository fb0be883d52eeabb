"""Run some of the report's statements on a second database connection while the others run.

The monthly report's statements over 1,000,000 interactions take about 0.7 s one after the other, and the
two longest (the follow-ups and the talk-time frequencies: 0.4 s together) depend on nothing the rest
reads. Each statement waits on PostgreSQL most of its time, so the report's wall time shrinks when those two
run on their own connection beside the others (docs/kpis.md, "Two connections").

The side thread gets a copy of the caller's context variables (its company scope: the ORM's criteria and the
connection's row-level-security settings follow it) and an application context of its own, hence a session
and a connection of its own; the session is removed when the work ends. An exception is raised in the caller
when it asks for the result."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from flask import current_app

from crm.extensions import db

T = TypeVar("T")

# Shared by every report of the process: a report uses one side thread at a time, and a few reports at once
# (the dashboard's, a scheduled one) queue here rather than open connections without bound.
_SIDE = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kpi-beside")


def beside(work: Callable[[], T]) -> Future[T]:
    """Start `work` on the side thread, in the caller's app, scope and context variables."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    context = contextvars.copy_context()

    def run() -> T:
        with app.app_context():
            try:
                return work()
            finally:
                db.session.remove()

    return _SIDE.submit(context.run, run)
