"""Which company and number configuration answer a call to a number: read before any company is bound.

The look-up by E.164 is a platform read (docs/tenancy.md rule 2): like crm.tenancy.routing it runs in a short
operator context whose transaction is closed before the caller binds the company, and it returns plain
values. The number is unique across the platform (uq_phone_numbers_e164), so it names one company."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import phonenumbers
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Company, PhoneNumber
from crm.tenancy.routing import platform_lookup, storable


@dataclass(frozen=True)
class NumberRoute:
    """The number's configuration and its company's name and place, read in one indexed query: all the
    answer needs besides the caller's own rows (the caller is ringing: every round trip counts)."""

    company_id: int
    number_id: int
    provider: str
    e164: str
    agent_ref: str | None
    language: str
    greeting_name: str | None
    branch_id: int | None
    default_owner_id: int | None
    business_hours: dict | None
    holiday_behaviour: str
    transfer_e164: str | None
    company_name: str
    company_timezone: str | None
    company_state: str | None


def e164_of(raw: object) -> str | None:
    """`raw` as E.164 when it is a plausible international number (the providers send E.164), else None."""
    if not isinstance(raw, str) or not 0 < len(raw) <= 40 or not storable(raw):
        return None
    try:
        number = phonenumbers.parse(raw.strip(), None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A number's route is kept this long in the process: the routing read is a transaction of its own (a pool
# checkout, the tenancy settings, a round trip each), and a caller is ringing. A number an admin moves,
# changes or switches off answers the old way for at most this long; a number moved to another company
# meanwhile fails that company's signature (401), it never answers with the old company's data.
ROUTE_TTL_S = 30.0
_cache: dict[tuple[str, str], tuple[float, NumberRoute | None]] = {}
_cache_lock = threading.Lock()


def clear_route_cache() -> None:
    with _cache_lock:
        _cache.clear()


def route_number(e164: str, provider: str) -> NumberRoute | None:
    """The active number `e164` of an active company, bound to `provider`; None: no company answers it.
    Cached per database for ROUTE_TTL_S."""
    key = (str(db.engine.url), e164)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and now - hit[0] < ROUTE_TTL_S:
        found = hit[1]
    else:
        found = _read_route(e164)
        with _cache_lock:
            if len(_cache) > 10_000:  # numbers nobody has: do not let guesses grow it without bound
                _cache.clear()
            _cache[key] = (now, found)
    return found if found is not None and found.provider == provider else None


def _read_route(e164: str) -> NumberRoute | None:
    with platform_lookup("inbound number"):
        row = db.session.execute(
            sa.select(
                PhoneNumber.id,
                PhoneNumber.company_id,
                PhoneNumber.provider,
                PhoneNumber.e164,
                PhoneNumber.agent_ref,
                PhoneNumber.language,
                PhoneNumber.greeting_name,
                PhoneNumber.branch_id,
                PhoneNumber.default_owner_id,
                PhoneNumber.business_hours,
                PhoneNumber.holiday_behaviour,
                PhoneNumber.transfer_e164,
                Company.name,
                Company.timezone,
                Company.state,
            )
            .join(Company, Company.id == PhoneNumber.company_id)
            .where(PhoneNumber.e164 == e164, PhoneNumber.active.is_(True), Company.active.is_(True))
        ).first()
    if row is None:
        return None
    return NumberRoute(
        company_id=row.company_id,
        number_id=row.id,
        provider=row.provider,
        e164=row.e164,
        agent_ref=row.agent_ref,
        language=row.language,
        greeting_name=row.greeting_name,
        branch_id=row.branch_id,
        default_owner_id=row.default_owner_id,
        business_hours=row.business_hours,
        holiday_behaviour=row.holiday_behaviour,
        transfer_e164=row.transfer_e164,
        company_name=row.name,
        company_timezone=row.timezone,
        company_state=row.state,
    )
