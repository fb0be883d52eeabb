"""Settings → pipeline (managers and admins): the board's stages (name, probability, order, retire), the list of
reasons a deal is won or lost, and after how many days in one stage a deal counts as stale.

GET  /settings/deals                          the page; it writes nothing (the defaults: a first deal, /defaults)
POST /settings/deals/defaults                 the default stages and reasons where the company has none
POST /settings/deals/stages                   a new stage (last on the board)
POST /settings/deals/stages/<id>              rename / re-weight a stage
POST /settings/deals/stages/<id>/move         one place earlier or later (direction: up, down)
POST /settings/deals/stages/<id>/retire       off the board; its open deals go to `move_to`
POST /settings/deals/reasons                  a new reason
POST /settings/deals/reasons/<id>             relabel, retire or restore a reason
POST /settings/deals/stale-days               the stale threshold

Every change goes through crm.services.deal_stages (validated before anything is written, audited). A bad
form is refused with 422 and the page says why at that form; nothing is stored."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from crm.extensions import db
from crm.models import DealStage, LostReason
from crm.services import deal_stages
from crm.services.deal_rules import DealError
from crm.ui.access import manager_only
from crm.ui.deal_forms import whole_number
from crm.ui.deal_messages import problem
from crm.ui.i18n import _
from crm.ui.leads import actor

bp = Blueprint("deal_settings", __name__, url_prefix="/settings/deals")


def _page(*, failed: str | None = None, message: str | None = None, status: int = 200):
    # Never seeded here: a GET and a refused POST write nothing ("Set up the defaults" does it).
    stages = deal_stages.active_stages()
    return render_template(
        "ui/deals/settings.html",
        stages=stages,
        needs_defaults=not stages or not deal_stages.active_reasons(),
        retired=db.session.scalars(
            db.select(DealStage).where(DealStage.active.is_(False)).order_by(DealStage.position, DealStage.id)
        ).all(),
        reasons=db.session.scalars(db.select(LostReason).order_by(LostReason.position, LostReason.id)).all(),
        stale_days=deal_stages.stale_days(),
        failed=failed,
        message=message,
    ), status


def _refused(where: str, error: DealError):
    db.session.rollback()
    return _page(failed=where, message=problem(error), status=422)


def _saved(text: str):
    flash(text, "success")
    return redirect(url_for("deal_settings.index"), code=303)


def _stage_or_404(stage_id: int) -> DealStage:
    stage = db.session.get(DealStage, stage_id)
    if stage is None:
        abort(404)
    return stage


def _number(name: str) -> int:
    """A whole number of the form; -1 (which every check refuses, naming the field) when it is none."""
    found = whole_number(request.form.get(name))
    return -1 if found is None else found


@bp.get("")
@manager_only
def index():
    return _page()


@bp.post("/defaults")
@manager_only
def set_up_defaults():
    """The default stages and reasons in the company's language, where it has none yet (the board's and
    this page's button); the board comes back when the button was the board's."""
    deal_stages.ensure_defaults()
    flash(_("The default stages and reasons are set up; rename or change them here."), "success")
    if request.form.get("from") == "board":
        return redirect(url_for("deals.board"), code=303)
    return redirect(url_for("deal_settings.index"), code=303)


@bp.post("/stages")
@manager_only
def add_stage():
    try:
        deal_stages.save_stage(actor=actor(), name=request.form.get("name", ""), probability=_number("probability"))
    except DealError as e:
        return _refused("new-stage", e)
    return _saved(_("Stage added at the end of the board."))


@bp.post("/stages/<int:stage_id>")
@manager_only
def save_stage(stage_id: int):
    stage = _stage_or_404(stage_id)
    try:
        deal_stages.save_stage(
            actor=actor(),
            name=request.form.get("name", ""),
            probability=_number("probability"),
            stage_id=stage.id,
        )
    except DealError as e:
        return _refused(f"stage-{stage.id}", e)
    return _saved(_("Stage saved."))


@bp.post("/stages/<int:stage_id>/move")
@manager_only
def move_stage(stage_id: int):
    stage = _stage_or_404(stage_id)
    order = [s.id for s in deal_stages.active_stages()]
    step = {"up": -1, "down": 1}.get(request.form.get("direction", ""))
    if stage.id not in order or step is None:
        return _refused(f"stage-{stage.id}", DealError("ids", "not an active stage or direction"))
    here = order.index(stage.id)
    there = here + step
    if not 0 <= there < len(order):
        return _saved(_("The stage already is at that end of the board."))
    order[here], order[there] = order[there], order[here]
    try:
        deal_stages.reorder_stages(order, actor=actor())
    except DealError as e:
        return _refused(f"stage-{stage.id}", e)
    return _saved(_("Stage moved."))


@bp.post("/stages/<int:stage_id>/retire")
@manager_only
def retire_stage(stage_id: int):
    stage = _stage_or_404(stage_id)
    try:
        deal_stages.retire_stage(stage.id, actor=actor(), move_to=whole_number(request.form.get("move_to")))
    except DealError as e:
        return _refused(f"stage-{stage.id}", e)
    return _saved(_("Stage retired; it is no longer on the board."))


@bp.post("/reasons")
@manager_only
def add_reason():
    try:
        deal_stages.save_reason(actor=actor(), label=request.form.get("label", ""))
    except DealError as e:
        return _refused("new-reason", e)
    return _saved(_("Reason added."))


@bp.post("/reasons/<int:reason_id>")
@manager_only
def save_reason(reason_id: int):
    reason = db.session.get(LostReason, reason_id)
    if reason is None:
        abort(404)
    try:
        deal_stages.save_reason(
            actor=actor(),
            label=request.form.get("label", ""),
            reason_id=reason.id,
            active=request.form.get("active") == "1",
        )
    except DealError as e:
        return _refused(f"reason-{reason.id}", e)
    return _saved(_("Reason saved."))


@bp.post("/stale-days")
@manager_only
def save_stale_days():
    try:
        deal_stages.set_stale_days(_number("stale_days"), actor=actor())
    except DealError as e:
        return _refused("stale-days", e)
    return _saved(_("Saved: a deal is stale after this many days in one stage."))
