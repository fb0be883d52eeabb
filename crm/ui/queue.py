"""GET /queue : the call queue (in progress, scheduled retries, waiting for the calling window, failed),
for the leads the user may see. Built from the CRM's records, not from Temporal (crm.ui.queue_queries
says how each time is known)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from crm.models.types import utcnow
from crm.ui import queue_queries as q
from crm.ui.access import any_role, user
from crm.ui.dashboard import ui_formatter
from crm.ui.i18n import _
from crm.ui.queue_callbacks import callbacks_owed

bp = Blueprint("queue", __name__)


def sections(queue: q.CallQueue, callbacks: list[q.QueueRow] | None = None) -> list[dict]:
    return [
        {
            "key": "in_progress",
            "title": _("Calls in progress"),
            "when": _("Started"),
            "rows": queue.in_progress,
            "empty": _("No call is in progress."),
        },
        {
            "key": "retries",
            "title": _("Scheduled retries"),
            "when": _("Retry at"),
            "rows": queue.retries,
            "empty": _("No retry is scheduled."),
        },
        {
            "key": "waiting_for_window",
            "title": _("Waiting for a calling window"),
            "when": _("Window opens"),
            "rows": queue.waiting_for_window,
            "empty": _("No lead is waiting for calling hours."),
        },
        {
            "key": "failed",
            "title": _("Failed calls (last 7 days)"),
            "when": _("Failed at"),
            "rows": queue.failed,
            "empty": _("No call failed."),
        },
        {
            "key": "callbacks_owed",
            "title": _("Callbacks owed"),
            "when": _("Due"),
            "rows": callbacks or [],
            "empty": _("No inbound caller is waiting for a callback."),
        },
    ]


@bp.get("/queue")
@any_role
def index():
    now = utcnow()
    queue = q.call_queue(user(), now, delay_s=q.retry_delay_s(current_app.config["LEADCHAIN"].chain))
    return render_template(
        "ui/queue/index.html",
        sections=sections(queue, callbacks_owed(user())),
        fmt=ui_formatter(),
        total=queue.total,
        now=now,
    )
