"""Companies (the installation's clients) and their branches (Filialen): docs/tenancy.md.

Both are platform rows: not company-owned themselves (a company is the owner), read across companies only
by the operator context and the routing code."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from crm.extensions import Model
from crm.languages import sql_check
from crm.models.types import UTCDateTime, utcnow

# The German Bundeslaender (ISO 3166-2:DE without the prefix): the public holidays of a company's calls.
STATES = ("BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV", "NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH")
SLUG_PATTERN = r"^[a-z0-9-]{2,40}$"


def check_slug(value: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(SLUG_PATTERN, value):
        raise ValueError(f"slug must match {SLUG_PATTERN}")
    return value


def _state_check(column: str = "state") -> str:
    return f"{column} IS NULL OR {column} IN ({', '.join(repr(s) for s in STATES)})"


# The slug is what URLs and Vault paths carry: checked here on every write and in the database by migration
# 0013 (a regex on PostgreSQL, GLOB on SQLite: the dialects share no pattern syntax, so the check lives in
# the migration only; autogenerate does not compare CHECK constraints).
COLOR_CHECK = "brand_color IS NULL OR (length(brand_color) = 7 AND substr(brand_color, 1, 1) = '#')"


class Company(Model):
    __tablename__ = "companies"
    __table_args__ = (
        sa.CheckConstraint(sql_check("language"), name="language"),
        sa.CheckConstraint(_state_check(), name="state"),
        sa.CheckConstraint(COLOR_CHECK, name="brand_color"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Berlin")
    # The Bundesland whose public holidays the company's calling hours skip; None: national holidays only.
    state: Mapped[str | None] = mapped_column(sa.String(2))
    language: Mapped[str] = mapped_column(sa.String(2), default="de")
    brand_color: Mapped[str | None] = mapped_column(sa.String(7))  # "#rrggbb"
    logo_url: Mapped[str | None] = mapped_column(sa.String(500))
    sender_email: Mapped[str | None] = mapped_column(sa.String(254))
    sender_name: Mapped[str | None] = mapped_column(sa.String(200))
    imprint: Mapped[str | None] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Account security (docs/security.md): two-factor sign-in for every user, not only admins.
    require_two_factor: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Sign-in through the company's OpenID Connect provider; the client secret is in the secrets store
    # (crm.ui.oidc.client_secret_name), never here.
    oidc_issuer: Mapped[str | None] = mapped_column(sa.String(500))
    oidc_client_id: Mapped[str | None] = mapped_column(sa.String(200))
    oidc_create_users: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    branches = relationship("Branch", back_populates="company", order_by="Branch.name")

    @validates("slug")
    def _slug(self, _key: str, value: str) -> str:
        return check_slug(value)

    def __repr__(self) -> str:
        return f"<Company {self.id} {self.slug}>"


class Branch(Model):
    __tablename__ = "branches"
    __table_args__ = (
        sa.UniqueConstraint("company_id", "slug", name="uq_branches_company_slug"),
        sa.CheckConstraint(_state_check(), name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str] = mapped_column(sa.String(40))
    # None: the company's.
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    state: Mapped[str | None] = mapped_column(sa.String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    company = relationship("Company", back_populates="branches")

    @validates("slug")
    def _slug(self, _key: str, value: str) -> str:
        return check_slug(value)

    def __repr__(self) -> str:
        return f"<Branch {self.id} company={self.company_id} {self.slug}>"


# A manager's chosen branches, a sales rep's branches. Both rows are in one company (the users' and the
# branches'); the service that writes it checks that, the database keeps the pair unique.
user_branches = sa.Table(
    "user_branches",
    Model.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("branch_id", sa.ForeignKey("branches.id", ondelete="CASCADE"), primary_key=True, index=True),
)
