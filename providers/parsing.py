"""Typed, range-checked reading of provider payloads (docs/providers.md §0.1).

A provider's JSON is read through `Fields`, never with bare `.get()`: every value that reaches a CallEvent
(and so the database) has the expected type and lies in a sane range, or the read raises `FieldError`
naming the field (a MalformedPayload: the webhook answers 400 or records the body as unparseable).
Absent and `null` are the same: "not sent".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from providers.wire import MalformedPayload

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_DURATION_S = 24 * 3600
MAX_COST_CENTS = 1_000_000  # $10,000 for one call: anything above is not a price
SHORT = 200  # statuses, reasons, names
ID = 128  # provider call ids (Interaction.provider_ref)
URL = 1000  # Interaction.recording_url
TEXT = 50_000  # summaries, one transcript turn
MAX_ITEMS = 5_000  # transcript turns, messages
MAX_DEPTH = 10  # nesting of free-form objects kept as sent (analysis)
MAX_JSON_CHARS = 100_000
MAX_DB_INT = 2**31 - 1  # our integer ids


class FieldError(MalformedPayload):
    """A field of the wrong type or out of range; `field` is its dotted path."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


def _storable(value: str, field: str) -> str:
    """A string the database can hold: valid UTF-8 (no lone surrogates) and no NUL character."""
    if "\x00" in value:
        raise FieldError(field, "contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FieldError(field, "is not valid Unicode text") from None
    return value


def _in_range(moment: datetime, field: str) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise FieldError(field, f"is out of range ({EARLIEST.year}..{LATEST.year})")
    return moment


def parse_time(
    value: Any, field: str, *, epoch: str | None = None, required: bool = False, require_offset: bool = False
) -> datetime | None:
    """An aware datetime from an ISO 8601 string, or from epoch numbers when `epoch` is "ms", "s" or "auto"
    (above 1e11: milliseconds). None when absent (unless `required`). Raises FieldError (a ValueError)
    for the wrong type, an unreadable string, a missing offset when `require_offset`, or a time outside
    2000..2100. Naive ISO times are taken as UTC."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FieldError(field, "is required (ISO 8601)")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and epoch is not None:
        if isinstance(value, float) and not math.isfinite(value):
            raise FieldError(field, "is not a finite number")
        ms = epoch == "ms" or (epoch == "auto" and abs(value) > 1e11)
        if not -1e15 < value < 1e15:  # also keeps a huge int from the float division below
            raise FieldError(field, f"is out of range ({EARLIEST.year}..{LATEST.year})")
        seconds = value / 1000 if ms else value
        if not EARLIEST.timestamp() <= seconds < LATEST.timestamp():
            raise FieldError(field, f"is out of range ({EARLIEST.year}..{LATEST.year})")
        return datetime.fromtimestamp(seconds, tz=UTC)
    if not isinstance(value, str):
        raise FieldError(field, "must be an ISO 8601 string" + (" or epoch number" if epoch else ""))
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FieldError(field, f"is not an ISO 8601 time: {value[:40]!r}") from None
    if moment.tzinfo is None:
        if require_offset:
            raise FieldError(field, "needs a UTC offset")
        moment = moment.replace(tzinfo=UTC)
    return _in_range(moment, field)


def json_safe(value: Any, field: str, *, depth: int = 0) -> Any:
    """`value` as sent, checked to be storable JSON: finite numbers, storable strings, bounded nesting."""
    if depth > MAX_DEPTH:
        raise FieldError(field, f"is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _storable(key, field)
            json_safe(item, f"{field}.{key}"[:SHORT], depth=depth + 1)
    elif isinstance(value, list):
        for item in value:
            json_safe(item, f"{field}[]", depth=depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise FieldError(field, "is not a finite number")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        raise FieldError(field, "is too large a number")
    elif isinstance(value, str):
        _storable(value, field)
    if depth == 0 and len(json.dumps(value, ensure_ascii=False)) > MAX_JSON_CHARS:
        raise FieldError(field, f"is longer than {MAX_JSON_CHARS} characters as JSON")
    return value


def decode_object(body: bytes, what: str) -> Fields:
    """The body as a JSON object (UTF-8)."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise MalformedPayload(f"not UTF-8 JSON: {type(e).__name__}") from None
    return Fields.of(payload, what)


class Fields:
    """A JSON object read field by field; `path` names it in errors (e.g. "call")."""

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self.data = data
        self.path = path

    @classmethod
    def of(cls, value: Any, path: str) -> Fields:
        if not isinstance(value, dict):
            raise FieldError(path, "must be an object")
        return cls(value, path)

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def text(self, key: str, max_len: int = SHORT, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise FieldError(self.name(key), "is required")
            return None
        if not isinstance(value, str):
            raise FieldError(self.name(key), "must be a string")
        if len(value) > max_len:
            raise FieldError(self.name(key), f"is longer than {max_len} characters")
        if required and not value:
            raise FieldError(self.name(key), "is required")
        return _storable(value, self.name(key))

    def number(self, key: str, low: float, high: float, *, numeric_text: bool = False) -> float | None:
        """A finite number within [low, high]; with `numeric_text` also a decimal string (Bland's
        corrected_duration)."""
        value = self.data.get(key)
        if value is None or (numeric_text and value == ""):
            return None
        if numeric_text and isinstance(value, str):
            if len(value) > 40:
                raise FieldError(self.name(key), "is longer than 40 characters")
            try:
                value = float(Decimal(value.strip()))
            except (InvalidOperation, ValueError):
                raise FieldError(self.name(key), "is not a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldError(self.name(key), "must be a number")
        # An int is compared as it is: a huge one cannot even become a float.
        if (isinstance(value, float) and not math.isfinite(value)) or not low <= value <= high:
            raise FieldError(self.name(key), f"is out of range ({low:g}..{high:g})")
        return float(value)

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise FieldError(self.name(key), "must be true or false")

    def obj(self, key: str) -> Fields | None:
        value = self.data.get(key)
        if value is None:
            return None
        return Fields.of(value, self.name(key))

    def items(self, key: str, max_items: int = MAX_ITEMS) -> list[Any] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise FieldError(self.name(key), "must be a list")
        if len(value) > max_items:
            raise FieldError(self.name(key), f"has more than {max_items} items")
        return value

    def time(self, key: str, epoch: str | None = None) -> datetime | None:
        return parse_time(self.data.get(key), self.name(key), epoch=epoch)

    def free(self, key: str) -> dict[str, Any] | None:
        """A free-form object kept as sent (an analysis): checked storable, not interpreted here."""
        found = self.obj(key)
        return None if found is None else json_safe(dict(found.data), found.path)

    def ident(self, key: str) -> int | None:
        """One of our integer ids (a lead id in metadata, as a number or a digit string); None when absent
        or not ours (another system's non-numeric id)."""
        value = self.data.get(key)
        if value is None or value == "" or isinstance(value, bool):
            return None
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
            value = int(value)
        if isinstance(value, int) and 0 < value <= MAX_DB_INT:
            return value
        return None


def cents(dollars: float | None) -> int | None:
    """Whole cents from a dollar amount already range-checked."""
    if dollars is None:
        return None
    return int((Decimal(str(dollars)) * 100).to_integral_value(rounding="ROUND_HALF_UP"))


def required_time(value: Any, field: str) -> datetime:
    """An ISO 8601 time with its UTC offset, required (a tool call's `start`: the voice bridge)."""
    moment = parse_time(value, field, required=True, require_offset=True)
    if moment is None:  # parse_time(required=True) never answers None; this narrows the type
        raise FieldError(field, "is required (ISO 8601)")
    return moment
