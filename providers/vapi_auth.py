"""Vapi server-message authentication (docs/providers.md §2.4).

The legacy `X-Vapi-Secret` header, a Bearer credential (`Authorization: Bearer <secret>`) or an HMAC
credential (default plan: `x-signature` = hex HMAC-SHA256 of `"{timestamp}.{body}"`, `x-timestamp` in
seconds or milliseconds, 5-minute tolerance). Any one valid credential is enough; all compare in constant
time against every active secret (several during rotation). The HMAC credential is configured in Vapi
with the same secret.
"""

from __future__ import annotations

import base64
import hmac
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

HMAC_TOLERANCE_S = 300


@dataclass(frozen=True)
class HmacPlan:
    """Vapi's HmacAuthenticationPlan, with Vapi's defaults (docs/providers.md §2.4)."""

    algorithm: str = "sha256"  # sha256 | sha512 | sha1
    signature_header: str = "x-signature"
    timestamp_header: str = "x-timestamp"
    include_timestamp: bool = True
    payload_format: str = "{timestamp}.{body}"
    tolerance_s: int = HMAC_TOLERANCE_S

    def message(self, body: bytes, timestamp: str) -> bytes:
        head, sep, tail = self.payload_format.partition("{body}")
        if not sep:
            return self.payload_format.replace("{timestamp}", timestamp).encode()
        return head.replace("{timestamp}", timestamp).encode() + body + tail.replace("{timestamp}", timestamp).encode()


# Vapi's default plan, one shared (frozen) instance for the callers' parameter defaults.
DEFAULT_HMAC_PLAN = HmacPlan()


def split_secrets(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [s for s in re.split(r"[\s,]+", value) if s]
    return [s for s in value if s]


def _timestamp_fresh(raw: str, tolerance_s: int, now: float) -> bool:
    try:
        value = float(raw)
    except ValueError:
        return False
    if value > 1e11:  # milliseconds (the unit is not documented; seconds are the default, ms accepted)
        value /= 1000
    return abs(now - value) <= tolerance_s


def verify_server_auth(
    body: bytes,
    headers: Mapping[str, str],
    secrets: list[str],
    *,
    plan: HmacPlan = HmacPlan(),
    now: float | None = None,
) -> bool:
    """True when any supported credential in `headers` is valid for any of `secrets`."""
    if not secrets:
        return False
    headers = {k.lower(): v for k, v in headers.items()}
    encoded = [s.encode() for s in secrets]
    given = headers.get("x-vapi-secret")
    if given is not None and any(hmac.compare_digest(given.encode(), s) for s in encoded):
        return True
    auth = headers.get("authorization") or ""
    if auth[:7].lower() == "bearer " and any(hmac.compare_digest(auth[7:].strip().encode(), s) for s in encoded):
        return True
    signature = headers.get(plan.signature_header.lower())
    if not signature:
        return False
    timestamp = ""
    if plan.include_timestamp:
        timestamp = headers.get(plan.timestamp_header.lower()) or ""
        if not timestamp or not _timestamp_fresh(timestamp, plan.tolerance_s, time.time() if now is None else now):
            return False
    candidates = [
        c.split("=", 1)[1] if c.lower().startswith(f"{plan.algorithm}=") else c
        for c in re.split(r"[\s,]+", signature.strip())
        if c
    ]
    for secret in secrets:
        digest = hmac.new(secret.encode(), plan.message(body, timestamp), plan.algorithm).digest()
        wanted = (digest.hex(), base64.b64encode(digest).decode())
        for candidate in candidates:
            if hmac.compare_digest(candidate.lower().encode(), wanted[0].encode()) or hmac.compare_digest(
                candidate.encode(), wanted[1].encode()
            ):
                return True
    return False
