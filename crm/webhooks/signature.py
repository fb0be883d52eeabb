"""Standard Webhooks verification (webhook-id, webhook-timestamp, webhook-signature: v1,<base64>)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from flask import current_app
from standardwebhooks.webhooks import Webhook
from werkzeug.datastructures import Headers

from crm import secret_names
from crm.api.auth import FailureThrottle
from crm.errors import ApiError
from crm.extensions import db
from crm.models.companies import Company
from crm.models.lead_sources import LeadSource
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
    match, installation_active = _route(source)
    if match is not None:
        found = SourceSecrets(match.company_id, match.branch_id, store.get_list(match.secret_name))
    else:
        installation = store.get_list(secret_names.lead_webhook(source))
        company = routing.DEFAULT_COMPANY_ID
        found = SourceSecrets(company, None, installation if installation_active else [])
    if not found.secrets:
        raise ApiError(404, "unknown source")
    return found


def _route(slug: str) -> tuple[routing.SourceMatch | None, bool]:
    """(routing.lead_source(slug), routing.company_is_active(DEFAULT_COMPANY_ID)) in one statement and one
    routing transaction instead of two of each (issue 21): the active source `slug` of an active company,
    and whether the installation's company is active, for a source configured only by its secret."""
    with routing.platform_lookup("lead source"):
        rows = db.session.execute(_route_statement(), {"slug": slug}).all()
    source = next((r for r in rows if r[2]), None)
    if source is None:
        return None, bool(rows)
    company_id, branch_id = source[0], source[1]
    return routing.SourceMatch(company_id, branch_id, routing.lead_source_secret_name(company_id, slug)), True


@lru_cache(maxsize=1)
def _route_statement() -> Any:
    # Built once, the slug a bound parameter: building it cost as much as running it (issue 21).
    configured = (
        sa.select(LeadSource.company_id, LeadSource.branch_id, sa.literal(True).label("configured"))
        .join(Company, Company.id == LeadSource.company_id)
        .where(LeadSource.slug == sa.bindparam("slug"), LeadSource.active.is_(True), Company.active.is_(True))
        .limit(1)
    )
    installation = sa.select(Company.id, sa.null(), sa.literal(False)).where(
        Company.id == routing.DEFAULT_COMPANY_ID, Company.active.is_(True)
    )
    return sa.union_all(configured.subquery().select(), installation)


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
