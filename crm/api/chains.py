"""Control of a lead's chain: status, pause, resume, cancel, do-not-contact (/api/v1/leads/<id>/...)."""

from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint

from crm.api.auth import authenticate
from crm.errors import ApiError
from crm.extensions import db
from crm.models import Lead
from crm.services import chain_control
from crm.temporal_gateway import ChainNotRunning, TemporalUnavailable

bp = Blueprint("api_chains", __name__, url_prefix="/api/v1", description="The lead chain: status and control (API key)")


def _lead(lead_id: int) -> Lead:
    lead = db.session.get(Lead, lead_id)
    if lead is None or lead.merged_into_id:
        raise ApiError(404, "no such lead")
    return lead


@bp.route("/leads/<int:lead_id>/chain", methods=["GET"])
@bp.doc(summary="The chain's stage, next step and when, attempts and history")
def chain_status(lead_id: int):
    authenticate()
    lead = _lead(lead_id)
    try:
        return jsonify(chain_control.status(lead))
    except TemporalUnavailable:
        raise ApiError(503, "the workflow service is unavailable, retry later", headers={"Retry-After": "10"}) from None


@bp.route("/leads/<int:lead_id>/chain/<any(pause, resume, cancel):action>", methods=["POST"])
@bp.doc(summary="Pause, resume or cancel the lead's chain")
def chain_action(lead_id: int, action: str):
    client = authenticate()
    lead = _lead(lead_id)
    try:
        chain_control.control(lead, action, actor=f"api:{client}")
    except ChainNotRunning:
        raise ApiError(409, "the lead's chain is not running", {"chain": ["not running"]}) from None
    except TemporalUnavailable:
        raise ApiError(503, "the workflow service is unavailable, retry later", headers={"Retry-After": "10"}) from None
    return jsonify({"lead_id": lead.id, "chain_id": lead.chain_id, "requested": action}), 202


@bp.route("/leads/<int:lead_id>/do-not-contact", methods=["POST"])
@bp.doc(summary="Mark the lead do-not-contact now; its chain stops")
def do_not_contact(lead_id: int):
    client = authenticate()
    lead = _lead(lead_id)
    stopped = chain_control.mark_do_not_contact(lead, reason="requested via API", actor=f"api:{client}")
    return jsonify({"lead_id": lead.id, "do_not_contact": True, "chain_stopped": stopped}), 200
