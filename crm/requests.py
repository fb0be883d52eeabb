"""Reading request bodies safely: size limit, content type, JSON or form.

JSON is read strictly (`loads_strict`): Python's json module takes NaN, Infinity and -Infinity and reads
1e400 as infinity, none of which is JSON (RFC 8259 §6) and none of which PostgreSQL's jsonb stores (the
insert failed with a 500, after the signature had been checked). Such a number is a 400 naming its field."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qsl

from flask import request

from crm.errors import ApiError

JSON_TYPES = ("application/json",)


def raw_body(limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body larger than {limit} bytes")
    data = request.get_data(cache=True)
    if len(data) > limit:
        raise ApiError(413, f"request body larger than {limit} bytes")
    return data


def non_finite_fields(value: Any) -> list[str]:
    """The paths ("phone", "leads.0.score", "extra.deep.1") of every number in `value` that is not finite."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            found.append(path or "json")
        elif isinstance(item, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(item))
    return sorted(found)


def loads_strict(body: bytes) -> Any:
    """Parse a UTF-8 JSON body; a 400 for bad JSON, NaN/Infinity, or a number too large for a double
    (the error names each such field by its path)."""
    try:
        # NaN/Infinity parse (as floats) so that the check below can name the field they are in.
        value = json.loads(body.decode("utf-8"))
    except RecursionError:  # json.loads of [[[[... deeper than the interpreter's stack
        raise ApiError(400, "body is nested too deeply", {"json": ["nested too deeply"]}) from None
    except (UnicodeDecodeError, ValueError) as e:
        raise ApiError(400, "body is not valid UTF-8 JSON", {"json": [str(e)[:200]]}) from None
    bad = non_finite_fields(value)
    if bad:
        raise ApiError(
            400, "body holds numbers that are not finite", {path: ["number out of range"] for path in bad[:50]}
        )
    return value


def is_json_type(mimetype: str) -> bool:
    return mimetype in JSON_TYPES or mimetype.endswith("+json")


def parse_body(body: bytes, *, allow_form: bool) -> Any:
    mimetype = request.mimetype
    if is_json_type(mimetype):
        return loads_strict(body)
    if allow_form and mimetype == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise ApiError(400, "form body is not valid UTF-8") from None
        return dict(pairs)
    accepted = "application/json" + (" or application/x-www-form-urlencoded" if allow_form else "")
    raise ApiError(415, f"unsupported content type {mimetype or '(none)'}; send {accepted}")
