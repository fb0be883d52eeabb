"""The inbound lead, as API clients, web forms and CSV rows send it, and its normalised form."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

from crm.languages import LANGUAGES
from crm.services import normalize as n

TEXT = {
    "first_name": 100,
    "last_name": 100,
    "company": 200,
    "title": 100,
    "city": 100,
    "postal_code": 20,
    "street": 200,
    "utm_source": 200,
    "utm_medium": 200,
    "utm_campaign": 200,
    "utm_term": 200,
    "utm_content": 200,
    "external_id": 100,
    "interest": 2000,
}
NOTE_MAX = 10_000
_T = TypeVar("_T")
_RESULT = "__normalized__"


@dataclass
class NormalizedLead:
    source: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    email: str | None = None
    email_key: str | None = None
    phone: n.Phone | None = None
    phone_raw: str | None = None
    language: str = "de"
    country: str | None = None
    utm: dict[str, str] = field(default_factory=dict)
    interest: str | None = None
    note: str | None = None
    phone_consent: bool | None = None
    phone_consent_raw: str | None = None
    email_consent: bool | None = None
    email_consent_raw: str | None = None
    source_created_at: datetime | None = None
    external_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: Any) -> bool:
    """Whether `value` (nested lists and objects too) holds text PostgreSQL refuses: NUL, lone surrogates."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _created_at(raw: str) -> datetime:
    try:
        return n.parse_datetime(raw)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise n.FieldError(f"{raw[:40]!r} is out of range") from None


