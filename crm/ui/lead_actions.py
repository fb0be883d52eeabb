"""What a rep does on the lead page. Every route is a CSRF-protected POST on a lead the user may see
(else 404); a good request redirects back to the lead page (PRG) with a flash message, bad input
re-renders the page with the field errors (422), and Temporal being down is a clear message, never a 500.

POST /leads/<id>/chain/<pause|resume|cancel>   steer the chain (chain_control, audited)
POST /leads/<id>/call-now                      ask the chain to call now; its handler re-runs the compliance gate
POST /leads/<id>/do-not-contact                effective at once in the CRM; the chain is told to stop
POST /leads/<id>/notes                         a note on the timeline
POST /leads/<id>/tasks                         a task (title, due, owner)
POST /leads/<id>/merge/<flag id>               merge the flagged duplicate into this lead
POST /leads/<id>/merge/<flag id>/dismiss       not a duplicate
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, request, url_for

from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind, Lead, PossibleDuplicate, Task
from crm.services import audit, chain_control, merge
from crm.temporal_gateway import ChainNotRunning, TemporalUnavailable
from crm.ui import lead_queries as q
from crm.ui.access import any_role, can_see, lead_or_404, user
from crm.ui.i18n import _
from crm.ui.leads import actor, helpers, render_lead
from workflows.vocabulary import TaskKind

log = logging.getLogger(__name__)
bp = Blueprint("lead_actions", __name__)
bp.context_processor(helpers)

NOTE_MAX = 10_000
TITLE_MAX = 300
DNC_REASON_MAX = 200
DUE_YEARS = (1900, 2999)


def _back(lead: Lead):
    return redirect(url_for("leads.show", lead_id=lead.id), code=303)


# ---------------------------------------------------------------- the chain

CHAIN_DONE = {
    "pause": lambda: _("The chain will pause."),
    "resume": lambda: _("The chain will resume."),
    "cancel": lambda: _("The chain is being cancelled."),
    "call_now": lambda: _("The chain will call now if the compliance check allows it."),
}


def _control(lead: Lead, action: str):
    if action == "call_now" and lead.do_not_contact:
        flash(_("This lead must not be contacted."), "error")
        return _back(lead)
    try:
        chain_control.control(lead, action, actor=actor())
    except ChainNotRunning:
        flash(_("This lead's chain is not running."), "warning")
    except TemporalUnavailable:
        db.session.rollback()
        flash(_("The workflow service is unreachable. Please try again later."), "error")
    else:
        flash(CHAIN_DONE[action](), "success")
    return _back(lead)


@bp.post("/leads/<int:lead_id>/chain/<any(pause, resume, cancel):action>")
@any_role
def chain(lead_id: int, action: str):
    return _control(lead_or_404(lead_id), action)


@bp.post("/leads/<int:lead_id>/call-now")
@any_role
def call_now(lead_id: int):
    return _control(lead_or_404(lead_id), "call_now")


@bp.post("/leads/<int:lead_id>/do-not-contact")
@any_role
def do_not_contact(lead_id: int):
    lead = lead_or_404(lead_id)
    reason = " ".join((request.form.get("reason") or "").split())
    if len(reason) > DNC_REASON_MAX:
        return render_lead(
            lead,
            status=422,
            form_name="dnc",
            form={"reason": reason},
            errors={"reason": _("At most %(num)d characters.", num=DNC_REASON_MAX)},
        )
    if lead.do_not_contact:
        flash(_("This lead is already marked do-not-contact."), "info")
        return _back(lead)
    stopped = chain_control.mark_do_not_contact(lead, reason=reason or "marked in the CRM", actor=actor())
    flash(_("Marked do-not-contact: no more calls or emails."), "success")
    if lead.chain_id and not stopped:
        flash(_("The chain could not be told to stop right now; it will not contact the lead anyway."), "warning")
    return _back(lead)


# ---------------------------------------------------------------- notes and tasks


@bp.post("/leads/<int:lead_id>/notes")
@any_role
def add_note(lead_id: int):
    lead = lead_or_404(lead_id)
    text = (request.form.get("text") or "").strip()
    error = (
        _("Please write a note.")
        if not text
        else _("At most %(num)d characters.", num=NOTE_MAX)
        if len(text) > NOTE_MAX
        else None
    )
    if error:
        return render_lead(lead, status=422, form_name="note", form={"text": text}, errors={"text": error})
    note = Interaction(
        lead_id=lead.id,
        kind=InteractionKind.NOTE,
        direction=Direction.INTERNAL,
        provider="ui",
        status="recorded",
        summary=text,
        created_by=actor(),
    )
    db.session.add(note)
    db.session.flush()
    audit.record(actor(), "note.added", "lead", lead.id, after={"interaction_id": note.id})
    db.session.commit()
    flash(_("The note has been added."), "success")
    return _back(lead)


def parse_due(raw: str, tz: str) -> datetime | None:
    """A datetime-local value ("2025-03-05T14:30") or a date, in the user's zone; returns UTC."""
    raw = raw.strip()
    zone = ZoneInfo(tz or "Europe/Berlin")
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            local = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d":
            local = local.replace(hour=9)
        if not DUE_YEARS[0] <= local.year <= DUE_YEARS[1]:
            # 0001-01-01 00:30 in Berlin is in year 0 in UTC (OverflowError), and a time near 9999-12-31
            # overflows when a page shows it in a zone east of UTC.
            raise ValueError(raw)
        return local.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))
    raise ValueError(raw)


