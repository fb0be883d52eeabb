"""The wizard's test call rings once per form (crm.onboarding.test_calls), on every provider, against the live
provider sandbox over HTTP and the real databases: the same form sent twice (one after the other, and two at
once from two sessions of the admin) places one call and shows it to both; a freshly loaded form rings again;
a form the provider refused spends its token."""

from __future__ import annotations

import threading

import httpx
import pytest

from crm.extensions import db
from crm.models import SideEffect
from tests.onboarding.wizard_setup import call_me_form
from tests.ui.conftest import signed_in

AREA = {"retell": "415", "vapi": "415", "bland": "212"}
ADMIN_PHONE = "+49 151 1234 5670"


@pytest.fixture
def wizard(app, wizard_sandbox):
    team, server = wizard_sandbox
    return app, team, server


def _set_up_phone(client, provider: str) -> None:
    hours = {"mon_from": "08:00", "mon_to": "12:00", "state": "BY", "appointment_minutes": "30"}
    assert client.submit("/onboarding/hours", hours).status_code == 302
    r = client.submit("/onboarding/phone", {"provider": provider, "area_code": AREA[provider]})
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]


def _calls(sandbox, provider: str) -> list:
    return sandbox.sandbox.state.list(provider)


@pytest.mark.parametrize("provider", ["retell", "vapi", "bland"])
def test_the_same_form_sent_twice_rings_once_and_a_new_form_rings_again(wizard, provider):
    app, team, sandbox = wizard
    client = signed_in(app, team.admin)
    _set_up_phone(client, provider)
    form = call_me_form(client, ADMIN_PHONE)
    first = client.submit("/onboarding/test_call", form)
    assert first.status_code == 302, first.get_data(as_text=True)[-2000:]
    # The second click arrives after the first call was placed: the same call is shown, nobody rings again.
    second = client.submit("/onboarding/test_call", form)
    assert second.status_code == 302 and second.headers["Location"] == first.headers["Location"]
    assert len(_calls(sandbox, provider)) == 1
    # A freshly loaded form is a new test call.
    third = client.submit("/onboarding/test_call", call_me_form(client, ADMIN_PHONE))
    assert third.status_code == 302 and third.headers["Location"] != first.headers["Location"]
    assert len(_calls(sandbox, provider)) == 2
    with app.app_context():
        rows = db.session.query(SideEffect).filter(SideEffect.key.like("onboarding-test-call:%")).all()
        assert sorted(r.status for r in rows) == ["done", "done"] and all(r.provider_ref for r in rows)


def test_two_sessions_sending_the_same_form_at_once_ring_once(wizard):
    app, team, sandbox = wizard
    client = signed_in(app, team.admin)
    _set_up_phone(client, "retell")
    other = signed_in(app, team.admin)  # a second tab or device of the same admin
    form = call_me_form(client, ADMIN_PHONE)
    start = threading.Barrier(2)
    answers: dict[str, object] = {}

    def send(name: str, who) -> None:
        start.wait()
        answers[name] = who.submit("/onboarding/test_call", form)

    threads = [threading.Thread(target=send, args=(n, c)) for n, c in (("a", client), ("b", other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert {a.status_code for a in answers.values()} == {302}
    assert answers["a"].headers["Location"] == answers["b"].headers["Location"]
    assert len(_calls(sandbox, "retell")) == 1


def test_a_refused_test_call_spends_its_form_and_names_the_field(wizard):
    app, team, sandbox = wizard
    client = signed_in(app, team.admin)
    _set_up_phone(client, "vapi")
    form = call_me_form(client, ADMIN_PHONE)
    httpx.post(f"{sandbox.url}/sandbox/faults", json={"provider": "vapi", "status": 400, "count": 1})
    refused = client.submit("/onboarding/test_call", form)
    assert refused.status_code == 502 and 'id="to_number-error"' in refused.get_data(as_text=True)
    again = client.submit("/onboarding/test_call", form)
    assert again.status_code == 409 and 'id="to_number-error"' in again.get_data(as_text=True)
    # Without the form's token the page names the field and nothing rings.
    stale = client.submit("/onboarding/test_call", {"to_number": ADMIN_PHONE})
    assert stale.status_code == 422 and 'id="attempt-error"' in stale.get_data(as_text=True)
    assert _calls(sandbox, "vapi") == []
    assert client.submit("/onboarding/test_call", call_me_form(client, ADMIN_PHONE)).status_code == 302
    assert len(_calls(sandbox, "vapi")) == 1
