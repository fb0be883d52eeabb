"""Server-side sign-in sessions.

The browser's cookie carries a random session id; only its SHA-256 lives here, so a copy of this table
cannot be replayed. A session ends when it is revoked (logout, password change, deactivation), when it
has been idle too long, or when its absolute lifetime is over."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned


class UserSession(CompanyOwned, Model):
    __tablename__ = "user_sessions"
    # The user's company; NULL for an operator's session. The token hash stays globally unique: a cookie is
    # looked up before the company is known.
    __company_nullable__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 hex of the random id in the cookie
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    idle_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # logout, password, deactivated, role, admin
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(32))

    def __repr__(self) -> str:
        return f"<UserSession {self.id} user={self.user_id}>"
