"""One translation mechanism for every text a person reads or hears: gettext catalogues.

UI pages, emails, PDF reports and the voice bridge's phrases all read their words from
``crm/locales/<language>/LC_MESSAGES/<domain>.po`` (one domain per area, see DOMAINS). ``make install``
compiles each ``.po`` into a ``.mo`` beside it (``python -m crm.catalogs``); the ``.mo`` files are build
output and not in git. A process started from a checkout that was never compiled (``pip install -e .``
alone) compiles the ``.po`` in memory instead, so the words are the same either way; a stale ``.mo``
(older than its ``.po``) is ignored for the same reason.

Every language has its own ``.po`` for every domain, English included: the msgid is the English text (or,
for the bridge's numbered phrase variants, a stable key) and each ``.po`` carries the text for its language,
so tests/test_translations.py can check that no msgid lacks a German or English text. Adding a language is a
new folder of ``.po`` files plus its name in LANGUAGES."""

from __future__ import annotations

import io
import logging
import sys
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES: tuple[str, ...] = ("de", "en", "fr")
DEFAULT_LANGUAGE = "de"
# ui: web pages and flash messages; email: every email body and subject; reports: PDF/CSV report texts;
# bridge: what the voice agent says.
DOMAINS: tuple[str, ...] = ("ui", "email", "reports", "bridge")


def N_(message: str) -> str:
    """Marks a msgid for the extractor (babel.cfg) where the text is looked up later or through a function
    whose first argument is not the msgid (``gettext(language, domain, N_("Hello,"))``)."""
    return message


def NP_(context: str, message: str) -> tuple[str, str]:
    """N_ for a msgid with a context (the same English with two meanings): ``NP_("exchange", "Rate")``."""
    return context, message


def po_path(language: str, domain: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"


def mo_path(language: str, domain: str) -> Path:
    return po_path(language, domain).with_suffix(".mo")


def read_catalog(language: str, domain: str) -> Catalog:
    """The parsed ``.po`` (for tests and the compiler); a missing file is an error, never an empty catalogue."""
    with po_path(language, domain).open("rb") as handle:
        return read_po(handle, locale=language, domain=domain)


def messages(language: str, domain: str) -> dict[str, str | tuple[str, ...]]:
    """{msgid: text} of one ``.po`` for tests: a plural entry's text is the tuple of its forms, a context
    entry is keyed ``"<context>\\x04<msgid>"`` (gettext's own separator); fuzzy and empty entries are left out,
    as the compiled catalogue leaves them out."""
    found: dict[str, str | tuple[str, ...]] = {}
    for message in read_catalog(language, domain):
        if not message.id or message.fuzzy:
            continue
        msgid = message.id[0] if isinstance(message.id, (list, tuple)) else message.id
        forms = tuple(message.string) if isinstance(message.string, (list, tuple)) else (message.string or "",)
        if not all(forms):
            continue
        found[f"{message.context}\x04{msgid}" if message.context else msgid] = forms if len(forms) > 1 else forms[0]
    return found


def _mo_bytes(language: str, domain: str) -> bytes:
    buffer = io.BytesIO()
    # Fuzzy entries are drafts: they are left out, so the msgid (English) shows until someone confirms them.
    write_mo(buffer, read_catalog(language, domain), use_fuzzy=False)
    return buffer.getvalue()


def compile_all() -> list[Path]:
    """Write the ``.mo`` for every language and domain that has a ``.po``; returns the files written."""
    written = []
    for language in LANGUAGES:
        for domain in DOMAINS:
            if not po_path(language, domain).exists():
                continue
            target = mo_path(language, domain)
            target.write_bytes(_mo_bytes(language, domain))
            written.append(target)
    return written


@cache
def translations(language: str, domain: str) -> NullTranslations:
    """The catalogue for one language and domain, loaded once per process.

    An unknown language or a domain without a ``.po`` gives NullTranslations (the msgid shows); the tests
    make sure that never happens for a shipped language."""
    if language not in LANGUAGES or domain not in DOMAINS:
        return NullTranslations()
    po, mo = po_path(language, domain), mo_path(language, domain)
    if not po.exists():
        return NullTranslations()
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as handle:
            return Translations(handle, domain=domain)
    log.info("catalogue %s/%s not compiled; compiling it in memory", language, domain)
    return Translations(io.BytesIO(_mo_bytes(language, domain)), domain=domain)


def gettext(language: str, domain: str, message: str, **params: Any) -> str:
    text = translations(language, domain).ugettext(message)
    return text % params if params else text


def ngettext(language: str, domain: str, singular: str, plural: str, num: int, **params: Any) -> str:
    text = translations(language, domain).ungettext(singular, plural, num)
    return text % {"num": num, **params}


def pgettext(language: str, domain: str, context: str, message: str, **params: Any) -> str:
    text = translations(language, domain).upgettext(context, message)
    return text % params if params else text


def compile_po(po: Path) -> Path:
    """Write the ``.mo`` beside one ``crm/locales/<language>/LC_MESSAGES/<domain>.po`` (make's rule per file)."""
    language, domain = po.resolve().parent.parent.name, po.stem
    if po.resolve() != po_path(language, domain):
        raise ValueError(f"{po} is not a catalogue under {LOCALE_DIR}")
    target = mo_path(language, domain)
    target.write_bytes(_mo_bytes(language, domain))
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m crm.catalogs``: compile every catalogue; with .po paths: only those."""
    paths = sys.argv[1:] if argv is None else argv
    written = [compile_po(Path(p)) for p in paths] if paths else compile_all()
    for path in written:
        print(f"compiled {path.relative_to(LOCALE_DIR.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
