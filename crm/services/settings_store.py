"""The admin settings table (AppSetting), read and written by key, one row per company and key; and the
current company's own row (its time zone, state, sender, imprint and branding: crm.models.Company).

Every read and write is the current company's (crm.tenancy.context): a company with no row for a key gets
the shipped or environment default, whatever another company stored.

This is the piece scoring, compliance and app_settings share: it sits below all three, so the scoring and
the call gate read an admin's stored override here without importing app_settings, which builds
on their parsers to validate what an admin enters (crm/services/app_settings.py). Writes run in the
caller's transaction, are audited, and do not commit.
"""

from __future__ import annotations

from typing import Any

from crm.extensions import db
from crm.models import AppSetting, Company
from crm.models.types import utcnow
from crm.services import audit
from crm.tenancy.context import current_company_id, require_company_id

SCORING_RULES, GATE_THRESHOLD, CALLING_HOURS = "scoring.rules", "gate.threshold", "calling_hours"
# After how many days in one stage an open deal is "stale" (crm.services.deal_metrics).
DEAL_STALE_DAYS = "deals.stale_days"
KEYS = (SCORING_RULES, GATE_THRESHOLD, CALLING_HOURS, DEAL_STALE_DAYS)


def stored(key: str) -> AppSetting | None:
    """The stored override of `key`, or None (the default applies)."""
    if key not in KEYS:
        raise KeyError(key)
    # The key is the current company's: the primary key is (company_id, key), so another company's row is
    # never found here even with the ORM's company criteria switched off.
    return db.session.get(AppSetting, (require_company_id(), key))


def put(key: str, value: Any, actor: str) -> AppSetting:
    """Store an already validated value (audited as `setting.update`)."""
    row = stored(key)
    before = {"key": key, "value": row.value} if row is not None else {"key": key, "default": True}
    if row is None:
        row = AppSetting(company_id=require_company_id(), key=key, value=value, updated_by=actor, updated_at=utcnow())
        db.session.add(row)
    else:
        row.value, row.updated_by, row.updated_at = value, actor, utcnow()
    audit.record(actor, "setting.update", "app_setting", None, before=before, after={"key": key, "value": value})
    db.session.flush()
    return row


def reset(key: str, actor: str) -> bool:
    """Back to the default: delete the override (audited). False when there was none."""
    row = stored(key)
    if row is None:
        return False
    audit.record(
        actor,
        "setting.reset",
        "app_setting",
        None,
        before={"key": key, "value": row.value},
        after={"key": key, "default": True},
    )
    db.session.delete(row)
    db.session.flush()
    return True


def gate_threshold(default: int | None = None) -> int | None:
    """The stored threshold, else `default` (the chain's own ChainSettings.gate_threshold)."""
    row = stored(GATE_THRESHOLD)
    return int(row.value) if row is not None else default


def calling_hours() -> dict[str, Any] | None:
    """The stored calling hours (LEADCHAIN_CALLING_HOURS's JSON shape), or None."""
    row = stored(CALLING_HOURS)
    return row.value if row is not None else None


def company() -> Company | None:
    """The current company's row, None outside a company scope (an operator's platform pages, a CLI with no
    company): callers then use the installation's configuration."""
    company_id = current_company_id()
    return db.session.get(Company, company_id) if company_id is not None else None


def holiday_state() -> str | None:
    """The Bundesland whose public holidays the current company's calls skip (Company.state), or None."""
    row = company()
    return row.state if row is not None else None
