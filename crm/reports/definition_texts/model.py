"""The two shapes of the report's definitions: a figure (its name and definition in German and English)
and a section of figures (one table of the appendix and of docs/kpis.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    key: str
    de: tuple[str, str]  # (name, definition)
    en: tuple[str, str]

    def name(self, language: str) -> str:
        return getattr(self, language)[0]

    def text(self, language: str) -> str:
        return getattr(self, language)[1]


@dataclass(frozen=True)
class Section:
    key: str
    de: str
    en: str
    figures: list[Figure]

    def title(self, language: str) -> str:
        return getattr(self, language)
