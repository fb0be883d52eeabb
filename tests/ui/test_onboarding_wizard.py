"""The setup wizard through the Flask test client: every screen's 422 naming its fields, the whole run
against the live sandbox (invites by email, agent and number, lead source, test call), resume and undo."""

from __future__ import annotations

import re

import httpx
import pytest

from crm.extensions import db
from crm.models import LeadSource, PhoneNumber, User
from crm.models.onboarding import OnboardingProgress
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.onboarding.wizard_setup import BRIDGE_PATH_SECRET, call_me_form, transcript_page, use_sandbox
from tests.sandbox_fixtures import ServerThread
from tests.ui.conftest import signed_in


@pytest.fixture
def wizard(ui_app, team):
    app = create_sandbox_app(SandboxConfig(step_s=0.02))
    with ServerThread(app) as server:
        server.sandbox = app.extensions["sandbox"]
        use_sandbox(ui_app, server.url)
        yield signed_in(ui_app, team.admin), server


def _live(sandbox) -> list[dict]:
    return httpx.get(f"{sandbox.url}/sandbox/provisioned").json()["live"]


def test_each_screen_names_its_bad_fields(wizard):
    client, _ = wizard
    cases = {
        "company": ({"name": "", "imprint": ""}, {"name", "imprint"}),
        "hours": (
            {"mon_from": "25:00", "mon_to": "17:00", "state": "XX", "appointment_minutes": "5"},
            {"mon_from", "state", "appointment_minutes"},
        ),
        "team": ({"emails": "ok@example.test\nnot-an-address", "role": "boss"}, {"emails", "role"}),
        "phone": ({"provider": "twilio", "area_code": "12"}, {"provider", "area_code"}),
        "test_call": ({"to_number": "0151"}, {"to_number"}),
    }
    for screen, (form, fields) in cases.items():
        r = client.submit(f"/onboarding/{screen}", form)
        assert r.status_code == 422, screen
        page = r.get_data(as_text=True)
        assert {f for f in fields if f'id="{f}-error"' in page} == fields, screen
    assert client.get("/onboarding/nonsense").status_code == 404


def test_the_whole_wizard_ends_with_a_transcript(wizard, ui_app):
    client, sandbox = wizard
    assert client.get("/onboarding/").headers["Location"].endswith("/onboarding/company")
    steps = [
        ("company", {"name": "Solar Süd GmbH", "imprint": "Solar Süd GmbH\nHauptstr. 1\n80331 München"}),
        (
            "hours",
            {
                **{f"{d}_from": "09:00" for d in ("mon", "tue", "wed", "thu", "fri")},
                **{f"{d}_to": "17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
                "state": "BY",
                "appointment_minutes": "30",
            },
        ),
        ("team", {"emails": "neu.kollege@example.test", "role": "sales"}),
        ("phone", {"provider": "retell", "area_code": "415"}),
        ("calendars", {}),
    ]
    for screen, form in steps:
        r = client.submit(f"/onboarding/{screen}", form)
        assert r.status_code == 302, (screen, r.get_data(as_text=True)[:2000])
    r = client.submit("/onboarding/lead_sources")
    page = r.get_data(as_text=True)
    secret = re.search(r'id="wiz-source-secret">(whsec_[^<]+)<', page).group(1)
    assert secret in page and "curl" in page and "standardwebhooks" in page
    # Again: the same source with a new secret (shown once more), not a second source.
    again = client.submit("/onboarding/lead_sources").get_data(as_text=True)
    secret = re.search(r'id="wiz-source-secret">(whsec_[^<]+)<', again).group(1)
    assert secret not in page
    r = client.submit("/onboarding/test_call", call_me_form(client, "+49 151 1234 5670"))
    assert r.status_code == 302
    page = transcript_page(client, r.headers["Location"])
    assert 'id="wiz-done"' in client.get("/onboarding/").get_data(as_text=True)
    mails = sandbox.sandbox.sendgrid.messages()
    assert [m.to_email for m in mails] == ["neu.kollege@example.test"]
    link = re.search(r"https?://\S+/onboarding/invite/\S+", mails[0].text).group(0)
    with ui_app.app_context():
        assert db.session.query(LeadSource).count() == 1
        number = db.session.query(PhoneNumber).one()
        assert number.provider == "retell" and number.business_hours["mon"] == [["09:00", "17:00"]]
        progress = db.session.query(OnboardingProgress).one()
        assert progress.answers["appointment_minutes"] == 30 and "test_call" in progress.completed
    assert secret not in str(progress.answers) and BRIDGE_PATH_SECRET not in str(progress.answers)
    # The invited colleague chooses a password once; the link is spent after that.
    anon = ui_app.test_client()
    path = link.split("://", 1)[1].split("/", 1)[1]
    assert anon.get(f"/{path}").status_code == 200
    assert anon.submit(f"/{path}", {"password": "short"}).status_code == 422
    assert anon.submit(f"/{path}", {"password": "ein-langes-passwort"}).status_code == 302
    assert anon.get(f"/{path}").status_code == 404
    with ui_app.app_context():
        assert db.session.query(User).filter_by(email="neu.kollege@example.test").one().password_hash


@pytest.mark.parametrize("provider", ["retell", "vapi"])
def test_abandoned_wizard_resumes_and_undo_leaves_nothing(wizard, ui_app, team, provider):
    client, sandbox = wizard
    client.submit("/onboarding/company", {"name": "Solar Süd GmbH", "imprint": "Hauptstr. 1, München"})
    assert client.submit("/onboarding/phone", {"provider": provider, "area_code": "415"}).status_code == 302
    # Abandoned: a new session of the same admin resumes after the last screen done.
    again = signed_in(ui_app, team.admin)
    assert again.get("/onboarding/").headers["Location"].endswith("/onboarding/hours")
    assert len(_live(sandbox)) == 2
    # A second submit buys nothing more.
    assert again.submit("/onboarding/phone", {"provider": provider, "area_code": "415"}).status_code == 302
    assert len(_live(sandbox)) == 2
    assert again.submit("/onboarding/phone", {"action": "undo"}).status_code == 302
    assert _live(sandbox) == []
    with ui_app.app_context():
        assert db.session.query(PhoneNumber).count() == 0


def test_a_refusing_provider_is_a_502_naming_the_step_and_nothing_is_left(wizard):
    client, sandbox = wizard
    httpx.post(f"{sandbox.url}/sandbox/faults", json={"provider": "retell", "status": 503, "count": 1})
    r = client.submit("/onboarding/phone", {"provider": "retell", "area_code": "415"})
    assert r.status_code == 502
    assert 'id="provider-error"' in r.get_data(as_text=True) and "503" in r.get_data(as_text=True)
    assert _live(sandbox) == []
    # Tried again once the provider is back: the agent and one number.
    again = client.submit("/onboarding/phone", {"provider": "retell", "area_code": "415"})
    assert again.status_code == 302, re.findall(r'id="provider-error"[^>]*>([^<]+)<', again.get_data(as_text=True))
    assert sorted(o["kind"] for o in _live(sandbox)) == ["agent", "phone_number"]
