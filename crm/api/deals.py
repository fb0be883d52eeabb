"""Deals for API clients (/api/v1/deals; docs/deals.md, "API").

GET needs the key's `read` scope, every change `manage`. Bad input is a 422 whose `errors` names each bad
field (the schema's, then the service's DealError), and nothing is written; a deal, lead or appointment of
another company does not exist here (404, or a 422 naming the field that points at it)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app, url_for
from marshmallow import Schema, ValidationError

from crm.api.auth import api_key_required, authenticate
from crm.api.deal_schemas import (
    DealCloseSchema,
    DealCreateSchema,
    DealListQuerySchema,
    DealMoveSchema,
    DealPageSchema,
    DealReadSchema,
    DealReopenSchema,
    DealUpdateSchema,
    PipelineQuerySchema,
    PipelineSchema,
)
from crm.api.leads import LeadsBlueprint
from crm.errors import ApiError
from crm.extensions import db
from crm.models import Appointment, Deal, DealStatus, Lead
from crm.models.api_keys import Scope
from crm.requests import parse_body, raw_body
from crm.services import deal_metrics, deals

bp = LeadsBlueprint("api_deals", __name__, url_prefix="/api/v1", description="Deals and the pipeline (API key)")
_ERRORS = "invalid deal; `errors` names each bad field and nothing was changed"


def _body(schema: Schema) -> dict[str, Any]:
    """The request's JSON object loaded by `schema` (an empty body is an empty object), or a 4xx."""
    data = raw_body(current_app.config["LEADCHAIN"].max_request_bytes)
    payload = parse_body(data, allow_form=False) if data.strip() else {}
    if not isinstance(payload, dict):
        raise ApiError(422, "expected a JSON object", {"_schema": ["expected an object"]})
    try:
        return schema.load(payload)
    except ValidationError as e:
        raise ApiError(422, _ERRORS, e.normalized_messages()) from None


def _deal(deal_id: int) -> Deal:
    found = deals.get_deal(deal_id)
    if found is None:
        raise ApiError(404, "no such deal")
    return found


def _refused(error: deals.DealError) -> ApiError:
    return ApiError(422, _ERRORS, {error.field: [error.message]})


def _actor(client: str) -> str:
    return f"api:{client}"


@bp.route("/deals", methods=["GET"])
@api_key_required(Scope.READ)
@bp.doc(summary="List deals", description="Newest first by id; pages by `limit` and the `next_after` given.")
@bp.arguments(DealListQuerySchema, location="query", as_kwargs=False)
@bp.response(200, DealPageSchema)
@bp.alt_response(422, description="invalid query parameters; `errors` names each one")
def list_deals(query: dict[str, Any]):
    select = sa.select(Deal)
    if "status" in query:
        select = select.where(Deal.status == DealStatus(query["status"]))
    for name in ("stage_id", "owner_id", "lead_id"):
        if name in query:
            select = select.where(getattr(Deal, name) == query[name])
    if query.get("after"):
        select = select.where(Deal.id < query["after"])
    limit = query["limit"]
    rows = list(db.session.scalars(select.order_by(Deal.id.desc()).limit(limit + 1)))
    items = rows[:limit]
    return {"items": items, "limit": limit, "next_after": items[-1].id if len(rows) > limit else None}


@bp.route("/deals", methods=["POST"])
@bp.doc(
    summary="Create a deal",
    description="For a lead, optionally from one of its appointments: a second create for the same "
    "appointment answers the deal it made (200) instead of a new one (201).",
    requestBody={"content": {"application/json": {"schema": DealCreateSchema}}},
)
@bp.alt_response(201, schema=DealReadSchema, description="created")
@bp.alt_response(200, schema=DealReadSchema, description="the appointment's existing deal")
@bp.alt_response(422, description=_ERRORS)
def create_deal():
    client = authenticate(Scope.MANAGE)
    body = _body(DealCreateSchema())
    lead = db.session.get(Lead, body.pop("lead_id"))
    if lead is None:
        raise ApiError(422, _ERRORS, {"lead_id": ["no such lead"]})
    appointment = None
    if "appointment_id" in body:
        appointment = db.session.get(Appointment, body.pop("appointment_id"))
        if appointment is None:
            raise ApiError(422, _ERRORS, {"appointment_id": ["no such appointment"]})
    existing = appointment is not None and db.session.scalar(
        sa.select(Deal.id).where(Deal.appointment_id == appointment.id)
    )
    try:
        deal = deals.create_deal(lead=lead, actor=_actor(client), appointment=appointment, **body)
    except deals.DealError as e:
        raise _refused(e) from None
    headers = {"Location": url_for("api_deals.get_deal", deal_id=deal.id, _external=True)}
    return DealReadSchema().dump(deal), 200 if existing else 201, headers


