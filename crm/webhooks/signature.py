"""Standard Webhooks verification (webhook-id, webhook-timestamp, webhook-signature: v1,<base64>)."""
from __future__ import annotations

import logging
from typing import Mapping

from standardwebhooks.webhooks import Webhook

log = logging.getLogger(__name__)


def verify_standard_webhook(body: bytes, headers: Mapping[str, str], secrets: list[str]) -> bool:
    """True when any of the source's active secrets (several during rotation) signed this body within the
    5-minute tolerance. Malformed headers count as a failed signature, never as a server error."""
    wanted = {k: headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    for secret in secrets:
        try:
            Webhook(secret).verify(body, wanted, json_parse=False)
            return True
        except Exception:  # noqa: BLE001 - the library raises several types for bad input
            continue
    return False
