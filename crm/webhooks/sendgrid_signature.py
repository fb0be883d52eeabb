"""SendGrid's webhook signatures (docs/providers.md §4.4): ECDSA P-256 over ``timestamp + raw body``, the
verification keys (stored secrets, or the sandbox's key in keyless sandbox mode) and the replay window."""

from __future__ import annotations

import base64
import binascii
import logging
import time

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app, request

from crm import secret_names
from crm.api.auth import FailureThrottle
from crm.email.factory import sandbox_url, uses_sandbox
from crm.errors import ApiError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
SANDBOX_KEY_REFRESH_S = 30.0
# How old a signed timestamp may be. SendGrid retries a failed post for up to 24 hours and it is not
# documented whether a retry is signed anew; every event is deduplicated on its natural key (kept
# longer than this window), so a replayed genuine batch changes nothing, while a window shorter than
# the retry horizon could reject SendGrid's own retries after an outage. Hence 25 h by default;
# LEADCHAIN_SENDGRID_TOLERANCE_S (Settings.email.sendgrid_tolerance_s) tightens it once re-signing is confirmed.
DEFAULT_REPLAY_WINDOW_S = 25 * 3600
FUTURE_SKEW_S = 300
# Failed SendGrid signatures per client IP, counted like the lead webhook's (LEADCHAIN_AUTH_FAILURE_LIMIT,
# shared storage); past the limit a 429 with Retry-After and the signature is not even checked.
SIGNATURE_FAILURES = FailureThrottle("sendgrid-signature")


def _load_key(value: str) -> ec.EllipticCurvePublicKey | None:
    value = value.strip()
    try:
        if value.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(value.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error, TypeError):
        log.error("a SendGrid verification key is not base64 DER / PEM SubjectPublicKeyInfo")
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def _sandbox_keys(force: bool = False) -> list[str]:
    # Flask types current_app as the app itself; at runtime it is a LocalProxy that this unwraps.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not uses_sandbox(app):
        return []
    cache = app.extensions.get("leadchain.sendgrid.sandbox_key")
    if cache and not (force and time.monotonic() - cache[1] > SANDBOX_KEY_REFRESH_S):
        return cache[0]

    try:
        r = httpx.get(f"{sandbox_url(app)}/sendgrid/sandbox/public-key", timeout=5)
        r.raise_for_status()
        keys = [r.json()["public_key"]]
    except (httpx.HTTPError, ValueError, KeyError) as e:
        log.error("cannot fetch the sandbox's SendGrid public key: %s", type(e).__name__)
        keys = cache[0] if cache else []
    app.extensions["leadchain.sendgrid.sandbox_key"] = (keys, time.monotonic())
    return keys


def verification_keys(kind: str = "events", *, refresh: bool = False) -> list[ec.EllipticCurvePublicKey]:
    secrets = current_app.extensions["leadchain.secrets"]
    values = secrets.get_list(secret_names.SENDGRID_INBOUND_PUBLIC_KEY) if kind == "inbound" else []
    values = values or secrets.get_list(secret_names.SENDGRID_WEBHOOK_PUBLIC_KEY)
    if not values:
        values = _sandbox_keys(force=refresh)
    return [k for k in (_load_key(v) for v in values) if k is not None]


def signature_valid(body: bytes, headers, keys: list[ec.EllipticCurvePublicKey]) -> bool:
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp or not keys or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    age = time.time() - int(timestamp)
    if age > replay_window_s() or age < -FUTURE_SKEW_S:
        return False
    try:
        der = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    for key in keys:
        try:
            key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
            return True
        except InvalidSignature:
            continue
    return False


def replay_window_s() -> int:
    value: int | None = current_app.config["LEADCHAIN"].email.sendgrid_tolerance_s
    return value or DEFAULT_REPLAY_WINDOW_S


def verify_request(body: bytes, kind: str) -> None:
    """401 unless the request carries a valid, fresh signature by one of the keys of `kind` (events | inbound);
    429 once this address failed too often."""
    SIGNATURE_FAILURES.check()
    if signature_valid(body, request.headers, verification_keys(kind)):
        return
    # The sandbox may have restarted with a new key pair: fetch once more (rate-limited) and retry.
    if signature_valid(body, request.headers, verification_keys(kind, refresh=True)):
        return
    SIGNATURE_FAILURES.failed()
    raise ApiError(401, "invalid or stale signature")
