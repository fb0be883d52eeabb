"""The definition of every figure in the manager report, in German and English: the one source for the
PDF's appendix ("Definitionen der Kennzahlen" / "Definitions of the figures") and for the tables of
docs/kpis.md, which are generated from it:

    python -m crm.reports.definitions --write      # rewrite the generated part of docs/kpis.md
    python -m crm.reports.definitions --check      # exit 1 when docs/kpis.md differs (CI: the test does it)

tests/reports/test_definitions.py fails when docs/kpis.md and this module differ, when a headline figure
has no definition, or when a language lacks one. The wording is for managers: what is counted, not how
the code counts it (docs/kpis.md says how, outside the generated part). Keys are crm.reports.kpis's. The sections
are listed in crm/reports/definition_texts/ (one module per group), their words in the reports catalogue
(crm/locales/<lang>/LC_MESSAGES/reports.po).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crm.languages import LANGUAGES
from crm.reports.definition_texts.activity import CALLS, LEADS, PERIODS
from crm.reports.definition_texts.model import Figure, Section
from crm.reports.definition_texts.pipeline import PIPELINE
from crm.reports.definition_texts.results import BREAKDOWNS, CONVERSION, COSTS, EMAILS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "kpis.md"
BEGIN = "<!-- kpi-definitions:begin (generated from crm/reports/definitions.py; do not edit here) -->"
END = "<!-- kpi-definitions:end -->"
# The generated part of docs/kpis.md (English and German only; the reports themselves speak every language).
TITLES = {"de": "Definitionen der Kennzahlen", "en": "Definitions of the figures"}
HEADERS = {"de": ("Kennzahl", "Definition"), "en": ("Figure", "Definition")}


# The appendix's sections in order (their words: the reports catalogue).
SECTIONS: list[Section] = [PERIODS, LEADS, CALLS, CONVERSION, COSTS, EMAILS, PIPELINE, BREAKDOWNS]

__all__ = ["SECTIONS", "Figure", "Section"]


def keys() -> set[str]:
    return {f.key for s in SECTIONS for f in s.figures}


def for_language(language: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(section title, [(figure name, definition), ...]), ...] in `language` (one of LANGUAGES)."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}")
    return [(s.title(language), [(f.name(language), f.text(language)) for f in s.figures]) for s in SECTIONS]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """The generated part of docs/kpis.md: the English tables, then the German ones."""
    lines = [BEGIN]
    headings = (("en", "## Definitions of the figures"), ("de", "## Definitionen der Kennzahlen (Deutsch)"))
    for language, heading in headings:
        lines += ["", heading]
        for title, figures in for_language(language):
            lines += ["", f"### {title}", "", f"| {HEADERS[language][0]} | {HEADERS[language][1]} |", "|---|---|"]
            lines += [f"| {_cell(name)} | {_cell(text)} |" for name, text in figures]
    lines += ["", END]
    return "\n".join(lines)


def docs_with_definitions(current: str) -> str:
    """docs/kpis.md's text with its generated part replaced (appended when it has none)."""
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        return head + markdown() + rest.split(END, 1)[1]
    return current.rstrip("\n") + "\n\n" + markdown() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the generated part of docs/kpis.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/kpis.md is not up to date")
    args = parser.parse_args(argv)
    current = DOCS.read_text(encoding="utf-8")
    wanted = docs_with_definitions(current)
    if args.write and wanted != current:
        DOCS.write_text(wanted, encoding="utf-8")
        print(f"{DOCS}: definitions updated")
    elif args.check and wanted != current:
        print(f"{DOCS} differs from crm/reports/definitions.py: run python -m crm.reports.definitions --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
