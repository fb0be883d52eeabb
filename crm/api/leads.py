"""POST /api/v1/leads (one or a batch), POST /api/v1/leads/import (CSV), GET /api/v1/leads/<id>."""
from __future__ import annotations

from flask import current_app, jsonify, request
from flask_smorest import Blueprint
from marshmallow import ValidationError

from crm.api.auth import authenticate
from crm.errors import ApiError
from crm.extensions import db
from crm.models import Lead
from crm.requests import parse_body, raw_body
from crm.schemas.lead import LeadInSchema, LeadOutSchema, SubmissionAcceptedSchema
from crm.services import csv_import, deliveries, submissions

bp = Blueprint("api_leads", __name__, url_prefix="/api/v1",
               description="Leads for API clients (API key; optional Idempotency-Key)")

IDEMPOTENCY_DOC = {"in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string"},
                   "description": "a retried request with the same key and body is answered from the first run"}


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
    outcome = deliveries.process_once(f"api:{client}", key, deliveries.payload_hash(body), work,
                                      same_payload_required=True)
    response = jsonify(outcome.body)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response, outcome.status


@bp.route("/leads", methods=["POST"])
@bp.doc(summary="Create or update leads",
        description="Body: one lead object, a JSON array of leads, or {\"leads\": [...]}. A batch is all or "
                    "nothing: if any lead is invalid, none is stored and `errors` is keyed by index.",
        parameters=[IDEMPOTENCY_DOC],
        requestBody={"content": {"application/json": {"schema": LeadInSchema}}})
@bp.alt_response(202, schema=SubmissionAcceptedSchema, description="stored; the lead chain takes it from here")
@bp.alt_response(422, description="invalid lead(s); `errors` names each bad field")
def create_leads():
    client = authenticate()
    cfg = current_app.config["LEADCHAIN"]
    body = raw_body(cfg.max_request_bytes)
    try:
        payload = parse_body(body, allow_form=False)
    except RecursionError:  # json.loads of [[[[... deeper than the interpreter's stack
        raise ApiError(400, "body is nested too deeply", {"json": ["nested too deeply"]}) from None
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
        raise ApiError(422, "invalid lead" if single else f"{len(errors)} of {len(items)} leads are invalid; "
                       "none was stored", errors["0"] if single else errors)

    def work():
        accepted = []
        for lead, raw in zip(leads, items):
            submission = submissions.submit(lead, raw, region=cfg.default_phone_region, channel="api",
                                            actor=f"api:{client}")
            accepted.append({"status": "accepted", "submission_id": submission.id,
                             "chain_id": submission.chain_id, "warnings": lead.warnings})
        if single:
            return 202, accepted[0]
        return 202, {"accepted": accepted, "count": len(accepted)}

    return _idempotent(client, body, work)


@bp.route("/leads/import", methods=["POST"])
@bp.doc(summary="Import a CSV export",
        description="multipart/form-data with a `file` part, or a text/csv body. Delimiter and encoding are "
                    "detected (German Excel and UTF-8 exports). Valid rows are stored; each rejected row is "
                    "returned with its reasons.",
        parameters=[IDEMPOTENCY_DOC,
                    {"in": "query", "name": "source", "schema": {"type": "string"}, "required": False},
                    {"in": "query", "name": "region", "schema": {"type": "string"}, "required": False}])
def import_csv():
    client = authenticate()
    cfg = current_app.config["LEADCHAIN"]
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(422, "multipart body needs a `file` part", {"file": ["missing"]})
        data = upload.read(cfg.max_request_bytes + 1)
    elif request.mimetype in ("text/csv", "application/csv", "text/plain"):
        data = raw_body(cfg.max_request_bytes)
    else:
        raise ApiError(415, f"unsupported content type {request.mimetype or '(none)'}; "
                       "send multipart/form-data or text/csv")
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
        report = csv_import.import_rows(parsed, actor=f"api:{client}", default_source=source or "import",
                                        region=region, fuzzy_threshold=cfg.fuzzy_threshold, commit=False)
        return 200, report.as_dict(include_rejected=True)

    return _idempotent(client, data, work)


@bp.route("/leads/<int:lead_id>", methods=["GET"])
@bp.response(200, LeadOutSchema)
def get_lead(lead_id: int):
    authenticate()
    lead = db.session.get(Lead, lead_id)
    if lead is None:
        raise ApiError(404, "no such lead")
    return lead
