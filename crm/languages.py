"""The languages leadchain speaks, in one place: the codes (crm.catalogs.LANGUAGES), the babel locale each
one formats dates, numbers and money with, and each one's name in its own language.

Everything that accepts or offers a language (a lead's language, a user's, a campaign's, a report's, the
UI's language switch, the emails) reads LANGUAGES from here, so a further language is its catalogues
(crm/locales/<code>/LC_MESSAGES/*.po), its code in crm.catalogs.LANGUAGES, a migration widening the
leads' and campaigns' language check, and, if the plain code is not the locale wanted, an entry in
LOCALES (CONTRIBUTING.md, "Adding a language")."""

from __future__ import annotations

from babel import Locale

from crm.catalogs import DEFAULT_LANGUAGE, LANGUAGES

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "LOCALES", "locale_for", "native_name", "NAMES", "sql_check"]

# The babel locale of each language where the bare code is not the one wanted: British English (day before
# month, 24-hour clock), French as written in France (Swiss and Belgian readers read it the same way).
LOCALES = {"de": "de_DE", "en": "en_GB", "fr": "fr_FR"}


def locale_for(language: str) -> str:
    return LOCALES.get(language, language)


def native_name(language: str) -> str:
    """The language's name as its speakers write it at the start of a line: "Deutsch", "English", "Français"."""
    name = Locale.parse(locale_for(language)).get_language_name(language) or language
    return name[:1].upper() + name[1:]


# {code: native name} in LANGUAGES' order: the UI's language switch and every language select.
NAMES: dict[str, str] = {code: native_name(code) for code in LANGUAGES}


def sql_check(column: str = "language") -> str:
    """The CHECK constraint's SQL for a language column (the models; a migration must say the same)."""
    return f"{column} IN ({', '.join(repr(code) for code in LANGUAGES)})"
