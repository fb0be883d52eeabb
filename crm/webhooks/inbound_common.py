"""What the inbound-call webhooks (retell_inbound, vapi_assistant_request, bland_inbound) share: reading the
raw body as a JSON object, and the signature-failure throttle of the other provider webhooks."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request

from crm.errors import ApiError
from crm.requests import raw_body
from crm.webhooks import provider_common

# The refusals every inbound-call answer documents in the OpenAPI spec (Retell's 400 and 401 say more).
REFUSALS: dict[str, dict[str, str]] = {
    "400": {"description": "a field of the wrong type (named); nothing stored"},
    "401": {"description": "no valid credential; nothing stored"},
    "404": {"description": "no company answers the called number"},
    "413": {"description": "body too large"},
    "415": {"description": "not sent as application/json"},
}


def read_object(provider: str) -> tuple[bytes, dict[str, Any]]:
    """The raw body (its signature is checked on these bytes) and the JSON object it holds; 413/415/400."""
    body = raw_body(current_app.config["LEADCHAIN"].max_webhook_bytes)
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, f"unsupported content type {mimetype or '(none)'}; send application/json")
    provider_common.SIGNATURE_FAILURES.check()
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, f"unreadable {provider} inbound call", {"body": ["not JSON"]}) from None
    if not isinstance(payload, dict):
        raise ApiError(400, f"unreadable {provider} inbound call", {"body": ["not a JSON object"]})
    return body, payload


def refuse_signature() -> ApiError:
    provider_common.SIGNATURE_FAILURES.failed()
    return ApiError(401, "invalid or stale signature")


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
