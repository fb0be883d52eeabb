"""Stored reports: build once per (kind, period start), keep the figures and a PDF per language.

`build(period, languages)` is idempotent: a report that exists is returned as it is (a retried
activity or a second run of the same schedule slot finds it), a language it lacks is added. Two
builders racing for the same period end with one row: the loser's insert fails on the unique
constraint and it reads the winner's row.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Iterable

import sqlalchemy as sa

from crm.extensions import db
from crm.models.reports import Report, ReportDocument
from crm.models.users import Role, User
from crm.reports import kpis
from crm.reports.charts import build_charts
from crm.reports.i18n import LANGUAGES, Formatter
from crm.reports.pdf import branding, filename, html_to_pdf, render_html
from crm.reports.periods import Period


@dataclass(frozen=True)
class StoredReport:
    report_id: int
    created: bool              # False: it existed already
    languages: list[str]
    has_data: bool


def find(period: Period) -> Report | None:
    return db.session.scalar(sa.select(Report).where(Report.kind == period.kind, Report.period_start == period.start))


def manager_languages() -> list[str]:
    rows = db.session.scalars(sa.select(User.language).where(User.role == Role.MANAGER, User.active).distinct())
    return sorted({lang for lang in rows if lang in LANGUAGES})


def build(period: Period, languages: Iterable[str], *, created_by: str = "system",
          progress: Callable[[str], None] | None = None) -> StoredReport:
    """The stored report of `period` with a PDF in each language (inside an app context; commits)."""
    tick = progress or (lambda step: None)
    wanted = sorted(set(languages))
    for lang in wanted:
        Formatter(lang)
    report = find(period)
    created = False
    figures: kpis.KpiReport | None = None
    if report is None:
        figures = kpis.compute(period)
        tick("queries")
        report = Report(kind=period.kind, period_start=period.start, period_end=period.end, timezone=period.tz,
                        figures=figures.to_dict(), has_data=figures.has_data, created_by=created_by[:200])
        try:
            with db.session.begin_nested():
                db.session.add(report)
            created = True
        except sa.exc.IntegrityError:
            report = find(period)
    have = {d.language for d in report.documents}
    missing = [lang for lang in wanted if lang not in have]
    if missing:
        if figures is None:
            # Adding a language later: render the figures as they were stored? They are plain JSON, so
            # compute again; a period in the past gives the same numbers unless data was corrected.
            figures = kpis.compute(period)
            tick("queries")
        brand = branding()
        for lang in missing:
            fmt = Formatter(lang, period.tz)
            charts = build_charts(figures, fmt)
            tick(f"charts:{lang}")
            content = html_to_pdf(render_html(figures, lang, charts=charts, brand=brand))
            tick(f"render:{lang}")
            try:
                with db.session.begin_nested():
                    db.session.add(ReportDocument(report_id=report.id, language=lang, filename=filename(period, lang),
                                                  content=content, size_bytes=len(content),
                                                  sha256=hashlib.sha256(content).hexdigest()))
            except sa.exc.IntegrityError:
                pass  # another builder stored this language first
    db.session.commit()
    languages_now = sorted(d.language for d in db.session.scalars(
        sa.select(ReportDocument).where(ReportDocument.report_id == report.id)))
    return StoredReport(report.id, created, languages_now, bool(report.has_data))


def document(report_id: int, language: str) -> ReportDocument | None:
    """The PDF in `language`, else in any language the report has (German first)."""
    docs = {d.language: d for d in db.session.scalars(
        sa.select(ReportDocument).where(ReportDocument.report_id == report_id))}
    for lang in (language, "de", "en", *docs):
        if lang in docs:
            return docs[lang]
    return None
