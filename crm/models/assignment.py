"""Who owns a new lead: the assignment rules an admin keeps in Settings, and the round-robin counters.

A rule matches a new lead by language, country, postcode prefix and source (each list empty = any; all
given lists must match) and hands it to the next rep of its team (``rep_ids``; empty = every active sales
rep), optionally only reps speaking the lead's language. Rules are tried by ``position``; the first that
matches and has an available rep wins. Without a matching rule the fallback applies (round robin over the
active sales reps, language-matched when possible). See crm.services.assignment.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned


class AssignmentRule(CompanyOwned, Model):
    __tablename__ = "assignment_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Lower first; ties by id. The settings page renumbers on every save.
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(100))
    active: Mapped[bool] = mapped_column(default=True)
    # Matching: lists of lower-case language codes, upper-case ISO countries, postcode prefixes, sources.
    languages: Mapped[list] = mapped_column(JSONType, default=list)
    countries: Mapped[list] = mapped_column(JSONType, default=list)
    postcode_prefixes: Mapped[list] = mapped_column(JSONType, default=list)
    sources: Mapped[list] = mapped_column(JSONType, default=list)
    # The team the rule rotates over: user ids; empty means every active sales rep.
    rep_ids: Mapped[list] = mapped_column(JSONType, default=list)
    # Only reps whose UI language is the lead's language (when the team has one).
    match_rep_language: Mapped[bool] = mapped_column(default=False)
    updated_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<AssignmentRule {self.id} {self.name!r}>"


class AssignmentCounter(CompanyOwned, Model):
    """One round-robin position per pool ("rule:<id>:<lang>", "fallback:<lang>"). Incremented with one
    UPDATE ... RETURNING inside the intake's transaction: PostgreSQL's row lock and SQLite's write lock
    make concurrent intakes take turns, so two leads never get the same slot."""

    __tablename__ = "assignment_counters"
    # One position per company and pool.
    __table_args__ = (sa.PrimaryKeyConstraint("company_id", "key", name="pk_assignment_counters"),)

    key: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
