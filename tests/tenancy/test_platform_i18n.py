"""The operator's companies page (crm/ui/platform.py) in German, English and French, on both backends.

The operator's own language (User.language) decides, as for everyone else; every text of the page, its
flash messages and the 422 page naming each bad field come from the ``ui`` catalogue. The words checked are
read from the catalogues (crm.catalogs), so a text dropped from a catalogue or left in English fails here."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from crm import catalogs
from crm.extensions import db
from crm.models import Company, Role, User
from crm.tenancy.context import operator_scope
from tests.conftest import _wipe
from tests.tenancy.test_entrances import _make_app
from tests.ui.conftest import PASSWORD, login
from tests.ui.test_leads_pages import text_of

# The texts the list shows (an operator inside no company, two active companies).
PAGE = (
    "Companies",
    "Slug",
    "Name",
    "Active",
    "Enter (audited)",
    "Deactivate",
    "Enter",
    "New company",
    "Create",
    "yes",
)
# The attributes of the reason fields.
ATTRIBUTES = ("Reason (audited)", "Reason")
LANGUAGES = ("de", "en", "fr")


@pytest.fixture
def app(backend, migrated_urls):
    """Company 1 (the installation's) and company 2 "zweite", as tests/tenancy/test_entrances.py sets them up."""
    app = _make_app(migrated_urls[backend])
    yield app
    with app.app_context():
        db.session.remove()
    _wipe(app)


def _operator(app, language: str):
    """A signed-in operator (no company) who reads `language`."""
    from crm.ui.auth import hasher

    with app.app_context(), operator_scope("tests", "operator user"):
        db.session.add(
            User(
                email="op@platform.test",
                name="Op",
                role=Role.OPERATOR,
                language=language,
                password_hash=hasher().hash(PASSWORD),
                company_id=None,
            )
        )
        db.session.commit()
    client = app.test_client()
    assert login(client, "op@platform.test", PASSWORD).status_code == 302
    return client


def _t(language: str, msgid: str, **values: str) -> str:
    text = catalogs.messages(language, "ui").get(msgid)
    assert text, f"{msgid!r} is not in {language}/ui.po"
    return (str(text) % values if values else str(text)).replace("\xa0", " ")


def _words(page: str) -> str:
    return page.replace("\xa0", " ")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_companies_page_is_in_the_operators_language(app, language):
    client = _operator(app, language)
    response = client.get("/platform/companies")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<html lang="{language}"' in html
    page = _words(text_of(response))
    missing = [m for m in PAGE if _t(language, m) not in page]
    assert not missing, f"{language}: not on the page: {missing}"
    for msgid in ATTRIBUTES:
        assert f'"{_t(language, msgid)}"' in _words(html), msgid
    if language != "en":
        # The English of the page's own headings is gone (whole words; the German "Name" is the English).
        english = [m for m in ("Companies", "New company", "Enter (audited)", "Create", "Slug") if m != _t(language, m)]
        found = [m for m in english if re.search(rf"(?<![\w-]){re.escape(m)}(?![\w-])", page)]
        assert not found, f"English on the {language} page: {found}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_bad_new_company_is_refused_naming_each_field_in_the_operators_language(app, language):
    client = _operator(app, language)
    token = client.csrf_token()
    refused = client.post("/platform/companies", data={"csrf_token": token, "slug": "Not A Slug!", "name": " "})
    assert refused.status_code == 422
    page = _words(text_of(refused))
    for msgid in ("Slug: 2 to 40 lower-case letters, digits or hyphens.", "Name: required.", "Not saved."):
        assert _t(language, msgid) in page, msgid
    assert 'value="Not A Slug!"' in refused.get_data(as_text=True)  # what was typed stays

    taken = client.post("/platform/companies", data={"csrf_token": token, "slug": "zweite", "name": "Noch eine"})
    assert taken.status_code == 422
    assert _t(language, "Slug: %(slug)s is already taken.", slug="zweite") in _words(text_of(taken))
    assert "Name: required." not in _words(text_of(taken))  # only the bad field is named

    created = client.post(
        "/platform/companies",
        data={"csrf_token": token, "slug": "dritte", "name": "Dritte SARL"},
        follow_redirects=True,
    )
    assert created.status_code == 200
    assert _t(language, "Company %(slug)s created.", slug="dritte") in _words(text_of(created))
    with app.app_context(), operator_scope("tests", "check"):
        slugs = db.session.scalars(sa.select(Company.slug).order_by(Company.id)).all()
    assert slugs[-1] == "dritte" and slugs.count("zweite") == 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_entering_and_deactivating_without_a_reason_is_refused_in_the_operators_language(app, language):
    client = _operator(app, language)
    token = client.csrf_token()
    reason = _t(language, "Reason: required, it is written to the company's audit log.")
    for action in ("enter", "deactivate"):
        refused = client.post(f"/platform/companies/2/{action}", data={"csrf_token": token, "reason": "  "})
        assert refused.status_code == 422, action
        assert reason in _words(text_of(refused)), action
    with app.app_context(), operator_scope("tests", "check"):
        assert db.session.get(Company, 2).active  # nothing happened

    entered = client.post(
        "/platform/companies/2/enter", data={"csrf_token": token, "reason": "ticket 42"}, follow_redirects=False
    )
    assert entered.status_code == 303
    inside = _words(text_of(client.get("/platform/companies")))
    assert _t(language, "You are inside company #%(id)s.", id="2") in inside
    assert _t(language, "Leave it") in inside
    client.post("/platform/leave", data={"csrf_token": token})

    done = client.post(
        "/platform/companies/2/deactivate",
        data={"csrf_token": token, "reason": "contract ended"},
        follow_redirects=True,
    )
    assert done.status_code == 200
    page = _words(text_of(done))
    assert _t(language, "Company %(slug)s deactivated.", slug="zweite") in page
    assert _t(language, "no") in page  # company 2 is shown inactive
