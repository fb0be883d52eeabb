"""The UI in every language of crm.languages (German, English, French). German is the default; the user's
choice is User.language; before sign-in a cookie (set by the language switch, POST /language) or
``?lang=en`` decides.

How to translate (for every UI area; the whole procedure is in CONTRIBUTING.md, "Translations"):

* Write the **English** text as the msgid and wrap it: ``_("Save")`` in Python
  (``from crm.ui.i18n import _``, or ``flask_babel.gettext`` / ``lazy_gettext``, same catalogue),
  ``{{ _("Save") }}`` in templates, with placeholders ``_("Hello %(name)s", name=user.name)``.
  Plurals: ``ngettext("%(num)d lead", "%(num)d leads", n)``; context: ``pgettext("button", "Call")``.
* Add the text to ``crm/locales/<lang>/LC_MESSAGES/ui.po`` for every language (en: msgstr = the English),
  e.g. after ``pybabel extract -F babel.cfg -o /tmp/ui.pot crm/ui``.
  tests/test_translations.py fails on a wrapped text missing from any of them.

The catalogues are gettext ``.po`` files read through crm.catalogs (domain ``ui``), compiled to ``.mo`` by
``make install``; flask-babel serves ``_()``/``ngettext``/``pgettext`` and Jinja's ``{{ _() }}`` from them."""

from __future__ import annotations

from babel import support
from flask import Flask, has_request_context, request
from flask_babel import Babel, Domain, get_locale, lazy_gettext, ngettext, pgettext
from flask_babel import gettext as _
from flask_login import current_user

from crm import catalogs, languages

__all__ = ["LANGUAGES", "_", "lazy_gettext", "ngettext", "pgettext", "init_i18n", "current_language"]

# {code: the language's own name}: the language switch, every language select, a lead's language shown.
LANGUAGES = languages.NAMES
DEFAULT_LANGUAGE = languages.DEFAULT_LANGUAGE
LANG_COOKIE = "leadchain_lang"
DOMAIN = "ui"


class CatalogueDomain(Domain):
    """flask-babel's domain, reading the request language's ``ui`` catalogue from crm.catalogs."""

    def get_translations(self) -> support.NullTranslations:
        locale = get_locale()
        return catalogs.translations(locale.language if locale is not None else DEFAULT_LANGUAGE, DOMAIN)


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
