"""Point every Bland inbound number of a company at the CRM (docs/inbound.md sec. 7): for each active `phone_numbers`
row of provider bland, `bland_config.configure()` with the company's Bland account (its API key, or the provider
sandbox's on a keyless local stack: providers.factory.provider_endpoint) and the Bland webhook secret the CRM
verifies that company's Bland requests with.

Idempotent: Bland's `POST /v1/inbound/{number}` replaces the number's configuration with the one sent, so a second
run leaves Bland holding the same configuration and buys or creates nothing. Run where a Retell or Vapi number gets
pointed at us: after `make up`'s demo data (workers.launcher, `leadchain inbound-configure-bland`), and by an
operator after adding a Bland number bought at Bland by hand (the setup wizard buys and configures its own:
crm.onboarding.bland_setup)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
import sqlalchemy as sa
from flask import current_app

from crm.extensions import db
from crm.inbound import bland_config
from crm.models import PhoneNumber
from crm.tenancy.context import operator_scope, unit_of_work
from providers.factory import provider_endpoint, webhook_secret_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Configured:
    number_id: int
    e164: str  # the company's own number, not a person's
    ok: bool
    detail: str  # "configured", or why not (Bland's status, the error's type)


def configure_company(company_id: int, base_url: str, client: httpx.Client | None = None) -> list[Configured]:
    """Configure the company's active Bland numbers (run in its unit of work); one result per number. A company
    without a Bland account (no API key and no sandbox, or no webhook secret) gets each number refused by name,
    and nothing is sent."""
    settings = current_app.config["LEADCHAIN"].providers
    secrets = current_app.extensions["leadchain.secrets"]
    endpoint = provider_endpoint(settings, secrets, "bland", company_id)
    secret = webhook_secret_for(settings, secrets, "bland", company_id)
    numbers = db.session.scalars(
        sa.select(PhoneNumber)
        .where(PhoneNumber.company_id == company_id, PhoneNumber.provider == "bland", PhoneNumber.active.is_(True))
        .order_by(PhoneNumber.id)
    ).all()
    done = []
    for number in numbers:
        if endpoint is None or not secret:
            missing = "API key" if endpoint is None else "webhook secret"
            done.append(Configured(number.id, number.e164, False, f"not sent: the company has no Bland {missing}"))
        else:
            done.append(_send(number, endpoint, secret, base_url, client))
        log.info("bland inbound number %s of company %s: %s", number.id, company_id, done[-1].detail)
    db.session.rollback()  # read only
    return done


def _send(
    number: PhoneNumber, endpoint: tuple[str, str], secret: str, base_url: str, client: httpx.Client | None
) -> Configured:
    api_key, bland_url = endpoint
    try:
        bland_config.configure(
            number, api_key=api_key, base_url=base_url, secret=secret, bland_url=bland_url, client=client
        )
    except httpx.HTTPStatusError as e:
        return Configured(number.id, number.e164, False, f"Bland answered {e.response.status_code}")
    except httpx.HTTPError as e:
        return Configured(number.id, number.e164, False, f"Bland not reached ({type(e).__name__})")
    return Configured(number.id, number.e164, True, "configured")


def companies_with_numbers() -> list[int]:
    """The companies that have an active Bland number (read across companies in an operator context)."""
    with operator_scope("cli:inbound-configure-bland", "find the companies with Bland numbers"):
        found = db.session.scalars(
            sa.select(PhoneNumber.company_id)
            .where(PhoneNumber.provider == "bland", PhoneNumber.active.is_(True))
            .distinct()
            .order_by(PhoneNumber.company_id)
        ).all()
        db.session.rollback()
    return list(found)


def configure_all(base_url: str, client: httpx.Client | None = None) -> dict[int, list[Configured]]:
    """Every company's Bland numbers, each company in its own unit of work."""
    results: dict[int, list[Configured]] = {}
    for company_id in companies_with_numbers():
        with unit_of_work(company_id):
            results[company_id] = configure_company(company_id, base_url, client)
    return results
