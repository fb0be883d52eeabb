"""Stored reports: build once per (kind, period start), keep the figures and a PDF per language.

`build(period, languages)` is idempotent: a report that exists is returned as it is (a retried
activity or a second run of the same schedule slot finds it), a language it lacks is added. Two
builders racing for the same period end with one row: the loser's insert fails on the unique
constraint and it reads the winner's row.

A report of a running period ("period to date", `build(..., to_date=True)`, asked for from the UI) is
a provisional row: its `period_end` is the moment it was built, before the period's end. It never
blocks the final report: the final build (the schedule's, or a request after the period ended)
replaces its figures and PDFs in the same row, and a later to-date request refreshes it. A final
report is never replaced by a to-date one. Provisional reports are not emailed (is_to_date).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from crm.extensions import db
from crm.languages import LANGUAGES
from crm.models.reports import Report, ReportDocument
from crm.models.types import utcnow
from crm.models.users import Role, User
from crm.reports import kpis
from crm.reports.i18n import Formatter
from crm.reports.pdf import branding, filename, html_to_pdf, render_html
from crm.reports.periods import KINDS, Period, local_date, period_for


@dataclass(frozen=True)
class StoredReport:
    report_id: int
    created: bool  # False: it existed already
    languages: list[str]
    has_data: bool
    to_date: bool = False  # a provisional report of a running period


def find(period: Period, *, lock: bool = False) -> Report | None:
    stmt = sa.select(Report).where(Report.kind == period.kind, Report.period_start == period.start)
    if lock:  # serialise replacing builders (PostgreSQL; SQLite serialises writers anyway)
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(stmt)


def full_period(report: Report) -> Period | None:
    """The whole period a stored report belongs to (None for a custom range)."""
    if report.kind not in KINDS:
        return None
    return period_for(report.kind, local_date(report.period_start, report.timezone), report.timezone)


def is_to_date(report: Report) -> bool:
    """A provisional report of a running period: it covers the period only up to when it was built."""
    whole = full_period(report)
    return whole is not None and report.period_end < whole.end


def manager_languages() -> list[str]:
    rows = db.session.scalars(sa.select(User.language).where(User.role == Role.MANAGER, User.active).distinct())
    return sorted({lang for lang in rows if lang in LANGUAGES})


def build(
    period: Period,
    languages: Iterable[str],
    *,
    created_by: str = "system",
    progress: Callable[[str], None] | None = None,
    to_date: bool = False,
    now: datetime | None = None,
) -> StoredReport:
    """The stored report of `period` with a PDF in each language (inside an app context; commits).

    `to_date`: the running period up to `now` (a provisional report, refreshed by the next to-date
    build and replaced by the final one). Once the period has ended it is the final report."""
    tick = progress or (lambda step: None)
    wanted = sorted(set(languages))
    for lang in wanted:
        Formatter(lang)
    now = now or utcnow()
    to_date = to_date and now < period.end
    report, created, figures = _stored_row(period, to_date=to_date, created_by=created_by, now=now, tick=tick)
    have = {d.language for d in report.documents}
    missing = [lang for lang in wanted if lang not in have]
    if missing:
        if figures is None:
            # Adding a language later: render the figures as they were stored? They are plain JSON, so
            # compute again; a period in the past gives the same numbers unless data was corrected.
            figures = kpis.compute(period, now=now)
            tick("queries")
        _add_documents(report, period, figures, missing, tick)
    db.session.commit()
    languages_now = sorted(
        d.language for d in db.session.scalars(sa.select(ReportDocument).where(ReportDocument.report_id == report.id))
    )
    return StoredReport(report.id, created, languages_now, bool(report.has_data), is_to_date(report))


def _stored_row(
    period: Period, *, to_date: bool, created_by: str, now: datetime, tick: Callable[[str], None]
) -> tuple[Report, bool, kpis.KpiReport | None]:
    """The period's report row (refreshed when provisional, created when missing), whether this call
    created it, and the figures if they were computed on the way."""
    report = find(period)
    figures: kpis.KpiReport | None = None
    if report is not None and is_to_date(report):
        # A provisional report: a final build replaces it, a to-date build refreshes it.
        report = find(period, lock=True)
        if report is not None and is_to_date(report):
            figures = kpis.compute(period, now=now)
            tick("queries")
            _replace(report, figures, end=now if to_date else period.end, created_by=created_by, now=now)
    if report is not None:
        return report, False, figures
    figures = kpis.compute(period, now=now)
    tick("queries")
    report = Report(
        kind=period.kind,
        period_start=period.start,
        period_end=now if to_date else period.end,
        timezone=period.tz,
        figures=figures.to_dict(),
        has_data=figures.has_data,
        created_by=created_by[:200],
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(report)
    except sa.exc.IntegrityError:
        # Another builder stored this period first: complete its row instead.
        existing = find(period)
        if existing is None:
            raise  # and it is gone again already: the caller's retry builds it anew
        return existing, False, figures
    return report, True, figures


def _add_documents(
    report: Report, period: Period, figures: kpis.KpiReport, languages: list[str], tick: Callable[[str], None]
) -> None:
    """A PDF per language in `languages` (each stored at most once: a concurrent builder's copy wins)."""
    from crm.reports.charts import build_charts  # matplotlib: loaded with the first report, not at start

    brand = branding()
    provisional = is_to_date(report)
    for lang in languages:
        fmt = Formatter(lang, period.tz)
        charts = build_charts(figures, fmt)
        tick(f"charts:{lang}")
        content = html_to_pdf(render_html(figures, lang, charts=charts, brand=brand))
        tick(f"render:{lang}")
        try:
            with db.session.begin_nested():
                db.session.add(
                    ReportDocument(
                        report_id=report.id,
                        language=lang,
                        filename=filename(period, lang, to_date=provisional),
                        content=content,
                        size_bytes=len(content),
                        sha256=hashlib.sha256(content).hexdigest(),
                    )
                )
        except sa.exc.IntegrityError:
            pass  # another builder stored this language first


def _replace(report: Report, figures: kpis.KpiReport, *, end: datetime, created_by: str, now: datetime) -> None:
    """New figures for a provisional report; its PDFs are dropped so build renders them again."""
    report.figures, report.has_data = figures.to_dict(), figures.has_data
    report.period_end, report.created_by, report.created_at = end, created_by[:200], now
    for doc in list(report.documents):
        db.session.delete(doc)
    db.session.flush()
    db.session.expire(report, ["documents"])


def document(report_id: int, language: str) -> ReportDocument | None:
    """The PDF in `language`, else in any language the report has (in LANGUAGES' order: German first)."""
    docs = {
        d.language: d
        for d in db.session.scalars(sa.select(ReportDocument).where(ReportDocument.report_id == report_id))
    }
    for lang in (language, *LANGUAGES, *docs):
        if lang in docs:
            return docs[lang]
    return None
