"""Run a provider's setup steps for a company, each recorded in provisioned_objects (docs/onboarding.md §3).

* provision: every step not yet "created" is done, in order; a step left "creating" by a crash or a lost
  answer is first looked up at the provider under its reference, so a retry never buys a second number.
  Steps already done are skipped: that is the resume.
* undo: every object not yet "deleted" is deleted at the provider, last step first, and its row marked
  "deleted"; a "creating" row is looked up first (the provider may have made it). A failed delete leaves
  its row as it was, so running undo again finishes the job.

Each row change is committed before the provider is asked about the next thing: what the table says is
never behind what the provider has, except for the one call in flight, which the reference covers."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from crm.extensions import db
from crm.models.onboarding import ProvisionedObject
from crm.models.types import utcnow
from crm.onboarding.vendor import ProvisioningFailed, VendorSetup

log = logging.getLogger(__name__)


def reference(company_id: int, provider: str, step: str) -> str:
    # The name an object is created under at the provider: ids only, no company name or person.
    return f"leadchain-c{company_id}-{provider}-{step}"


def _row(company_id: int, provider: str, step: str) -> ProvisionedObject | None:
    return db.session.execute(
        db.select(ProvisionedObject).filter_by(company_id=company_id, provider=provider, step=step)
    ).scalar_one_or_none()


def provision(vendor: VendorSetup, company_id: int) -> dict[str, str]:
    """Create whatever of `vendor.steps` is missing for the company; the provider's id per step."""
    created: dict[str, str] = {}
    for step in vendor.steps:
        row = _row(company_id, vendor.provider, step)
        if row is not None and row.status == "created" and row.external_id:
            created[step] = row.external_id
            continue
        maybe_made = row is not None and row.status == "creating"
        if row is None:
            row = ProvisionedObject(
                company_id=company_id,
                provider=vendor.provider,
                step=step,
                reference=reference(company_id, vendor.provider, step),
            )
            db.session.add(row)
        row.status, row.external_id, row.deleted_at = "creating", None, None
        try:
            db.session.commit()
        except IntegrityError:
            # Another request of the same company is at this step right now (the unique key): let it finish.
            db.session.rollback()
            raise ProvisioningFailed(step, "another setup of this company is running") from None
        external = vendor.find(step, row.reference) if maybe_made else None
        if external is None:
            external = vendor.create(step, row.reference, created)
        row.status, row.external_id = "created", external
        db.session.commit()
        log.info("onboarding: company %s %s %s created", company_id, vendor.provider, step)
        created[step] = external
    return created


def undo(vendor: VendorSetup, company_id: int) -> int:
    """Delete every live object the wizard created at `vendor` for the company; how many were deleted."""
    deleted = 0
    for step in reversed(vendor.steps):
        row = _row(company_id, vendor.provider, step)
        if row is None or row.status == "deleted":
            continue
        external = row.external_id if row.status == "created" else vendor.find(step, row.reference)
        if external is not None:
            vendor.delete(step, external)
            deleted += 1
        row.status, row.deleted_at = "deleted", utcnow()
        db.session.commit()
        log.info("onboarding: company %s %s %s deleted", company_id, vendor.provider, step)
    return deleted


def live_objects(company_id: int) -> list[ProvisionedObject]:
    """The company's objects that exist (or may exist) at a provider."""
    return list(
        db.session.execute(
            db.select(ProvisionedObject)
            .filter(ProvisionedObject.company_id == company_id, ProvisionedObject.status != "deleted")
            .order_by(ProvisionedObject.id)
        ).scalars()
    )
