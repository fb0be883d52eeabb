"""Reading request bodies safely: size limit, content type, JSON or form."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from flask import request

from crm.errors import ApiError


def raw_body(limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body larger than {limit} bytes")
    data = request.get_data(cache=True)
    if len(data) > limit:
        raise ApiError(413, f"request body larger than {limit} bytes")
    return data


def parse_body(body: bytes, *, allow_form: bool) -> Any:
    mimetype = request.mimetype
    if mimetype == "application/json" or mimetype.endswith("+json"):
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ApiError(400, "body is not valid UTF-8 JSON", {"json": [str(e)[:200]]}) from None
    if allow_form and mimetype == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise ApiError(400, "form body is not valid UTF-8") from None
        return dict(pairs)
    accepted = "application/json" + (" or application/x-www-form-urlencoded" if allow_form else "")
    raise ApiError(415, f"unsupported content type {mimetype or '(none)'}; send {accepted}")
