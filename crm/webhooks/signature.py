"""Standard Webhooks verification (webhook-id, webhook-timestamp, webhook-signature: v1,<base64>)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from flask import current_app
from standardwebhooks.webhooks import Webhook
from werkzeug.datastructures import Headers

from crm import secret_names
from crm.api.auth import FailureThrottle
from crm.errors import ApiError
from crm.tenancy import routing

log = logging.getLogger(__name__)

SOURCE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# Failed webhook signatures per client IP (LEADCHAIN_AUTH_FAILURE_LIMIT), shared by every web process:
# check() before verifying, failed() after a bad one.
SIGNATURE_FAILURES = FailureThrottle("webhook-signature")


@dataclass(frozen=True)
class SourceSecrets:
    company_id: int
    branch_id: int | None
    secrets: list[str]


def source_secrets(source: str) -> SourceSecrets:
    """The company of lead source `source` and its active secrets, or a 404 "unknown source".

    A configured source (lead_sources) has its secrets in the company's path of the secrets store
    (companies/<id>/lead-sources/<slug>); a source that is not in lead_sources but has an installation
    secret (webhooks/leads-<source>, from before companies) is the installation company's.

    A 404 rather than the 401 of a bad signature: a sender with a typo in its URL (or a source nobody
    configured yet) learns what is wrong instead of debugging its signing. It tells no more than that a
    source name is configured: source names are not secrets (they are in every URL given to a partner),
    and a configured source still takes nothing without a valid signature. Checked before the body is
    read, so an unknown source costs no parsing."""
    if not SOURCE.match(source):
        raise ApiError(404, "unknown source")
    store = current_app.extensions["leadchain.secrets"]
    match = routing.lead_source(source)
    if match is not None:
        found = SourceSecrets(match.company_id, match.branch_id, store.get_list(match.secret_name))
    else:
        installation = store.get_list(secret_names.lead_webhook(source))
        company = routing.DEFAULT_COMPANY_ID
        found = SourceSecrets(company, None, installation if routing.company_is_active(company) else [])
    if not found.secrets:
        raise ApiError(404, "unknown source")
    return found


def verify_standard_webhook(body: bytes, headers: Headers | Mapping[str, str], secrets: list[str]) -> bool:
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