@bp.post("/leads/<int:lead_id>/tasks")
@any_role
def add_task(lead_id: int):
    lead = lead_or_404(lead_id)
    who = user()
    form = {k: (request.form.get(k) or "").strip() for k in ("title", "due_at", "owner_id", "details")}
    errors: dict[str, str] = {}
    if not form["title"]:
        errors["title"] = _("Please give the task a title.")
    elif len(form["title"]) > TITLE_MAX:
        errors["title"] = _("At most %(num)d characters.", num=TITLE_MAX)
    if len(form["details"]) > NOTE_MAX:
        errors["details"] = _("At most %(num)d characters.", num=NOTE_MAX)
    due = None
    if form["due_at"]:
        try:
            due = parse_due(form["due_at"], who.timezone)
        except ValueError:
            errors["due_at"] = _("Please enter a date and time.")
    # Reps give tasks to themselves; managers and admins to anyone active.
    allowed = {str(uid) for uid, _name in q.assignable_users(who)}
    owner_raw = form["owner_id"] or str(who.id)
    if owner_raw not in allowed:
        errors["owner_id"] = _("Please choose a valid owner.")
    if errors:
        return render_lead(lead, status=422, form_name="task", form=form, errors=errors)
    task = Task(
        lead_id=lead.id,
        owner_id=int(owner_raw),
        kind=TaskKind.TODO,
        title=form["title"],
        details=form["details"] or None,
        due_at=due,
    )
    db.session.add(task)
    db.session.flush()
    audit.record(
        actor(),
        "task.created",
        "task",
        task.id,
        after={"lead_id": lead.id, "owner_id": task.owner_id, "due_at": due, "title": task.title},
    )
    db.session.commit()
    flash(_("The task has been added."), "success")
    return _back(lead)


# ---------------------------------------------------------------- duplicates


def _flag(lead: Lead, flag_id: int) -> tuple[PossibleDuplicate, Lead | None]:
    """A duplicate flag of `lead` and, while it is open, its other record visible to the user (else 404).
    A flag already merged or dismissed comes without the other record (which may be gone)."""
    flag = db.session.get(PossibleDuplicate, flag_id)
    if flag is None or lead.id not in (flag.lead_id, flag.candidate_id):
        abort(404)
    if flag.status != "open":
        return flag, None
    other = db.session.get(Lead, flag.candidate_id if flag.lead_id == lead.id else flag.lead_id)
    if other is None or not can_see(user(), other):
        abort(404)
    return flag, other


@bp.post("/leads/<int:lead_id>/merge/<int:flag_id>")
@any_role
def merge_duplicate(lead_id: int, flag_id: int):
    """Merge the flagged other record into this lead; this lead survives."""
    lead = lead_or_404(lead_id)
    flag, other = _flag(lead, flag_id)
    if other is None:
        flash(_("This duplicate has already been handled."), "info")
        return _back(lead)
    try:
        merge.merge(lead.id, other.id, actor=actor())
        db.session.commit()
    except merge.MergeError as e:
        db.session.rollback()
        log.info("merge of %s into %s refused: %s", other.id, lead.id, e)
        flash(_("These leads cannot be merged."), "error")
        return _back(lead)
    except sa.exc.IntegrityError:
        db.session.rollback()
        flash(_("These leads cannot be merged."), "error")
        return _back(lead)
    flash(_("Lead #%(other)d has been merged into this one.", other=other.id), "success")
    if other.chain_id:
        # The retired record's chain must not go on calling or mailing the same person.
        try:
            chain_control.control(other, "cancel", actor=actor())
        except (ChainNotRunning, TemporalUnavailable) as e:
            db.session.rollback()
            log.info("chain of merged lead %s not cancelled: %s", other.id, type(e).__name__)
    return _back(lead)


@bp.post("/leads/<int:lead_id>/merge/<int:flag_id>/dismiss")
@any_role
def dismiss_duplicate(lead_id: int, flag_id: int):
    lead = lead_or_404(lead_id)
    flag, other = _flag(lead, flag_id)
    if other is None:
        flash(_("This duplicate has already been handled."), "info")
    else:
        flag.status = "dismissed"
        audit.record(
            actor(),
            "duplicate.dismissed",
            "lead",
            lead.id,
            after={"possible_duplicate_id": flag.id, "other_id": other.id},
        )
        db.session.commit()
        flash(_("Marked as not a duplicate."), "success")
    return _back(lead)
