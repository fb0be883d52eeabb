"""API keys, one company's each (docs/tenancy.md rule 2: the key is the credential the company is bound from).

Only the SHA-256 of a key is stored, never the key: it is shown once (`leadchain api-key create`, the admin's
API keys page). The prefix (the key's first characters, not secret) names a key in lists and logs. A platform
row: the entrance reads it across companies to find whose key was presented, before any company is bound.

A key's name is its client's: a rotation makes a new key of the same name and scopes while the old one stays
valid until its (shortened) expiry, so the name is unique only among a company's live keys (checked by
crm.api.keys, which creates them)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import UTCDateTime, utcnow


class Scope(str, enum.Enum):
    """What a key may do (docs/security.md): intake only, read leads, manage chains."""

    INTAKE = "intake"
    READ = "read"
    MANAGE = "manage"


ALL_SCOPES = " ".join(s.value for s in Scope)


class ApiKey(Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16))
    # hex SHA-256 of the whole key: a key has 256 random bits, so a plain hash is enough (no slow KDF)
    key_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # space-separated Scope values; the keys from before scopes existed got them all (migration 0021)
    scopes: Mapped[str] = mapped_column(sa.String(64), default=ALL_SCOPES, server_default=ALL_SCOPES)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # updated at most once a minute (crm.api.keys.note_use): a write per request would cost the intake
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the key this one replaced in a rotation (that one expires after the overlap)
    rotated_from_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_keys.id", ondelete="SET NULL"))

    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    def __repr__(self) -> str:
        return f"<ApiKey {self.id} company={self.company_id} {self.prefix}…>"
