"""Deals in the UI (issue 23): the pipeline board, a deal's page, and the buttons that make a deal.

GET  /deals                                        the board: a column per active stage (filters: owner, branch, source)
POST /deals/<id>/move                              to another stage (stage_id); JSON for the board's script
POST /deals/<id>/close                             won or lost (outcome, reason_id, note)
POST /deals/<id>/reopen                            open again
GET  /deals/<id>                                   the deal's page
POST /deals/<id>                                   edit: title, value, currency, expected close, owner (managers)
POST /leads/<id>/deals                             a new deal for the lead
POST /leads/<id>/appointments/<id>/deal            the appointment's deal (made once; again: the same deal)

Who sees which deal: crm.ui.deal_access (the leads' rule). Every change goes through crm.services.deals,
which validates before it writes; a refused form answers 422 (the board's script: JSON) and writes nothing.
The board works without JavaScript: each card's "Move to" and "Won or lost…" are plain forms, and
crm/ui/static/deals.js sends the same forms with fetch and adds the mouse and arrow keys."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from crm.extensions import db
from crm.models import Appointment, Deal, DealStatus
from crm.services import deals as service
from crm.services.deal_rules import DealError
from crm.ui import deal_board as board_view
from crm.ui import deal_page
from crm.ui.access import MANAGERS, any_role, lead_or_404, user
from crm.ui.deal_access import deal_or_404, deal_visibility, may_reassign
from crm.ui.deal_forms import field_id
from crm.ui.deal_messages import problem
from crm.ui.i18n import _
from crm.ui.leads import actor

bp = Blueprint("deals", __name__)


@bp.app_template_global()
def lead_deals(lead_id: int) -> list[Deal]:
    """The deals of a lead that the signed-in user may see (the lead page's "Deals" section)."""
    return list(
        db.session.scalars(
            db.select(Deal).where(Deal.lead_id == lead_id, deal_visibility(user())).order_by(Deal.id.desc()).limit(20)
        )
    )


@bp.app_template_global()
def appointment_deal(appointment_id: int) -> Deal | None:
    """The deal made from an appointment, if any and the user may see it (the appointment page's link)."""
    return db.session.scalar(db.select(Deal).where(Deal.appointment_id == appointment_id, deal_visibility(user())))


@bp.app_template_global()
def deal_money(cents: int, currency: str) -> str:
    """A deal's value in the reader's language: 1500.00 EUR → "1.500,00 €" / "€1,500.00"."""
    return board_view.money(cents, currency)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _refused(deal: Deal, message: str) -> tuple[str, int]:
    """A board or deal form that was not applied: say why, with the ways back (nothing was written)."""
    db.session.rollback()
    back = board_view.filters_from(request.form).query()
    return render_template("ui/deals/refused.html", message=message, deal=deal, back=back), 422


def _back_to_board() -> Response:
    query: dict[str, Any] = board_view.filters_from(request.form).query()
    return redirect(url_for("deals.board", **query), code=303)


def _back_to_deal(deal: Deal) -> Response:
    return redirect(url_for("deals.show", deal_id=deal.id), code=303)


# ---------------------------------------------------------------- the board


@bp.get("/deals")
@any_role
def board():
    who = user()
    # Never seeded here (a GET changes nothing): the first deal or a manager's "set up" button does it.
    stages = service.active_stages()
    filters = board_view.filters_from(request.args, who)
    return render_template(
        "ui/deals/board.html",
        **board_view.build(who, stages, filters),
        can_configure=who.role in MANAGERS,
    )


@bp.post("/deals/<int:deal_id>/move")
@any_role
def move(deal_id: int):
    deal = deal_or_404(deal_id)
    try:
        service.move_deal(deal, field_id("stage_id") or 0, actor=actor())
    except DealError as e:
        if _wants_json():
            return jsonify(ok=False, message=problem(e)), 422
        return _refused(deal, problem(e))
    text = _("“%(title)s” is now in %(stage)s.", title=deal.title, stage=deal.stage.name)
    if _wants_json():
        filters = board_view.filters_from(request.form, user())
        return jsonify(ok=True, message=text, **board_view.totals(filters, deal))
    flash(text, "success")
    return _back_to_board() if request.form.get("from") != "deal" else _back_to_deal(deal)


@bp.post("/deals/<int:deal_id>/close")
@any_role
def close(deal_id: int):
    deal = deal_or_404(deal_id)
    outcome = {"won": DealStatus.WON, "lost": DealStatus.LOST}.get(request.form.get("outcome", ""))
    if outcome is None:
        return _refused(deal, _("Choose won or lost."))
    try:
        service.close_deal(
            deal, outcome, actor=actor(), reason_id=field_id("reason_id"), note=request.form.get("note") or None
        )
    except DealError as e:
        return _refused(deal, problem(e))
    flash(_("Marked won.") if outcome == DealStatus.WON else _("Marked lost."), "success")
    return _back_to_deal(deal) if request.form.get("from") == "deal" else _back_to_board()


@bp.post("/deals/<int:deal_id>/reopen")
@any_role
def reopen(deal_id: int):
    deal = deal_or_404(deal_id)
    service.reopen_deal(deal, actor=actor())
    flash(_("The deal is open again, back on the board."), "success")
    return _back_to_deal(deal)


# ---------------------------------------------------------------- a deal's page


@bp.get("/deals/<int:deal_id>")
@any_role
def show(deal_id: int):
    deal = deal_or_404(deal_id)
    return render_template("ui/deals/show.html", **deal_page.context(deal, user()))


@bp.post("/deals/<int:deal_id>")
@any_role
def update(deal_id: int):
    deal = deal_or_404(deal_id)
    who = user()
    changes, errors = deal_page.read_form(request.form, may_reassign(who))
    if not errors:
        try:
            service.update_deal(deal, actor=actor(), **changes)
        except DealError as e:
            errors = {e.field: problem(e)}
    if errors:
        db.session.rollback()
        context = deal_page.context(deal, who, form=request.form, errors=errors)
        return render_template("ui/deals/show.html", **context), 422
    flash(_("Deal saved."), "success")
    return _back_to_deal(deal)


# ---------------------------------------------------------------- making a deal


@bp.post("/leads/<int:lead_id>/deals")
@any_role
def create_from_lead(lead_id: int):
    lead = lead_or_404(lead_id)
    who = user()
    # The form says the newest deal the page showed: a deal made since (a double click, a second tab) is
    # the one this press meant, so it is opened rather than a second one made.
    shown, newest = field_id("latest"), next(iter(lead_deals(lead.id)), None)
    if shown is not None and newest is not None and newest.id > shown:
        flash(_("A deal was made for this lead a moment ago; here it is."), "info")
        return _back_to_deal(newest)
    # A rep's deal on a lead nobody owns yet is the rep's (else it would be nobody's to follow up).
    owner = who.id if lead.owner_id is None and who.role not in MANAGERS else None
    try:
        deal = service.create_deal(lead=lead, actor=actor(), owner_id=owner)
    except DealError as e:
        flash(problem(e), "error")
        return redirect(url_for("leads.show", lead_id=lead.id), code=303)
    flash(_("Deal created: set its value and expected close."), "success")
    return _back_to_deal(deal)


@bp.post("/leads/<int:lead_id>/appointments/<int:appointment_id>/deal")
@any_role
def create_from_appointment(lead_id: int, appointment_id: int):
    lead = lead_or_404(lead_id)
    appt = db.session.get(Appointment, appointment_id)
    if appt is None or appt.lead_id != lead.id:
        abort(404)
    who = user()
    if who.role not in MANAGERS and appt.owner_id != who.id:
        abort(403)  # as the appointment's own page (crm.ui.appointments)
    existing = appointment_deal(appt.id)
    try:
        deal = service.create_deal(lead=lead, actor=actor(), appointment=appt)
    except DealError as e:
        flash(problem(e), "error")
        return redirect(url_for("appointments.show", lead_id=lead.id, appointment_id=appt.id), code=303)
    flash(
        _("The appointment already had a deal; here it is.") if existing else _("Deal created from the appointment."),
        "success",
    )
    return _back_to_deal(deal)
