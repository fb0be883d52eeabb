"""Stored manager reports: the figures of one period and its PDF per language (the UI lists and serves them)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned


class Report(CompanyOwned, Model):
    """One report per (company, kind, period start): a retried or repeated build finds this row."""

    __tablename__ = "reports"
    __table_args__ = (
        sa.UniqueConstraint("company_id", "kind", "period_start", name="uq_reports_company_kind_period_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # daily | weekly | monthly | custom
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())  # exclusive
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Berlin")
    # The KPI tree (crm.reports.kpis.KpiReport as JSON): what the dashboard and the PDF show.
    figures: Mapped[dict] = mapped_column(JSONType)
    has_data: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(sa.String(200), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    documents = relationship(
        "ReportDocument", back_populates="report", cascade="all, delete-orphan", order_by="ReportDocument.language"
    )


class ReportDocument(CompanyOwned, Model):
    """The rendered PDF of a report in one language."""

    __tablename__ = "report_documents"
    __table_args__ = (sa.UniqueConstraint("report_id", "language", name="uq_report_documents_report_language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(sa.String(2))
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(64), default="application/pdf")
    content: Mapped[bytes] = mapped_column(sa.LargeBinary())
    size_bytes: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    report = relationship("Report", back_populates="documents")
