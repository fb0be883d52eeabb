"""What Twilio's two webhooks share (docs/audio-agent.md §T5): the form body, the public URL Twilio
signed, and the auth tokens a company's signature must match.

The URL is rebuilt from the configured public base (LEADCHAIN_PUBLIC_URL) plus the path and raw query
Twilio called, never from the request's Host: behind a TLS proxy the Host and scheme differ from what
Twilio signed (https → http is the classic failure)."""

from __future__ import annotations

from urllib.parse import parse_qs

from flask import current_app, request

from crm.errors import ApiError
from crm.requests import raw_body
from crm.tenancy import routing
from crm.webhooks import provider_common
from providers.factory import registry, webhook_secret
from providers.twilio_wire import NAME

FORM = "application/x-www-form-urlencoded"
Form = dict[str, list[str]]


def read_form() -> tuple[bytes, Form]:
    """The raw body and its form fields; 413/415/400 (naming what is wrong), then the failure throttle."""
    body = raw_body(current_app.config["LEADCHAIN"].max_webhook_bytes)
    if request.mimetype != FORM:
        raise ApiError(415, f"unsupported content type {request.mimetype or '(none)'}; send {FORM}")
    provider_common.SIGNATURE_FAILURES.check()
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "unreadable Twilio webhook", {"body": ["not UTF-8 form fields"]}) from None
    return body, form


def public_url() -> str:
    """The URL Twilio called, as Twilio saw it; 503 when no public base is configured (nothing to verify
    against: Twilio retries later)."""
    base = current_app.config["LEADCHAIN"].providers.public_url
    if not base:
        raise ApiError(503, "LEADCHAIN_PUBLIC_URL is not set: Twilio's signature cannot be checked")
    query = request.query_string.decode("latin-1")
    return f"{base.rstrip('/')}{request.path}" + (f"?{query}" if query else "")


def tokens_for(company_id: int) -> list[str]:
    """Company `company_id`'s Twilio auth token(s): its own account's (the installation's for company 1),
    or the sandbox's; for company 1 also the provider the app was built with (tests, one registry)."""
    found: list[str] = []
    configured = webhook_secret(current_app, NAME, company_id)
    if configured:
        found.append(configured)
    if company_id == routing.DEFAULT_COMPANY_ID:
        provider = registry(current_app).get(NAME)
        for token in getattr(provider, "webhook_secrets", None) or []:
            if isinstance(token, str) and token and token not in found:
                found.append(token)
    return found


def refuse_signature() -> ApiError:
    provider_common.SIGNATURE_FAILURES.failed()
    return ApiError(401, "invalid or missing X-Twilio-Signature")
