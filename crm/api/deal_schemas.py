"""The deals API's schemas: a deal as clients see it, the bodies of create, edit, move and close, the list's
query and the pipeline's figures. Bodies and queries refuse fields they do not know (RAISE): a misspelt field
is a 422 naming it, never silently ignored. The services (crm.services.deals) check what only the database
knows (the stage, the reason, the owner)."""

from __future__ import annotations

from typing import Any

from flask import url_for
from marshmallow import RAISE, Schema, fields, validate

from crm.api.schemas import INT_MAX, LIMIT_DEFAULT, LIMIT_MAX, SOURCE
from crm.models import DealStatus
from crm.services.deal_rules import MAX_VALUE_CENTS, NOTE_MAX, TITLE_MAX


def _id(required: bool = False, **extra: Any) -> fields.Integer:
    """A row id in a body: a JSON whole number (not a string), 1 .. INT_MAX."""
    return fields.Integer(required=required, strict=True, validate=validate.Range(1, INT_MAX), **extra)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class DealReadSchema(Schema):
    id = fields.Integer()
    url = fields.Method("_url", metadata={"description": "this deal in the API"})
    lead_id = fields.Integer()
    appointment_id = fields.Integer(allow_none=True)
    title = fields.String()
    stage_id = fields.Integer()
    stage = fields.Function(lambda d: d.stage.name if d.stage else None)
    status = fields.Function(lambda d: d.status.value, metadata={"description": "open, won or lost"})
    value_cents = fields.Integer()
    currency = fields.String()
    expected_close_on = fields.Date(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    branch_id = fields.Integer(allow_none=True)
    reason_id = fields.Integer(allow_none=True)
    reason = fields.Function(lambda d: d.reason.label if d.reason else None, allow_none=True)
    reason_note = fields.String(allow_none=True)
    stage_changed_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()

    def _url(self, deal) -> str:
        return url_for("api_deals.get_deal", deal_id=deal.id, _external=True)


class DealCreateSchema(_Strict):
    lead_id = _id(required=True)
    appointment_id = _id(metadata={"description": "the booking the deal comes from; a second create answers its deal"})
    title = fields.String(validate=validate.Length(1, TITLE_MAX))
    value_cents = fields.Integer(strict=True, validate=validate.Range(0, MAX_VALUE_CENTS))
    currency = fields.String(validate=validate.Length(3, 3), metadata={"description": "ISO 4217, default EUR"})
    expected_close_on = fields.Date(allow_none=True)
    owner_id = _id()
    stage_id = _id(metadata={"description": "default: the board's first stage"})


class DealUpdateSchema(_Strict):
    title = fields.String(validate=validate.Length(1, TITLE_MAX))
    value_cents = fields.Integer(strict=True, validate=validate.Range(0, MAX_VALUE_CENTS))
    currency = fields.String(validate=validate.Length(3, 3))
    expected_close_on = fields.Date(allow_none=True)
    owner_id = _id(allow_none=True, metadata={"description": "null: nobody"})


class DealMoveSchema(_Strict):
    stage_id = _id(required=True)


class DealCloseSchema(_Strict):
    outcome = fields.String(required=True, validate=validate.OneOf([DealStatus.WON.value, DealStatus.LOST.value]))
    reason_id = _id(metadata={"description": "required for lost"})
    note = fields.String(allow_none=True, validate=validate.Length(max=NOTE_MAX))


class DealReopenSchema(_Strict):
    pass


class DealListQuerySchema(_Strict):
    status = fields.String(validate=validate.OneOf([s.value for s in DealStatus]))
    stage_id = fields.Integer(strict=False, validate=validate.Range(1, INT_MAX))
    owner_id = fields.Integer(strict=False, validate=validate.Range(1, INT_MAX))
    lead_id = fields.Integer(strict=False, validate=validate.Range(1, INT_MAX))
    limit = fields.Integer(load_default=LIMIT_DEFAULT, strict=False, validate=validate.Range(1, LIMIT_MAX))
    after = fields.Integer(
        strict=False, validate=validate.Range(0, INT_MAX), metadata={"description": "`next_after` of the last page"}
    )


class DealPageSchema(Schema):
    items = fields.List(fields.Nested(DealReadSchema))
    limit = fields.Integer()
    next_after = fields.Integer(allow_none=True, metadata={"description": "pass as `after`; null on the last page"})


class PipelineQuerySchema(_Strict):
    owner_id = fields.Integer(strict=False, validate=validate.Range(1, INT_MAX))
    branch_id = fields.Integer(strict=False, validate=validate.Range(1, INT_MAX))
    source = fields.String(validate=validate.Regexp(SOURCE, error="letters, digits, _ . - only, at most 64"))


class MoneySchema(Schema):
    currency = fields.String()
    cents = fields.Integer()


class DealCardSchema(Schema):
    id = fields.Integer()
    lead_id = fields.Integer()
    title = fields.String()
    value_cents = fields.Integer()
    currency = fields.String()
    owner_id = fields.Integer(allow_none=True)
    expected_close_on = fields.Date(allow_none=True)
    stage_changed_at = fields.DateTime()
    days_in_stage = fields.Integer()
    stale = fields.Boolean()


class StageSummarySchema(Schema):
    stage_id = fields.Integer()
    name = fields.String()
    probability = fields.Integer()
    count = fields.Integer()
    total = fields.List(fields.Nested(MoneySchema))
    weighted = fields.List(fields.Nested(MoneySchema))
    deals = fields.List(fields.Nested(DealCardSchema))


class PipelineSchema(Schema):
    today = fields.Date()
    stages = fields.List(fields.Nested(StageSummarySchema))
    open_count = fields.Integer()
    open_total = fields.List(fields.Nested(MoneySchema))
    open_weighted = fields.List(fields.Nested(MoneySchema))
    won = fields.Integer(metadata={"description": "won in the last 90 days"})
    lost = fields.Integer(metadata={"description": "lost in the last 90 days"})
    win_rate = fields.Float(allow_none=True)
    avg_cycle_days = fields.Float(allow_none=True)
    forecast = fields.List(fields.Nested(MoneySchema))
    stale_after_days = fields.Integer()
    stale_count = fields.Integer()
