"""The definitions of the figures: one source (crm/reports/definitions.py) for the PDF's appendix, in the
report's language, and for docs/kpis.md; every headline figure and every table of the report defined."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from crm.languages import LANGUAGES
from crm.reports import definitions
from crm.reports.kpis import compute
from crm.reports.pdf import render_pdf
from crm.reports.periods import daily


def test_docs_kpis_md_matches_the_definitions():
    current = definitions.DOCS.read_text(encoding="utf-8")
    assert definitions.BEGIN in current and definitions.END in current
    assert definitions.docs_with_definitions(current) == current, (
        "docs/kpis.md is out of date: python -m crm.reports.definitions --write"
    )
    assert definitions.main(["--check"]) == 0
    for section in definitions.SECTIONS:  # both languages, every figure, in the docs
        for figure in section.figures:
            for language in ("de", "en"):
                assert f"| {figure.name(language)} | {definitions._cell(figure.text(language))} |" in current


def test_a_stale_docs_file_is_detected(tmp_path, monkeypatch):
    stale = tmp_path / "kpis.md"
    stale.write_text(definitions.DOCS.read_text(encoding="utf-8").replace("Answered / placed calls.", "Old text."))
    monkeypatch.setattr(definitions, "DOCS", stale)
    assert definitions.main(["--check"]) == 1
    assert definitions.main(["--write"]) == 0 and definitions.main(["--check"]) == 0
    assert "Answered / placed calls." in stale.read_text() and "Old text." not in stale.read_text()


def test_every_figure_is_defined_in_every_language(ctx):
    report = compute(daily(date(2026, 2, 3)), now=datetime(2026, 2, 4, tzinfo=UTC))
    headline_keys = {h.key for h in report.headlines}
    assert len(headline_keys) == 12 and headline_keys <= definitions.keys()
    tables = {
        "by_source",
        "by_campaign",
        "score_distribution",
        "priorities",
        "chain_stages",
        "outcomes",
        "sentiment",
        "critical",
        "follow_ups",
        "by_currency",
        "per_rep",
        "per_provider",
        "per_campaign",
        "trend",
        "by_hour",
        "to_date",
    }
    assert tables <= definitions.keys()
    keys = [f.key for s in definitions.SECTIONS for f in s.figures]
    assert len(keys) == len(set(keys))
    for section in definitions.SECTIONS:
        for figure in section.figures:
            texts = [figure.text(lang) for lang in LANGUAGES]
            assert all(figure.name(lang).strip() and len(figure.text(lang)) > 15 for lang in LANGUAGES), figure.key
            assert len(set(texts)) == len(texts), figure.key  # each language its own words
            # a definition missing from a catalogue would show its key (definition.<figure>)
            assert figure.msgid not in texts, figure.key


def _pages(content: bytes) -> list[str]:
    # A line broken after a hyphen ("UTM-\nKampagne") is one word again.
    return [
        re.sub(r"\s+", " ", re.sub(r"-\n", "-", (p.extract_text() or "").replace("\xa0", " ")))
        for p in PdfReader(io.BytesIO(content)).pages
    ]


@pytest.mark.parametrize(
    "language, title, other_title, see",
    [
        (
            "de",
            "Anhang: Definitionen der Kennzahlen",
            "Appendix: definitions",
            "Definitionen aller Kennzahlen: Anhang, Seite",
        ),
        (
            "en",
            "Appendix: definitions of the figures",
            "Anhang: Definitionen",
            "Definitions of every figure: appendix, page",
        ),
        (
            "fr",
            "Annexe : définitions des indicateurs",
            "Appendix: definitions",
            "Définitions de tous les indicateurs : annexe, page",
        ),
    ],
)
def test_the_pdf_appendix_defines_every_figure_in_the_report_language(ctx, language, title, other_title, see):
    report = compute(daily(date(2026, 2, 3)), now=datetime(2026, 2, 4, tzinfo=UTC))
    pages = _pages(render_pdf(report, language))
    first = next(i for i, p in enumerate(pages) if title in p)
    assert f"{see} {first + 1}." in pages[0]  # the title page points at the appendix's page
    appendix = " ".join(pages[first:])
    assert "docs/kpis.md" not in " ".join(pages) and other_title not in appendix
    for name, figures in definitions.for_language(language):
        assert name.replace("\xa0", " ") in appendix
        for figure_name, text in figures:
            # (French: the no-break space before ":" is read from the PDF as a space, see _pages)
            assert f"{figure_name} {text}".replace("\xa0", " ") in appendix, figure_name
