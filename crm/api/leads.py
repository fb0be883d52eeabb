"""Leads for API clients.

POST /api/v1/leads (one or a batch) and POST /api/v1/leads/import (CSV) take leads in; GET /api/v1/leads
(filtered, keyset pages) and GET /api/v1/leads/<id> read them; GET /api/v1/submissions/<id> follows an
accepted lead (from this API or a signed webhook) until the chain's import step has made it a lead."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request, url_for
from flask_smorest import Blueprint
from marshmallow import ValidationError
from webargs.flaskparser import FlaskParser

from crm.api import lead_queries
from crm.api.auth import api_key_required, authenticate
from crm.api.schemas import AcceptedSchema, LeadListQuerySchema, LeadPageSchema, LeadReadSchema, SubmissionStatusSchema
from crm.errors import ApiError
from crm.extensions import db
from crm.models import Lead, LeadSubmission
from crm.models.api_keys import Scope
from crm.requests import parse_body, raw_body
from crm.schemas.lead import LeadInSchema
from crm.services import csv_import, deliveries, submissions


class QueryParser(FlaskParser):
    """Query parameters as the rest of the API answers bad input: a 422 whose `errors` is keyed by the
    parameter itself, and unknown parameters refused (a misspelt filter must not list everything)."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": None, "querystring": None}

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        messages: dict[str, Any] = {}
        for location_messages in (error.messages or {}).values():
            if isinstance(location_messages, dict):
                messages.update(location_messages)
        raise ApiError(422, "invalid query parameters", messages or {"query": ["invalid"]})


class LeadsBlueprint(Blueprint):
    ARGUMENTS_PARSER = QueryParser()


bp = LeadsBlueprint(
    "api_leads", __name__, url_prefix="/api/v1", description="Leads for API clients (API key; optional Idempotency-Key)"
)
# werkzeug's int converter with the INTEGER bound: a larger id is a 404, not a driver overflow.
ID = "int"  # crm.routing: ASCII digits, 1 .. 2**31-1


def status_url(submission_id: int) -> str:
    """Where a client follows a submission (also handed to webhook senders)."""
    return url_for("api_leads.submission_status", submission_id=submission_id, _external=True)


IDEMPOTENCY_DOC = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string"},
    "description": "a retried request with the same key and body is answered from the first run",
}


def _idempotent(client: str, body: bytes, work):
    key = request.headers.get("Idempotency-Key")
    if key is None:
        try:
            status, payload = work()
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        return jsonify(payload), status
    if not key.strip() or len(key) > 200:
        raise ApiError(400, "Idempotency-Key must be 1-200 characters", {"Idempotency-Key": ["bad length"]})
    outcome = deliveries.process_once(
        f"api:{client}", key, deliveries.payload_hash(body), work, same_payload_required=True
    )
    response = jsonify(outcome.body)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response, outcome.status


@bp.route("/leads", methods=["POST"])
@bp.doc(
    summary="Create or update leads",
    description='Body: one lead object, a JSON array of leads, or {"leads": [...]}. A batch is all or '
    "nothing: if any lead is invalid, none is stored and `errors` is keyed by index.",
    parameters=[IDEMPOTENCY_DOC],
    requestBody={"content": {"application/json": {"schema": LeadInSchema}}},
)
@bp.alt_response(
    202,
    schema=AcceptedSchema,
    description="stored; the lead chain takes it from here. A batch "
    'answers {"accepted": [...], "count": n}, one such object per lead',
)
@bp.alt_response(422, description="invalid lead(s); `errors` names each bad field")
def create_leads():
    client = authenticate(Scope.INTAKE)
    cfg = current_app.config["LEADCHAIN"]
    body = raw_body(cfg.max_request_bytes)
    payload = parse_body(body, allow_form=False)  # strict JSON (crm.requests): NaN, 1e400... are a 400
    single = isinstance(payload, dict) and "leads" not in payload
    items = [payload] if single else (payload.get("leads") if isinstance(payload, dict) else payload)
    if not isinstance(items, list) or not items:
        raise ApiError(422, "expected a lead object or a non-empty list of leads", {"leads": ["missing or empty"]})
    if len(items) > cfg.max_batch_leads:
        raise ApiError(413, f"at most {cfg.max_batch_leads} leads per request")
    schema = LeadInSchema(default_region=cfg.default_phone_region, default_source=f"api-{client}"[:64])
    leads, errors = [], {}
    for i, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValidationError({"_schema": ["expected an object"]})
            leads.append(schema.load(item))
        except ValidationError as e:
            errors[str(i)] = e.normalized_messages()
    if errors:
        raise ApiError(
            422,
            "invalid lead" if single else f"{len(errors)} of {len(items)} leads are invalid; none was stored",
            errors["0"] if single else errors,
        )

    def work():
        accepted = []
        # Every item loaded (any error was refused above), so the two lists pair up one to one.
        for lead, raw in zip(leads, items, strict=True):
            submission = submissions.submit(
                lead, raw, region=cfg.default_phone_region, channel="api", actor=f"api:{client}"
            )
            accepted.append(
                {
                    "status": "accepted",
                    "submission_id": submission.id,
                    "status_url": status_url(submission.id),
                    "chain_id": submission.chain_id,
                    "warnings": lead.warnings,
                }
            )
        if single:
            return 202, accepted[0]
        return 202, {"accepted": accepted, "count": len(accepted)}

    return _idempotent(client, body, work)


