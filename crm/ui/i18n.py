"""German and English for the UI. German is the default; the user's choice is User.language; before
sign-in a cookie (set by the language switch, POST /language) or ``?lang=en`` decides.

How to translate (for every UI area):

* Write the **English** text as the msgid and wrap it: ``_("Save")`` in Python
  (``from crm.ui.i18n import _``, or ``flask_babel.gettext`` / ``lazy_gettext``, same catalogue),
  ``{{ _("Save") }}`` in templates, with placeholders ``_("Hello %(name)s", name=user.name)``.
  Plurals: ``ngettext("%(num)d lead", "%(num)d leads", n)``; context: ``pgettext("button", "Call")``.
* Add the German text to **your area's catalogue**: ``crm/ui/translations/<area>.py`` holding one dict
  ``DE = {"Save": "Speichern", ...}``. A plural entry is a tuple ``("%(num)d Lead", "%(num)d Leads")``;
  a context entry is keyed ``"button\\x04Call"``, and list the module in ``CATALOGUES`` below
  (tests/test_import_graph.py fails on a catalogue module not listed). The modules are merged, so each
  area edits only its own file; two files giving one msgid different German fail
  tests/ui/test_security.py::test_catalogues_agree.
* A msgid with no German entry shows in English (never an error).

No .po/.mo build step: the catalogue is Python, loaded once per process."""

from __future__ import annotations

from functools import cache
from typing import Any

from babel import support
from flask import Flask, has_request_context, request
from flask_babel import Babel, Domain, get_locale, lazy_gettext, ngettext, pgettext
from flask_babel import gettext as _
from flask_login import current_user

from crm.ui.translations import (
    assignment,
    auth,
    dashboard,
    display,
    leads,
    queue,
    recordings,
    reports,
    settings,
    tasks,
)

__all__ = ["LANGUAGES", "_", "catalogue", "lazy_gettext", "ngettext", "pgettext", "init_i18n", "current_language"]

LANGUAGES = {"de": "Deutsch", "en": "English"}
DEFAULT_LANGUAGE = "de"
LANG_COOKIE = "leadchain_lang"


# Every area's catalogue, listed: a missing module is an ImportError at start-up, not a silent gap.
CATALOGUES = (assignment, auth, dashboard, display, leads, queue, recordings, reports, settings, tasks)


def _load_catalogues() -> dict[str, dict[str, dict[str, Any]]]:
    """{area: {"de": {msgid: text}}} for every module in CATALOGUES."""
    return {module.__name__.rsplit(".", 1)[-1]: {"de": dict(module.DE)} for module in CATALOGUES}


@cache
def catalogue(language: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for area in _load_catalogues().values():
        merged.update(area.get(language, {}))
    return merged


class CatalogueTranslations(support.NullTranslations):
    """gettext over a dict; falls back to the (English) msgid."""

    def __init__(self, messages: dict[str, Any]) -> None:
        super().__init__()
        self._messages = messages

    def gettext(self, message: str) -> str:
        text = self._messages.get(message)
        return text if isinstance(text, str) else message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        forms = self._messages.get(singular)
        if isinstance(forms, (tuple, list)) and len(forms) == 2:
            return forms[0] if n == 1 else forms[1]
        return singular if n == 1 else plural

    def pgettext(self, context: str, message: str) -> str:
        text = self._messages.get(f"{context}\x04{message}")
        return text if isinstance(text, str) else self.gettext(message)

    def npgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        forms = self._messages.get(f"{context}\x04{singular}")
        if isinstance(forms, (tuple, list)) and len(forms) == 2:
            return forms[0] if n == 1 else forms[1]
        return self.ngettext(singular, plural, n)

    # The u-aliases must reach the methods above (the base class binds them to its own). Wrappers rather
    # than `ungettext = ngettext`, so each keeps the parameter names of the method it overrides.
    ugettext = gettext
    upgettext = pgettext

    def ungettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return self.ngettext(msgid1, msgid2, n)

    def unpgettext(self, context: str, singular: str, plural: str, num: int) -> str:
        return self.npgettext(context, singular, plural, num)


class CatalogueDomain(Domain):
    def get_translations(self):
        locale = get_locale()
        language = locale.language if locale is not None else DEFAULT_LANGUAGE
        if language == "en":
            return CatalogueTranslations({})
        return CatalogueTranslations(catalogue(language))


def normalise_language(value: str | None) -> str | None:
    value = (value or "").strip().lower()[:2]
    return value if value in LANGUAGES else None


def current_language() -> str:
    """The language of this request: ?lang=, then the signed-in user's, then the cookie, then German."""
    if not has_request_context():
        return DEFAULT_LANGUAGE  # CLI, workers, tests
    chosen = normalise_language(request.args.get("lang"))
    if chosen:
        return chosen
    if getattr(current_user, "is_authenticated", False):
        chosen = normalise_language(current_user.language)
        if chosen:
            return chosen
    return normalise_language(request.cookies.get(LANG_COOKIE)) or DEFAULT_LANGUAGE


def _select_timezone() -> str:
    if has_request_context() and getattr(current_user, "is_authenticated", False) and current_user.timezone:
        return current_user.timezone
    return "Europe/Berlin"


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Berlin")
    babel = Babel()
    babel.init_app(app, locale_selector=current_language, timezone_selector=_select_timezone)
    babel.__dict__["domain_instance"] = CatalogueDomain()  # overrides the cached_property
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_language=current_language, pgettext=pgettext)
