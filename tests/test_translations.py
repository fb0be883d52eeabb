"""One i18n mechanism (crm/catalogs.py): every text of the UI, the emails and the reports is a gettext msgid
with a German and an English text in crm/locales/<lang>/LC_MESSAGES/<domain>.po.

* Every msgid the code and the templates mark (extracted with babel's own extractors and the repo's
  babel.cfg, as ``pybabel extract`` does) has a non-empty text in de AND en, plural forms included.
* The .po files parse, pass babel's checks (placeholders, plural forms), compile, have no fuzzy entry, and
  de and en carry the same msgids.
* The msgids translated later (the N_ tables of crm/ui/display_labels.py, the reports' key tables and
  definitions) are all in both catalogues.
* A German lead page (score breakdown, a timeline of several kinds, the chain's history, an open task of
  every kind) shows the German words and none of the English of the labels it shows.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.support import Translations

from crm import catalogs
from crm.reports import definitions
from crm.reports import i18n as report_i18n
from crm.ui import display_labels

ROOT = Path(__file__).resolve().parents[1]
# The domain of a text is the folder it is extracted from (babel.cfg).
DOMAIN_DIRS = {"ui": "crm/ui", "email": "crm/email", "reports": "crm/reports"}
LANGUAGES = ("de", "en")


def _key(msgid: str | tuple[str, ...], context: str | None) -> str:
    singular = msgid[0] if isinstance(msgid, (list, tuple)) else msgid
    return f"{context}\x04{singular}" if context else singular


def extracted(domain: str) -> dict[str, tuple[str | tuple[str, ...], str]]:
    """{key: (msgid, where)} for every text marked in the domain's folder, as pybabel extract finds it."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: dict[str, tuple[str | tuple[str, ...], str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT / DOMAIN_DIRS[domain]), method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        found.setdefault(_key(message, context), (message, f"{DOMAIN_DIRS[domain]}/{filename}:{lineno}"))
    return found


def _entries(language: str, domain: str) -> dict[str, object]:
    return {_key(m.id, m.context): m for m in catalogs.read_catalog(language, domain) if m.id}


@pytest.mark.parametrize("domain", sorted(DOMAIN_DIRS))
def test_every_marked_text_has_german_and_english(domain):
    marked = extracted(domain)
    assert len(marked) > {"ui": 600, "email": 40, "reports": 200}[domain]  # the extraction works
    for language in LANGUAGES:
        entries = _entries(language, domain)
        problems = []
        for key, (msgid, where) in sorted(marked.items()):
            entry = entries.get(key)
            if entry is None:
                problems.append(f"{where}: {key!r} is not in {language}/{domain}.po")
                continue
            if isinstance(msgid, tuple):  # a plural: the .po entry is one too, with the same plural msgid
                if not isinstance(entry.id, (list, tuple)) or tuple(entry.id) != msgid:
                    problems.append(f"{where}: {key!r} is a plural in the code but not in {language}/{domain}.po")
                    continue
            texts = entry.string if isinstance(entry.string, (list, tuple)) else [entry.string]
            if not texts or not all(texts) or entry.fuzzy:
                problems.append(f"{where}: {key!r} has no (confirmed) text in {language}/{domain}.po")
        assert not problems, "\n".join(problems)


@pytest.mark.parametrize("domain", sorted(DOMAIN_DIRS))
def test_the_catalogues_parse_check_and_compile_and_agree(domain):
    keys = {}
    for language in LANGUAGES:
        catalog = catalogs.read_catalog(language, domain)
        assert not catalog.fuzzy, f"{language}/{domain}.po: the header is marked fuzzy"
        assert catalog.num_plurals == 2
        fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
        assert not fuzzy, f"{language}/{domain}.po: fuzzy entries {fuzzy}"
        errors = [(m.id, [str(e) for e in errs]) for m, errs in catalog.check()]
        assert not errors, f"{language}/{domain}.po: {errors}"
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        compiled = Translations(io.BytesIO(buffer.getvalue()), domain=domain)
        assert len(compiled._catalog) > 20  # type: ignore[attr-defined]
        assert isinstance(catalogs.translations(language, domain), Translations)
        keys[language] = set(_entries(language, domain))
    assert keys["de"] == keys["en"], (sorted(keys["de"] - keys["en"]), sorted(keys["en"] - keys["de"]))


def test_the_english_catalogue_says_the_msgid_where_the_msgid_is_english():
    """en msgstr = msgid, except for the keys of long paragraphs (definition.<figure>) and contexts."""
    for domain in DOMAIN_DIRS:
        for message in catalogs.read_catalog("en", domain):
            if not message.id or (isinstance(message.id, str) and message.id.startswith("definition.")):
                continue
            ids = list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]
            texts = list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]
            assert texts == ids, (domain, message.id, message.string)


def test_the_texts_translated_later_are_in_both_catalogues():
    """The label tables (stages, score reasons and factors, task kinds, timeline steps, call outcomes, gate
    and stop reasons, email templates, ...) and the chain's task titles: display_labels' N_ msgids; the
    reports' key tables and the definitions of the appendix."""
    ui = {language: catalogs.messages(language, "ui") for language in LANGUAGES}
    for kind in ("stage", "score_reason", "task_kind", "outcome", "gate_reason", "stop_reason", "email_template"):
        assert kind in display_labels.LABELS  # the tables the issue names are there
    wanted = {msgid for table in display_labels.LABELS.values() for msgid in table.values()}
    wanted |= set(display_labels.CHAIN_TASK_TITLES)
    for language in LANGUAGES:
        missing = sorted(m for m in wanted if not ui[language].get(m))
        assert not missing, f"{language}/ui.po lacks {missing}"
    reports = {language: catalogs.messages(language, "reports") for language in LANGUAGES}
    report_ids = [_key(m[1], m[0]) if isinstance(m, tuple) else m for m in report_i18n.TEXTS.values()]
    report_ids += [_key(msgid, context) for context, msgid in report_i18n.LABELS.values()]
    for section in definitions.SECTIONS:
        report_ids.append(_key(section.heading[1], section.heading[0]))
        report_ids += [_key(f.title[1], f.title[0]) for f in section.figures] + [f.msgid for f in section.figures]
    for language in LANGUAGES:
        missing = sorted(m for m in report_ids if not reports[language].get(m))
        assert not missing, f"{language}/reports.po lacks {missing}"
