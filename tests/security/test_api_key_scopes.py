"""Scoped API keys (issue 19 item 4): a key does only what its scopes allow, a revoked key stops at its next
request, a rotated key keeps working through the overlap and then stops, an expired key is a bad key, and
a key's use is noted. Real database on both backends, requests through the app."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm.api import keys
from crm.extensions import db
from crm.models import Lead
from crm.models.api_keys import ApiKey
from crm.models.types import utcnow
from tests.conftest import TEST_COMPANY_ID


def _issue(app, name: str, scopes: list[str], **kwargs) -> tuple[int, dict[str, str]]:
    with app.app_context():
        issued = keys.issue(TEST_COMPANY_ID, name, scopes, **kwargs)
        db.session.commit()
    return issued.key_id, {"Authorization": f"Bearer {issued.secret}"}


@pytest.fixture
def lead_id(app) -> int:
    with app.app_context():
        lead = Lead(
            first_name="Rita",
            last_name="Scope",
            email="rita@scope.example",
            email_key="rita@scope.example",
            source="api",
        )
        db.session.add(lead)
        db.session.commit()
        return lead.id


def test_an_intake_key_cannot_read_leads(app, client, lead_id):
    _, intake = _issue(app, "website form", ["intake"])
    for path in ("/api/v1/leads", f"/api/v1/leads/{lead_id}", f"/api/v1/leads/{lead_id}/chain"):
        r = client.get(path, headers=intake)
        assert r.status_code == 403, path
        assert "read" in r.get_json()["message"] and "Authorization" in r.get_json()["errors"]
    r = client.post(f"/api/v1/leads/{lead_id}/do-not-contact", headers=intake)
    assert r.status_code == 403 and "manage" in r.get_json()["message"]
    # What it is for works: the lead is accepted (202), and it may follow its submission.
    r = client.post("/api/v1/leads", json={"first_name": "Ina", "email": "ina@take.example"}, headers=intake)
    assert r.status_code == 202, r.get_json()
    assert client.get(r.get_json()["status_url"], headers=intake).status_code == 200


def test_a_read_key_reads_but_neither_takes_in_nor_manages(app, client, lead_id):
    _, reader = _issue(app, "reporting", ["read"])
    assert client.get(f"/api/v1/leads/{lead_id}", headers=reader).get_json()["id"] == lead_id
    assert client.get("/api/v1/leads", headers=reader).status_code == 200
    assert (
        client.post("/api/v1/leads", json={"first_name": "X", "email": "x@y.example"}, headers=reader).status_code
        == 403
    )
    assert client.post(f"/api/v1/leads/{lead_id}/do-not-contact", headers=reader).status_code == 403


def test_a_revoked_key_stops_at_once(app, client, lead_id):
    key_id, headers = _issue(app, "crm sync", ["read", "manage"])
    assert client.get(f"/api/v1/leads/{lead_id}", headers=headers).status_code == 200
    with app.app_context():
        keys.revoke(TEST_COMPANY_ID, key_id)
        db.session.commit()
    r = client.get(f"/api/v1/leads/{lead_id}", headers=headers)
    assert r.status_code == 401 and r.get_json()["message"] == "invalid API key"


def test_rotation_overlaps_then_the_old_key_ends(app, client, lead_id):
    old_id, old = _issue(app, "partner", ["read"], lifetime_days=90)
    with app.app_context():
        new = keys.rotate(TEST_COMPANY_ID, old_id, overlap=timedelta(hours=1))
        db.session.commit()
        row = db.session.get(ApiKey, new.key_id)
        assert (row.name, row.scopes, row.rotated_from_id) == ("partner", "read", old_id)
        assert timedelta(days=89) < row.expires_at - utcnow() <= timedelta(days=90)
    fresh = {"X-API-Key": new.secret}
    for headers in (old, fresh):  # both work during the overlap
        assert client.get(f"/api/v1/leads/{lead_id}", headers=headers).status_code == 200
    with app.app_context():  # the overlap is over
        db.session.get(ApiKey, old_id).expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert client.get(f"/api/v1/leads/{lead_id}", headers=old).status_code == 401
    assert client.get(f"/api/v1/leads/{lead_id}", headers=fresh).status_code == 200


def test_last_use_is_noted_and_names_are_checked(app, client, lead_id):
    key_id, headers = _issue(app, "noted", ["read"])
    client.get(f"/api/v1/leads/{lead_id}", headers=headers)
    with app.app_context():
        assert db.session.get(ApiKey, key_id).last_used_at is not None
        with pytest.raises(ValueError, match="^name: the company already has a key"):
            keys.issue(TEST_COMPANY_ID, "noted", ["read"])
        with pytest.raises(ValueError, match="^scopes: unknown admin"):
            keys.issue(TEST_COMPANY_ID, "other", ["read", "admin"])
        with pytest.raises(ValueError, match="^scopes: choose"):
            keys.issue(TEST_COMPANY_ID, "other", [])


def test_the_cli_makes_a_key_of_the_scopes_named(app, client, lead_id, monkeypatch):
    from click.testing import CliRunner

    from workers.cli import main

    monkeypatch.setenv("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])  # the CLI builds its own app
    result = CliRunner().invoke(main, ["api-key", "create", "--company", "test", "--name", "cli", "--scopes", "read"])
    assert result.exit_code == 0, result.output
    headers = {"X-API-Key": result.output.strip()}
    assert client.get(f"/api/v1/leads/{lead_id}", headers=headers).status_code == 200
    assert client.post("/api/v1/leads", json={"email": "c@li.example"}, headers=headers).status_code == 403
    bad = CliRunner().invoke(main, ["api-key", "create", "--company", "test", "--name", "x", "--scopes", "all"])
    assert bad.exit_code != 0 and "scopes: unknown all" in bad.output
