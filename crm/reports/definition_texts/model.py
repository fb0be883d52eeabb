"""The two shapes of the report's definitions: a figure (its name and definition) and a section of figures
(one table of the appendix and of docs/kpis.md). The words are msgids of the ``reports`` catalogue
(crm.catalogs): names and titles are the English text in the context "definition" (``NP_("definition", ...)``),
a definition is the stable key ``N_("definition.<figure key>")`` (a paragraph; crm/locales/en/LC_MESSAGES/
reports.po carries the English)."""

from __future__ import annotations

from dataclasses import dataclass

from crm import catalogs

DOMAIN = "reports"


@dataclass(frozen=True)
class Figure:
    key: str
    title: tuple[str, str]  # (context, msgid) of the name
    msgid: str  # of the definition: definition.<key>

    def name(self, language: str) -> str:
        return catalogs.pgettext(language, DOMAIN, *self.title)

    def text(self, language: str) -> str:
        return catalogs.gettext(language, DOMAIN, self.msgid)


@dataclass(frozen=True)
class Section:
    key: str
    heading: tuple[str, str]  # (context, msgid) of the title
    figures: list[Figure]

    def title(self, language: str) -> str:
        return catalogs.pgettext(language, DOMAIN, *self.heading)