class ConsentField(fields.Field):
    """true/false or the free text lead sources use ('ja', 'Ja (Formular)', 'x', 'nein', '')."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> tuple[bool, str]:
        if isinstance(value, bool):
            return value, "true" if value else "false"
        if value is None:
            return False, ""
        if not isinstance(value, (str, int)):
            raise ValidationError("must be true/false or yes/no text")
        try:
            return n.parse_consent(str(value)), str(value)
        except n.FieldError as e:
            raise ValidationError(str(e)) from None


class LeadInSchema(Schema):
    """A single lead. Every field is optional on its own; together they need one way to reach the
    person (email or phone)."""

    class Meta:
        unknown = RAISE

    first_name = fields.String()
    last_name = fields.String()
    full_name = fields.String()
    company = fields.String()
    title = fields.String()
    email = fields.String()
    phone = fields.String()
    mobile = fields.String()
    country = fields.String(validate=validate.Regexp(r"^[A-Za-z]{2}$", error="must be a two-letter ISO code"))
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    source = fields.String(
        validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$", error="letters, digits, _ . - only, at most 64")
    )
    phone_consent = ConsentField()
    email_consent = ConsentField()
    created_at = fields.String()
    note = fields.String()
    interest = fields.String()
    external_id = fields.String()
    city = fields.String()
    postal_code = fields.String()
    street = fields.String()
    utm_source = fields.String()
    utm_medium = fields.String()
    utm_campaign = fields.String()
    utm_term = fields.String()
    utm_content = fields.String()

    def __init__(self, *args: Any, default_region: str = "DE", default_source: str = "api", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_region = default_region
        self.default_source = default_source

    @pre_load
    def _blank_to_missing(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            # The whole object is stored as the submission's raw payload (unknown fields too): text that
            # PostgreSQL cannot hold (NUL, lone surrogates) is refused here, by field, not with a 500 there.
            bad = {
                str(k): ["contains a NUL character or invalid unicode"]
                for k, v in data.items()
                if _unstorable(k) or _unstorable(v)
            }
            if bad:
                raise ValidationError(bad)
        # Forms and CSVs send "" for "not given"; treat it as absent, not as a value to validate.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip()) and v is not None}
        return data

    @post_load
    def _result(self, data: dict[str, Any], **kwargs: Any) -> NormalizedLead:
        return data[_RESULT]

    # Runs even when some fields already failed, so one response names every bad field at once.
    @validates_schema(skip_on_field_errors=False)
    def _normalise(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors = _FieldErrors()
        lead = NormalizedLead(source=data.get("source") or self.default_source)
        # Each rule group in turn; the order is the order the response names the bad fields in.
        _names_and_text(data, lead, errors)
        _note(data, lead, errors)
        _contact(data, lead, errors, self.default_region)
        _date_and_consent(data, lead, errors)
        if errors.by_field:
            raise ValidationError(errors.by_field)
        lead.language = n.language_for(
            data.get("language"), lead.phone.region if lead.phone else None, lead.email, lead.country
        )
        data[_RESULT] = lead


class _FieldErrors:
    """The messages of every field that failed, by field name (marshmallow's error shape)."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.by_field.setdefault(name, []).append(message)

    def take(self, name: str, fn: Callable[[], _T]) -> _T | None:
        """fn()'s value, or None with its FieldError noted under `name`."""
        try:
            return fn()
        except n.FieldError as e:
            self.add(name, str(e))
            return None


def _names_and_text(data: dict[str, Any], lead: NormalizedLead, errors: _FieldErrors) -> None:
    """Names (a full_name is split when first and last are missing), company, UTM tags, interest,
    external id and the address fields kept as extras."""
    take = errors.take
    first, last = data.get("first_name"), data.get("last_name")
    if not first and not last and data.get("full_name"):
        full = n.clean_text(data["full_name"], 200) or ""
        first, _, last = full.rpartition(" ") if " " in full else ("", "", full)
    lead.first_name = take("first_name", lambda: n.clean_text(first, TEXT["first_name"]))
    lead.last_name = take("last_name", lambda: n.clean_text(last, TEXT["last_name"]))
    lead.company = take("company", lambda: n.clean_text(data.get("company"), TEXT["company"]))
    for key in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"):
        value = take(key, partial(n.clean_text, data.get(key), TEXT[key]))
        if value:
            lead.utm[key] = value
    lead.interest = take("interest", lambda: n.clean_text(data.get("interest"), TEXT["interest"]))
    lead.external_id = take("external_id", lambda: n.clean_text(data.get("external_id"), 100))
    for key in ("title", "city", "postal_code", "street"):
        value = take(key, partial(n.clean_text, data.get(key), TEXT[key]))
        if value:
            lead.extra[key] = value


def _note(data: dict[str, Any], lead: NormalizedLead, errors: _FieldErrors) -> None:
    note = data.get("note")
    if note is not None:
        note = note.strip()
        if len(note) > NOTE_MAX:
            errors.add("note", f"longer than {NOTE_MAX} characters")
        lead.note = note or None


def _contact(data: dict[str, Any], lead: NormalizedLead, errors: _FieldErrors, default_region: str) -> None:
    """Email and phone (or mobile), normalised; at least one of them is required."""
    if data.get("email"):
        result = errors.take("email", lambda: n.normalise_email(data["email"]))
        if result:
            lead.email, lead.email_key = result
    lead.country = data["country"].upper() if data.get("country") else None
    region = lead.country or default_region
    raw_phone = data.get("phone") or data.get("mobile")
    if raw_phone:
        lead.phone_raw = raw_phone.strip()[:64]
        name = "phone" if data.get("phone") else "mobile"
        lead.phone = errors.take(name, lambda: n.normalise_phone(raw_phone, region))
        if lead.phone and lead.phone.status != "valid":
            lead.warnings.append(f"{name}: {lead.phone.e164} is not in the numbering plan; kept as unverified")
    failed = errors.by_field
    if not failed.get("email") and not failed.get("phone") and not failed.get("mobile"):
        if not lead.email and not lead.phone:
            errors.add("_schema", "an email address or a phone number is required")


def _date_and_consent(data: dict[str, Any], lead: NormalizedLead, errors: _FieldErrors) -> None:
    if data.get("created_at"):
        lead.source_created_at = errors.take("created_at", lambda: _created_at(data["created_at"]))
    if "phone_consent" in data:
        lead.phone_consent, lead.phone_consent_raw = data["phone_consent"]
    if "email_consent" in data:
        lead.email_consent, lead.email_consent_raw = data["email_consent"]


class WebFormLeadSchema(LeadInSchema):
    """Web-to-lead forms post whatever fields their builder adds (submit buttons, honeypots): ignore
    unknown ones instead of refusing the lead."""

    class Meta:
        unknown = EXCLUDE


class LeadBatchSchema(Schema):
    leads = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1))


class LeadOutSchema(Schema):
    id = fields.Integer()
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    company = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone_e164 = fields.String(allow_none=True)
    phone_status = fields.String()
    language = fields.String()
    source = fields.String()
    status = fields.Function(lambda o: o.status.value)
    score = fields.Integer(allow_none=True)
    do_not_contact = fields.Boolean()
    created_at = fields.DateTime()


class IntakeResultSchema(Schema):
    lead_id = fields.Integer()
    outcome = fields.String(metadata={"description": "created, updated or duplicate"})
    flagged_duplicates = fields.List(fields.Integer())
    warnings = fields.List(fields.String())
    delivery_id = fields.String()


class SubmissionAcceptedSchema(Schema):
    status = fields.String(metadata={"description": "accepted"})
    submission_id = fields.Integer()
    chain_id = fields.String(metadata={"description": "the lead chain's workflow id (a keyed hash)"})
    delivery_id = fields.String()
    warnings = fields.List(fields.String())