@bp.route("/deals/<int:deal_id>", methods=["GET"])
@bp.doc(summary="One deal")
@bp.response(200, DealReadSchema)
@bp.alt_response(404, description="no such deal")
def get_deal(deal_id: int):
    authenticate(Scope.READ)
    return _deal(deal_id)


@bp.route("/deals/<int:deal_id>", methods=["PATCH"])
@bp.doc(
    summary="Edit a deal",
    description="Only the fields sent change.",
    requestBody={"content": {"application/json": {"schema": DealUpdateSchema}}},
)
@bp.response(200, DealReadSchema)
@bp.alt_response(404, description="no such deal")
@bp.alt_response(422, description=_ERRORS)
def update_deal(deal_id: int):
    client = authenticate(Scope.MANAGE)
    deal = _deal(deal_id)
    body = _body(DealUpdateSchema())
    try:
        return deals.update_deal(deal, actor=_actor(client), **body)
    except deals.DealError as e:
        raise _refused(e) from None


@bp.route("/deals/<int:deal_id>/move", methods=["POST"])
@bp.doc(
    summary="Move an open deal to another stage",
    requestBody={"content": {"application/json": {"schema": DealMoveSchema}}},
)
@bp.response(200, DealReadSchema)
@bp.alt_response(404, description="no such deal")
@bp.alt_response(422, description="unknown or retired stage, or a closed deal")
def move_deal(deal_id: int):
    client = authenticate(Scope.MANAGE)
    deal = _deal(deal_id)
    body = _body(DealMoveSchema())
    try:
        return deals.move_deal(deal, body["stage_id"], actor=_actor(client))
    except deals.DealError as e:
        raise _refused(e) from None


@bp.route("/deals/<int:deal_id>/close", methods=["POST"])
@bp.doc(
    summary="Close a deal as won or lost (lost needs a reason_id)",
    requestBody={"content": {"application/json": {"schema": DealCloseSchema}}},
)
@bp.response(200, DealReadSchema)
@bp.alt_response(404, description="no such deal")
@bp.alt_response(422, description=_ERRORS)
def close_deal(deal_id: int):
    client = authenticate(Scope.MANAGE)
    deal = _deal(deal_id)
    body = _body(DealCloseSchema())
    try:
        return deals.close_deal(
            deal,
            DealStatus(body["outcome"]),
            actor=_actor(client),
            reason_id=body.get("reason_id"),
            note=body.get("note"),
        )
    except deals.DealError as e:
        raise _refused(e) from None


@bp.route("/deals/<int:deal_id>/reopen", methods=["POST"])
@bp.doc(summary="Reopen a won or lost deal")
@bp.response(200, DealReadSchema)
@bp.alt_response(404, description="no such deal")
def reopen_deal(deal_id: int):
    client = authenticate(Scope.MANAGE)
    deal = _deal(deal_id)
    _body(DealReopenSchema())
    return deals.reopen_deal(deal, actor=_actor(client))


@bp.route("/deals/pipeline", methods=["GET"])
@api_key_required(Scope.READ)
@bp.doc(summary="The pipeline: per stage, win rate, cycle, forecast (docs/deals.md)")
@bp.arguments(PipelineQuerySchema, location="query", as_kwargs=False)
@bp.response(200, PipelineSchema)
@bp.alt_response(422, description="invalid query parameters; `errors` names each one")
def pipeline(query: dict[str, Any]):
    return deal_metrics.pipeline_summary(**query, today=deal_metrics.company_today())
