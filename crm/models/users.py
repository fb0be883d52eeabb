from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, enum_column, utcnow
from crm.tenancy.owned import CompanyOwned


class Role(str, enum.Enum):
    SALES = "sales"
    MANAGER = "manager"
    ADMIN = "admin"
    # The platform operator: manages companies, belongs to none (company_id NULL), sees customer data only
    # inside an audited operator context (docs/tenancy.md).
    OPERATOR = "operator"


class User(CompanyOwned, Model):
    __tablename__ = "users"
    # An operator has no company. The email stays unique across companies: a login names only an email, and
    # the company is resolved from the user it finds (crm.tenancy.orm.find_user_for_login).
    __company_nullable__ = True
    # A user with no company and a company role would sign in to nothing (and a company's operator would be
    # a contradiction): the database holds the rule, migration 0013 says the same.
    __table_args__ = (sa.CheckConstraint("(role = 'operator') = (company_id IS NULL)", name="operator_has_no_company"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, "user_role"), default=Role.SALES)
    language: Mapped[str] = mapped_column(sa.String(2), default="de")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Berlin")
    # argon2 hash; the UI issue sets it. Null means the user cannot sign in with a password.
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # {"mon": [["09:00", "17:00"]], ...} in `timezone`; None means the team default (see voice.bridge.calendar).
    working_hours: Mapped[dict | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Two-factor sign-in (crm/ui/two_factor.py). The TOTP secret must be readable to check a code, so it is
    # stored as it is (a hash would not do); set when enrolment succeeds, together with totp_enabled_at.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(255))  # sealed (crm.ui.totp_box)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last accepted 30-second step: a code seen once is not accepted again (RFC 6238 §5.2).
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # argon2 hashes of the unused recovery codes; a used code is removed from the list.
    recovery_code_hashes: Mapped[list | None] = mapped_column(JSONType)

    # A manager's chosen branches (none: the whole company), a sales rep's branches.
    branches = relationship("Branch", secondary="user_branches", order_by="Branch.name")

    # flask-login's user protocol (the UI signs users in); a deactivated user is not active.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    def get_id(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"
