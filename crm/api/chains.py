"""Control of a lead's chain: status, pause, resume, cancel, do-not-contact (/api/v1/leads/<id>/...)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_smorest import Blueprint

from crm.api.auth import authenticate
from crm.errors import ApiError
from crm.extensions import db
from crm.models import Lead
from crm.models.api_keys import Scope
from crm.services import chain_control
from crm.temporal_gateway import ChainNotRunning, TemporalUnavailable

bp = Blueprint("api_chains", __name__, url_prefix="/api/v1", description="The lead chain: status and control (API key)")


def _json(
    code: int, description: str, properties: dict[str, dict[str, Any]], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """An answer for the spec (its 2xx; the errors are the blueprint's default)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return {str(code): {"description": description, "content": {"application/json": {"schema": schema}}}}


_NULLABLE_STR = {"type": "string", "nullable": True}
_STATUS: dict[str, dict[str, Any]] = {
    "lead_id": {"type": "integer"},
    "chain_id": _NULLABLE_STR,
    "running": {"type": "boolean"},
    "stage": _NULLABLE_STR,
    "next_step": _NULLABLE_STR,
    "next_at": {"type": "string", "format": "date-time", "nullable": True},
    "paused": {"type": "boolean"},
    "attempts": {"type": "integer", "nullable": True, "description": "null when the chain is not running"},
    "cycle": {"type": "integer", "nullable": True, "description": "null when the chain is not running"},
    "history": {
        "type": "array",
        "description": "the chain's stages, oldest first (from the audit log when it is not running)",
        "items": {
            "type": "object",
            "properties": {
                "at": {"type": "string", "format": "date-time"},
                "stage": {"type": "string"},
                "detail": {"type": "string"},
            },
            "required": ["at", "stage", "detail"],
        },
    },
}


def _lead(lead_id: int) -> Lead:
    lead = db.session.get(Lead, lead_id)
    if lead is None or lead.merged_into_id:
        raise ApiError(404, "no such lead")
    return lead


@bp.route("/leads/<int:lead_id>/chain", methods=["GET"])
@bp.doc(
    summary="The chain's stage, next step and when, attempts and history",
    responses=_json(
        200,
        "the chain's state; the same keys when it is not running (no next step, attempts and cycle null)",
        _STATUS,
        required=chain_control.STATUS_KEYS,
    ),
)
def chain_status(lead_id: int):
    authenticate(Scope.READ)
    lead = _lead(lead_id)
    try:
        return jsonify(chain_control.status(lead))
    except TemporalUnavailable:
        raise ApiError(503, "the workflow service is unavailable, retry later", headers={"Retry-After": "10"}) from None


@bp.route("/leads/<int:lead_id>/chain/<any(pause, resume, cancel):action>", methods=["POST"])
@bp.doc(
    summary="Pause, resume or cancel the lead's chain",
    responses=_json(
        202,
        "the chain was told",
        {"lead_id": {"type": "integer"}, "chain_id": {"type": "string"}, "requested": {"type": "string"}},
    ),
)
def chain_action(lead_id: int, action: str):
    client = authenticate(Scope.MANAGE)
    lead = _lead(lead_id)
    try:
        chain_control.control(lead, action, actor=f"api:{client}")
    except ChainNotRunning:
        raise ApiError(409, "the lead's chain is not running", {"chain": ["not running"]}) from None
    except TemporalUnavailable:
        raise ApiError(503, "the workflow service is unavailable, retry later", headers={"Retry-After": "10"}) from None
    return jsonify({"lead_id": lead.id, "chain_id": lead.chain_id, "requested": action}), 202


@bp.route("/leads/<int:lead_id>/do-not-contact", methods=["POST"])
@bp.doc(
    summary="Mark the lead do-not-contact now; its chain stops",
    responses=_json(
        200,
        "marked; chain_stopped says whether a running chain was told to stop",
        {"lead_id": {"type": "integer"}, "do_not_contact": {"type": "boolean"}, "chain_stopped": {"type": "boolean"}},
    ),
)
def do_not_contact(lead_id: int):
    client = authenticate(Scope.MANAGE)
    lead = _lead(lead_id)
    stopped = chain_control.mark_do_not_contact(lead, reason="requested via API", actor=f"api:{client}")
    return jsonify({"lead_id": lead.id, "do_not_contact": True, "chain_stopped": stopped}), 200
