"""Hourly rollups of the outbound calls and emails for the KPI report (crm/reports/kpis/fast.py), kept by
database triggers (migration 0029 says how); nothing in Python writes them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.interactions import Interaction
from crm.tenancy.owned import CompanyOwned


class InteractionRollup(CompanyOwned, Model):
    """Per company, UTC hour (hours since the epoch) and kind: dim '' sums every outbound call or email; for
    calls, dims 'owner' (key_int = the lead's owner, 0 for none), 'campaign' (key_int = the lead's campaign,
    key_text = its utm_campaign), 'provider' and 'outcome' (key_text), split by currency. A nullable text is
    kept as '' for NULL and '=' + value otherwise."""

    __tablename__ = "interaction_rollups"
    __table_args__ = (sa.PrimaryKeyConstraint("company_id", "dim", "hour", "kind", "key_int", "key_text", "currency"),)

    hour: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(sa.String(32))
    dim: Mapped[str] = mapped_column(sa.String(16))
    key_int: Mapped[int] = mapped_column()
    key_text: Mapped[str] = mapped_column(sa.String(210))
    currency: Mapped[str] = mapped_column(sa.String(8))
    n: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    answered: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    voicemail: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    no_answer: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    busy: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    failed: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    wanted: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    booked: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    talk_sum: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    talk_n: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    sent_positive: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    sent_neutral: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    sent_negative: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    sent_unknown: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    critical: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    delivered: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    opened: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    clicked: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    bounced: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    dropped: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    cost: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")
    priced: Mapped[int] = mapped_column(sa.BigInteger(), server_default="0")


MEASURES = (
    "n",
    "answered",
    "voicemail",
    "no_answer",
    "busy",
    "failed",
    "wanted",
    "booked",
    "talk_sum",
    "talk_n",
    "sent_positive",
    "sent_neutral",
    "sent_negative",
    "sent_unknown",
    "critical",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "dropped",
    "cost",
    "priced",
)

# The test suite's wipe deletes in reverse dependency order: the interactions first (their triggers take
# their counts back out), then the rollup.
_interactions, _rollups = Interaction.__table__, InteractionRollup.__table__
assert isinstance(_interactions, sa.Table) and isinstance(_rollups, sa.Table)
_interactions.add_is_dependent_on(_rollups)