_COUNT = {"type": "integer"}
IMPORT_REPORT = {
    **{name: _COUNT for name in ("total", "created", "updated", "duplicates", "flagged", "rejected")},
    "region": {"type": "string"},
    "warnings": {"type": "array", "items": {"type": "object"}},
    "rejected_rows": {"type": "array", "items": {"type": "object"}},
}


@bp.route("/leads/import", methods=["POST"])
@bp.doc(
    summary="Import a CSV export",
    description="multipart/form-data with a `file` part, or a text/csv body. Delimiter and encoding are "
    "detected (German Excel and UTF-8 exports). Valid rows are stored; each rejected row is "
    "returned with its reasons.",
    parameters=[
        IDEMPOTENCY_DOC,
        {"in": "query", "name": "source", "schema": {"type": "string"}, "required": False},
        {"in": "query", "name": "region", "schema": {"type": "string"}, "required": False},
    ],
    responses={
        "200": {
            "description": "the import's report: counts, the region used, warnings and each rejected row",
            "content": {"application/json": {"schema": {"type": "object", "properties": IMPORT_REPORT}}},
        }
    },
)
def import_csv():
    client = authenticate(Scope.INTAKE)
    cfg = current_app.config["LEADCHAIN"]
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(422, "multipart body needs a `file` part", {"file": ["missing"]})
        data = upload.read(cfg.max_request_bytes + 1)
    elif request.mimetype in ("text/csv", "application/csv", "text/plain"):
        data = raw_body(cfg.max_request_bytes)
    else:
        raise ApiError(
            415, f"unsupported content type {request.mimetype or '(none)'}; send multipart/form-data or text/csv"
        )
    if len(data) > cfg.max_request_bytes:
        raise ApiError(413, f"file larger than {cfg.max_request_bytes} bytes")
    region = request.args.get("region")
    if region is not None and (len(region) != 2 or not region.isalpha()):
        raise ApiError(422, "invalid region", {"region": ["must be a two-letter ISO code"]})
    source = request.args.get("source") or None
    if source is not None and not csv_import.SOURCE.match(source):
        raise ApiError(422, "invalid source", {"source": ["letters, digits, _ . - only, at most 64"]})
    try:
        parsed = csv_import.parse(data)
    except csv_import.CsvFormatError as e:
        raise ApiError(422, "unreadable CSV", {"file": [str(e)]}) from None

    def work():
        report = csv_import.import_rows(
            parsed,
            actor=f"api:{client}",
            default_source=source or "import",
            region=region,
            fuzzy_threshold=cfg.fuzzy_threshold,
            commit=False,
        )
        return 200, report.as_dict(include_rejected=True)

    return _idempotent(client, data, work)


@bp.route("/leads", methods=["GET"])
@api_key_required(Scope.READ)
@bp.doc(
    summary="List leads",
    description="Filtered by status, source, owner, chain stage and last change; ordered by last change "
    "(oldest first), then id. Pages: `limit` (1-200, default 50) and the `next_cursor` of the "
    "previous page as `cursor`. Merged records are not listed. Unknown or invalid parameters "
    "are a 422 naming each one.",
)
@bp.arguments(LeadListQuerySchema, location="query", as_kwargs=False)
@bp.response(200, LeadPageSchema)
@bp.alt_response(422, description="invalid query parameters; `errors` names each one")
def list_leads(query: dict[str, Any]):
    try:
        page = lead_queries.list_leads(query)
    except lead_queries.BadCursor as e:
        raise ApiError(422, "invalid query parameters", {"cursor": [str(e)]}) from None
    next_url = None
    if page.next_cursor:
        args = {k: v for k, v in request.args.items() if k != "cursor"}
        next_url = url_for("api_leads.list_leads", **args, cursor=page.next_cursor, _external=True)
    return {"items": page.items, "limit": query["limit"], "next_cursor": page.next_cursor, "next_url": next_url}


@bp.route(f"/leads/<{ID}:lead_id>", methods=["GET"])
@bp.doc(summary="One lead", description="A merged record answers with `merged_into_id` set.")
@bp.response(200, LeadReadSchema)
@bp.alt_response(404, description="no such lead")
def get_lead(lead_id: int):
    authenticate(Scope.READ)
    lead = db.session.get(Lead, lead_id)
    if lead is None:
        raise ApiError(404, "no such lead")
    return lead


@bp.route(f"/submissions/<{ID}:submission_id>", methods=["GET"])
@bp.doc(
    summary="Follow an accepted lead",
    description="`pending` until the lead chain's import step has run the intake; then `processed` with "
    "the outcome (created, updated or duplicate) and the lead's id and URL. Works for "
    "submissions from the API and from signed webhooks alike (API key required).",
)
@bp.response(200, SubmissionStatusSchema)
@bp.alt_response(404, description="no such submission")
def submission_status(submission_id: int):
    authenticate()  # any scope: an intake-only client follows what it sent
    submission = db.session.get(LeadSubmission, submission_id)
    if submission is None:
        raise ApiError(404, "no such submission")
    processed = submission.processed_at is not None
    result = submission.result or {}
    lead_id = submission.lead_id if processed else None
    return {
        "submission_id": submission.id,
        "status": "processed" if processed else "pending",
        "channel": submission.channel,
        "source": submission.source,
        "received_at": submission.received_at,
        "processed_at": submission.processed_at,
        "outcome": submission.outcome if processed else None,
        "lead_id": lead_id,
        "lead_url": url_for("api_leads.get_lead", lead_id=lead_id, _external=True) if lead_id else None,
        "flagged_duplicates": list(result.get("flagged_duplicates") or []),
        "warnings": list(result.get("warnings") or []),
    }
