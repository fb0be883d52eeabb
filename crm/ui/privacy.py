"""Data-subject requests and retention, for admins (docs/privacy.md): open an export or erasure request for
a person found by email, phone or lead id; follow its steps and due date; download an export once; set the
company's retention periods.

The request's workflow is started at once; the page shows what each step did where, as the workflow writes
it. The export archive is handed out once, then dropped from the database: the download is audited and a
second one is refused (410)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime

from crm.errors import Unavailable
from crm.extensions import db
from crm.models import PrivacyRequest
from crm.models.types import utcnow
from crm.privacy import launch, requests, retention
from crm.privacy.subjects import SubjectNotFound, SubjectQuery, find_person
from crm.services import audit
from crm.ui import privacy_labels as labels
from crm.ui.access import admin_only, user
from crm.ui.i18n import _

bp = Blueprint("privacy", __name__, url_prefix="/privacy")
DIGITS = re.compile(r"[0-9]{1,10}")
MAX_ID = 2**31 - 1
FORM_FIELDS = ("kind", "email", "phone", "lead_id", "requester", "received_via", "identity_check")


@bp.context_processor
def _helpers() -> dict:
    return {
        "when": lambda value: format_datetime(value, "short") if value else "",
        "labels": labels,
        "tr": lambda table, key: _(table.get(key, key)),
    }


def _actor() -> str:
    return f"user:{user().id}"


def _page(form: dict, problems: list[str], status: int = 200):
    found = db.session.scalars(sa.select(PrivacyRequest).order_by(PrivacyRequest.id.desc()).limit(100)).all()
    return render_template(
        "ui/privacy/index.html",
        found=found,
        form=form,
        problems=problems,
        periods=retention.periods(),
        defaults=retention.DEFAULTS,
        now=utcnow(),
    ), status


@bp.get("/requests")
@admin_only
def index():
    """Every request (newest first) with its due date, the form for a new one, the retention periods."""
    return _page({}, [])


def _problems(form: dict[str, str]) -> tuple[SubjectQuery | None, list[str]]:
    problems = []
    lead_id = None
    if form["lead_id"]:
        # ASCII digits only ("²".isdigit() is true, int() refuses it), and within the id column's range.
        if not DIGITS.fullmatch(form["lead_id"]) or int(form["lead_id"]) > MAX_ID:
            problems.append(_("Lead id: a number."))
        else:
            lead_id = int(form["lead_id"])
    query = SubjectQuery(email=form["email"] or None, phone=form["phone"] or None, lead_id=lead_id)
    errors = query.problems(current_region())
    errors.update(requests.validate(form["kind"], form["requester"], form["received_via"], form["identity_check"]))
    names = {
        "email": _("Email"),
        "phone": _("Phone"),
        "kind": _("Type"),
        "requester": _("Who asked"),
        "received_via": _("Received by"),
        "identity_check": _("Identity check"),
    }
    problems += [f"{names[field]}: {'; '.join(messages)}" for field, messages in errors.items()]
    return (None if problems else query), problems


def current_region() -> str:
    from flask import current_app

    return str(current_app.config["LEADCHAIN"].default_phone_region)


@bp.post("/requests")
@admin_only
def open_request():
    """Find the person, record the request and start its workflow."""
    form = {k: (request.form.get(k) or "").strip() for k in FORM_FIELDS}
    query, problems = _problems(form)
    if query is None:
        return _page(form, problems, 422)
    try:
        lead_ids = find_person(query, region=current_region())
    except SubjectNotFound:
        return _page(form, [_("No lead record matches what you entered.")], 404)
    opened = requests.open_request(
        form["kind"],
        lead_ids,
        requester=form["requester"],
        received_via=form["received_via"],
        identity_check=form["identity_check"],
        actor=_actor(),
    )
    db.session.commit()
    try:
        launch.start_from_web(opened)
        db.session.commit()
    except Unavailable:
        # The request is recorded; its workflow can be started again from its page once Temporal answers.
        flash(_("The request is recorded, but its workflow could not be started now: try again."), "error")
    return redirect(url_for("privacy.show", request_id=opened.id))


def _request(request_id: int) -> PrivacyRequest:
    found = db.session.get(PrivacyRequest, request_id)
    if found is None:
        abort(404)
    return found


@bp.get("/requests/<int:request_id>")
@admin_only
def show(request_id: int):
    """One request: who asked, the check, the due date, and each step's result."""
    found = _request(request_id)
    return render_template("ui/privacy/show.html", req=found, steps=requests.steps(found.id), now=utcnow())


@bp.post("/requests/<int:request_id>/start")
@admin_only
def start(request_id: int):
    """Start (again) a request whose workflow did not start or failed."""
    found = _request(request_id)
    if found.status not in ("open", "failed"):
        abort(409)
    try:
        launch.start_from_web(found)
        db.session.commit()
    except Unavailable:
        flash(_("The workflow could not be started now: try again."), "error")
    return redirect(url_for("privacy.show", request_id=found.id))


@bp.post("/requests/<int:request_id>/download")
@admin_only
def download(request_id: int):
    """The export archive, once: it is dropped from the database as it is handed out."""
    found = db.session.get(PrivacyRequest, request_id, with_for_update=True)
    if found is None or found.kind != "export":
        abort(404)
    if found.downloaded_at is not None:
        abort(410)
    if found.archive is None:
        abort(409)  # not built yet
    content = found.archive
    found.archive, found.downloaded_at, found.downloaded_by = None, utcnow(), _actor()
    audit.record(_actor(), "privacy.export_downloaded", "privacy_request", found.id, after={"bytes": len(content)})
    db.session.commit()
    return Response(
        content,
        mimetype="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="personal-data-request-{found.id}.zip"',
            "Cache-Control": "no-store",
        },
    )


@bp.post("/retention")
@admin_only
def set_retention():
    """Store the company's retention periods (an empty field: the default)."""
    values: dict[str, int | None] = {}
    problems = []
    for key in retention.DEFAULTS:
        raw = (request.form.get(key) or "").strip()
        if not raw:
            values[key] = None
        elif DIGITS.fullmatch(raw) and 0 < int(raw) <= 3650:
            values[key] = int(raw)
        else:
            problems.append(_("Retention periods: whole days between 1 and 3650."))
    if problems:
        return _page({}, sorted(set(problems)), 422)
    retention.set_periods(**values)
    audit.record(_actor(), "privacy.retention_set", "retention_policy", None, after=values)
    db.session.commit()
    flash(_("Retention periods saved."), "success")
    return redirect(url_for("privacy.index"))
