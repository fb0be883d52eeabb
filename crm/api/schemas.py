"""The API's read-side schemas: a lead as clients see it, the leads list's query and page, a submission's
status, and the 202 of an intake (with the URL to follow the submission).

Query schemas refuse what they do not know (RAISE) so a typo in a filter is a 422 naming it, never a
silently unfiltered list."""

from __future__ import annotations

import re
from datetime import UTC

from flask import url_for
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from crm.models import LeadStatus
from crm.schemas.lead import SubmissionAcceptedSchema

INT_MAX = 2**31 - 1  # ids are INTEGER columns: a larger number matches nothing and overflows drivers
LIMIT_DEFAULT, LIMIT_MAX = 50, 200
STAGE = re.compile(r"^[a-z_]{1,32}$")
SOURCE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
LISTED_STATUSES = [s.value for s in LeadStatus if s is not LeadStatus.MERGED]


class AcceptedSchema(SubmissionAcceptedSchema):
    status_url = fields.Url(metadata={"description": "GET it (API key) to follow the submission to its lead"})


class LeadReadSchema(Schema):
    id = fields.Integer()
    url = fields.Method("_url", metadata={"description": "this lead in the API"})
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    company = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone_e164 = fields.String(allow_none=True)
    phone_status = fields.String()
    language = fields.String()
    source = fields.String()
    status = fields.Function(lambda o: o.status.value)
    priority = fields.Function(lambda o: o.priority.value if o.priority else None, allow_none=True)
    score = fields.Integer(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    stage = fields.String(
        attribute="chain_stage", allow_none=True, metadata={"description": "the lead chain's current stage"}
    )
    chain_id = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    do_not_contact = fields.Boolean()
    merged_into_id = fields.Integer(
        allow_none=True, metadata={"description": "set when this record was merged into another"}
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()

    def _url(self, lead) -> str:
        return url_for("api_leads.get_lead", lead_id=lead.id, _external=True)


class OwnerField(fields.String):
    """A user id, or `none` for the unassigned leads."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if text.lower() == "none":
            return "none"
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= INT_MAX:
            raise ValidationError("a user id (a positive whole number) or 'none'")
        return int(text)


class LeadListQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(validate=validate.OneOf(LISTED_STATUSES))
    source = fields.String(validate=validate.Regexp(SOURCE, error="letters, digits, _ . - only, at most 64"))
    owner_id = OwnerField(metadata={"description": "a user id, or `none` for unassigned leads"})
    stage = fields.String(validate=validate.Regexp(STAGE, error="a chain stage such as calling or nurturing"))
    updated_since = fields.AwareDateTime(
        default_timezone=UTC, metadata={"description": "ISO 8601; without an offset it is UTC"}
    )
    limit = fields.Integer(load_default=LIMIT_DEFAULT, strict=False, validate=validate.Range(1, LIMIT_MAX))
    cursor = fields.String(
        validate=validate.Length(max=200), metadata={"description": "`next_cursor` of the previous page"}
    )

    @validates("updated_since")
    def _plausible(self, value, **_):
        # Far dates overflow once shifted to UTC (year 1 at +14:00) and mean nothing for a sync.
        if not 1900 <= value.year <= 2999:
            raise ValidationError("a date between 1900 and 2999")


class LeadPageSchema(Schema):
    items = fields.List(fields.Nested(LeadReadSchema))
    limit = fields.Integer()
    next_cursor = fields.String(
        allow_none=True, metadata={"description": "pass as `cursor` for the next page; null on the last"}
    )
    next_url = fields.String(allow_none=True)


class SubmissionStatusSchema(Schema):
    submission_id = fields.Integer()
    status = fields.String(metadata={"description": "pending (the chain has not imported it yet) or processed"})
    channel = fields.String()
    source = fields.String()
    received_at = fields.DateTime()
    processed_at = fields.DateTime(allow_none=True)
    outcome = fields.String(allow_none=True, metadata={"description": "created, updated or duplicate"})
    lead_id = fields.Integer(allow_none=True)
    lead_url = fields.String(allow_none=True)
    flagged_duplicates = fields.List(fields.Integer())
    warnings = fields.List(fields.String())
