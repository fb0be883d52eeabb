"""Issuing, rotating and revoking a company's API keys (the admin's API keys page, `leadchain api-key create`).

A key is 256 random bits shown once; only its SHA-256 is stored (crm.models.api_keys). A rotation makes a new
key with the old one's name and scopes and shortens the old one's life to the overlap, so a client can switch
without an outage; revoking stops a key at its next request (the look-up skips revoked rows, nothing caches).
Runs in the caller's company scope (or an operator context); the caller commits."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from crm.extensions import db
from crm.models.api_keys import ApiKey, Scope
from crm.models.types import utcnow
from crm.tenancy import routing

KEY_PREFIX = "lck_"
NAME_MAX = 100
DEFAULT_OVERLAP = timedelta(hours=24)
MAX_LIFETIME_DAYS = 3650


@dataclass(frozen=True)
class IssuedKey:
    key_id: int
    secret: str  # the key itself: shown once, never stored
    prefix: str
    scopes: str


def parse_scopes(values: Iterable[str]) -> list[str]:
    """Known scopes, in their canonical order; a ValueError names an unknown one or an empty choice."""
    wanted = {v.strip() for v in values if v.strip()}
    unknown = wanted - {s.value for s in Scope}
    if unknown:
        raise ValueError(f"scopes: unknown {', '.join(sorted(unknown))}")
    if not wanted:
        raise ValueError("scopes: choose at least one")
    return [s.value for s in Scope if s.value in wanted]


def _live(company_id: int) -> sa.ColumnElement[bool]:
    now = utcnow()
    return sa.and_(
        ApiKey.company_id == company_id,
        ApiKey.revoked_at.is_(None),
        sa.or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
    )


def issue(company_id: int, name: str, scopes: Iterable[str], *, lifetime_days: int | None = None) -> IssuedKey:
    """A new key of the company; a ValueError names the bad field (name, scopes, lifetime_days)."""
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValueError(f"name: 1 to {NAME_MAX} characters")
    chosen = parse_scopes(scopes)
    if lifetime_days is not None and not 1 <= lifetime_days <= MAX_LIFETIME_DAYS:
        raise ValueError(f"lifetime_days: 1 to {MAX_LIFETIME_DAYS}")
    taken = db.session.scalar(sa.select(ApiKey.id).where(_live(company_id), ApiKey.name == name))
    if taken is not None:
        raise ValueError(f"name: the company already has a key named {name!r} (a live one)")
    return _store(company_id, name, chosen, lifetime_days)


def _store(company_id: int, name: str, scopes: list[str], lifetime_days: int | None, **extra: object) -> IssuedKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        company_id=company_id,
        name=name,
        prefix=secret[:12],
        key_sha256=routing.key_digest(secret),
        scopes=" ".join(scopes),
        expires_at=utcnow() + timedelta(days=lifetime_days) if lifetime_days else None,
        **extra,
    )
    db.session.add(row)
    db.session.flush()
    return IssuedKey(row.id, secret, row.prefix, row.scopes)


def _live_key(company_id: int, key_id: int) -> ApiKey:
    row = db.session.scalar(sa.select(ApiKey).where(_live(company_id), ApiKey.id == key_id))
    if row is None:
        raise LookupError("no such live key")
    return row


def rotate(company_id: int, key_id: int, *, overlap: timedelta = DEFAULT_OVERLAP) -> IssuedKey:
    """A successor with the same name, scopes and lifetime; the old key then ends after `overlap` (or at its
    own expiry if that is sooner). LookupError: no live key of the company with that id."""
    old = _live_key(company_id, key_id)
    now = utcnow()
    lifetime = round((old.expires_at - old.created_at) / timedelta(days=1)) if old.expires_at is not None else None
    end = now + overlap
    old.expires_at = min(old.expires_at, end) if old.expires_at is not None else end
    return _store(company_id, old.name, old.scopes.split(), lifetime or None, rotated_from_id=old.id)


def revoke(company_id: int, key_id: int) -> None:
    """The key stops now. LookupError: no live key of the company with that id."""
    _live_key(company_id, key_id).revoked_at = utcnow()


def listing(company_id: int) -> list[ApiKey]:
    """Every key of the company, newest first (revoked and expired ones too: the page shows their state)."""
    return list(db.session.scalars(sa.select(ApiKey).where(ApiKey.company_id == company_id).order_by(ApiKey.id.desc())))
